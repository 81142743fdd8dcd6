// QEMU's pvpanic PCI device (docs/specs/pvpanic.rst, vendor 1b36 device 0011): one byte
// register in BAR 0. Reads give the events the host understands; the guest writes an
// event when it panics. Linux drives it with CONFIG_PVPANIC_PCI.
import type { AccessSize, BusDevice } from '../../bus/device.ts';
import { PciConfigSpace, type PciConfigSpaceState } from './config-space.ts';
import type { PciBarRequest, PciFunction } from './pci-device.ts';

export const PVPANIC_PANICKED = 1 << 0;
export const PVPANIC_CRASH_LOADED = 1 << 1;
const PVPANIC_VENDOR_ID = 0x1b36;
const PVPANIC_DEVICE_ID = 0x0011;
const CLASS_SYSTEM_OTHER = 0x088000;
const BAR_SIZE = 16;

export class PvPanic implements PciFunction {
  readonly name = 'pvpanic';
  readonly bars: readonly PciBarRequest[];
  private readonly config = new PciConfigSpace({ vendorId: PVPANIC_VENDOR_ID, deviceId: PVPANIC_DEVICE_ID, classCode: CLASS_SYSTEM_OTHER, revision: 1 });

  /** onEvent: the guest wrote these event bits (PVPANIC_PANICKED, PVPANIC_CRASH_LOADED). */
  constructor(onEvent: (events: number) => void) {
    this.config.defineBar(0, 'memory', BAR_SIZE);
    const register: BusDevice = {
      read: (offset: number) => (offset === 0 ? PVPANIC_PANICKED | PVPANIC_CRASH_LOADED : 0),
      write: (offset: number, _size: AccessSize, value: number) => {
        const events = value & (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
        if (offset === 0 && events) onEvent(events);
      },
    };
    this.bars = [{ index: 0, kind: 'memory', sizeBytes: BAR_SIZE, device: register, name: 'pvpanic' }];
  }

  configRead(offset: number, size: AccessSize): number {
    return this.config.read(offset, size);
  }

  configWrite(offset: number, size: AccessSize, value: number): void {
    this.config.write(offset, size, value);
  }

  saveState(): PciConfigSpaceState {
    return this.config.saveState();
  }

  restoreState(s: PciConfigSpaceState): void {
    this.config.restoreState(s);
  }
}
