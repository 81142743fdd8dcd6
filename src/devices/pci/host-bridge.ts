// PCI host bridge with configuration mechanism #1 (PCI Local Bus Specification 3.0,
// section 3.2.2.3.2), bus 0 only, plus the BAR assignment a BIOS would do.
import type { AccessSize, BusDevice, IrqLine } from '../../bus/device.ts';
import { SharedIrqLine } from '../../bus/shared-irq.ts';
import { BusOverlapError, type Bus } from '../../bus/bus.ts';
import { PCI_IO_BASE, PCI_IO_SIZE, PCI_IRQS, PCI_MMIO_BASE, PCI_MMIO_SIZE } from '../../machine/layout.ts';
import {
  PCI_BAR0,
  PCI_BAR_COUNT,
  PCI_COMMAND,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_INTERRUPT_LINE,
  PCI_BAR_IO_MASK,
  PCI_BAR_MEM_MASK,
  PciConfigSpace,
  type PciConfigSpaceState,
} from './config-space.ts';
import type { PciBarRequest, PciFunction } from './pci-device.ts';

/** CONFIG_ADDRESS (0xCF8) fields. */
const CONFIG_ENABLE = 0x8000_0000;
const CONFIG_BUS_SHIFT = 16;
const CONFIG_DEVICE_SHIFT = 11;
const CONFIG_FUNCTION_SHIFT = 8;
const CONFIG_REGISTER_MASK = 0xfc;

export const PCI_SLOT_COUNT = 32;

/** Intel 82441FX (440FX) PMC, the host bridge of QEMU's "pc" machine; Linux's pci_sanity_check accepts it. */
const HOST_BRIDGE_VENDOR_ID = 0x8086;
const HOST_BRIDGE_DEVICE_ID = 0x1237;
const HOST_BRIDGE_REVISION = 0x02;
const CLASS_BRIDGE_HOST = 0x060000;

export class PciSlotError extends Error {}

export interface PciHostBridgeOptions {
  mmioBus: Bus;
  ioBus: Bus;
  /** The interrupt controller input for an ISA IRQ number (one of layout PCI_IRQS). */
  irqLine(irq: number): IrqLine;
  /**
   * The byte register at 0xCF9 (reset control), which shares the CONFIG_ADDRESS
   * window; byte accesses to 0xCF9 are forwarded to it at offset 0.
   */
  resetControl?: BusDevice;
  /** Where to report a BAR that could not be mapped (overlap). */
  warn?(message: string): void;
}

interface BarMapping {
  bus: Bus;
  base: number;
  window: BusDevice;
}

interface Slot {
  fn: PciFunction;
  mappings: (BarMapping | undefined)[];
}

export interface PciHostBridgeState {
  configAddress: number;
  hostBridge: PciConfigSpaceState;
}

export class PciHostBridge {
  /** Ports 0xCF8-0xCFB. */
  readonly addressPort: BusDevice;
  /** Ports 0xCFC-0xCFF. */
  readonly dataPort: BusDevice;
  private configAddress = 0;
  private readonly slots: (Slot | undefined)[] = new Array(PCI_SLOT_COUNT);
  private readonly hostBridge: PciConfigSpace;
  private readonly sharedIrqs = new Map<number, SharedIrqLine>();
  private readonly intxLines = new Map<number, IrqLine>();
  private nextMmioAddr = PCI_MMIO_BASE;
  private nextIoAddr = PCI_IO_BASE;

  constructor(private readonly options: PciHostBridgeOptions) {
    this.addressPort = {
      read: (offset, size) => this.readAddress(offset, size),
      write: (offset, size, value) => this.writeAddress(offset, size, value),
    };
    this.dataPort = {
      read: (offset, size) => this.readData(offset, size),
      write: (offset, size, value) => this.writeData(offset, size, value),
    };
    this.hostBridge = new PciConfigSpace({
      vendorId: HOST_BRIDGE_VENDOR_ID,
      deviceId: HOST_BRIDGE_DEVICE_ID,
      classCode: CLASS_BRIDGE_HOST,
      revision: HOST_BRIDGE_REVISION,
    });
    const hostBridge = this.hostBridge;
    this.slots[0] = {
      fn: {
        name: 'host-bridge',
        configRead: (offset, size) => hostBridge.read(offset, size),
        configWrite: (offset, size, value) => hostBridge.write(offset, size, value),
        bars: [],
      },
      mappings: [],
    };
  }

  /** The IRQ number INTA# of `slot` is routed to. */
  static irqForSlot(slot: number): number {
    return PCI_IRQS[slot % PCI_IRQS.length];
  }

  /** The INTx line for the function in `slot`, shared with the other slots on the same IRQ. */
  intxLine(slot: number): IrqLine {
    let line = this.intxLines.get(slot);
    if (!line) {
      const irq = PciHostBridge.irqForSlot(slot);
      let shared = this.sharedIrqs.get(irq);
      if (!shared) {
        shared = new SharedIrqLine(this.options.irqLine(irq));
        this.sharedIrqs.set(irq, shared);
      }
      line = shared.source();
      this.intxLines.set(slot, line);
    }
    return line;
  }

  /**
   * Plugs fn into slot (1..31) as function 0, assigns its BARs from the PCI windows,
   * presets the Interrupt Line register and enables decoding, as firmware would.
   */
  attach(slot: number, fn: PciFunction): void {
    if (!Number.isInteger(slot) || slot < 1 || slot >= PCI_SLOT_COUNT) {
      throw new PciSlotError(`PCI slot ${slot} is not valid for ${fn.name}: use 1..${PCI_SLOT_COUNT - 1}`);
    }
    const taken = this.slots[slot];
    if (taken) throw new PciSlotError(`PCI slot ${slot} already holds ${taken.fn.name}: pick another slot for ${fn.name}`);
    let command = fn.configRead(PCI_COMMAND, 2);
    for (const bar of fn.bars) {
      fn.configWrite(PCI_BAR0 + 4 * bar.index, 4, this.allocate(bar, fn.name));
      command |= bar.kind === 'io' ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    }
    fn.configWrite(PCI_INTERRUPT_LINE, 1, PciHostBridge.irqForSlot(slot));
    fn.configWrite(PCI_COMMAND, 2, command);
    this.slots[slot] = { fn, mappings: new Array(PCI_BAR_COUNT) };
    this.updateMappings(slot);
  }

  saveState(): PciHostBridgeState {
    return { configAddress: this.configAddress, hostBridge: this.hostBridge.saveState() };
  }

  /** Restore after the attached functions have restored their configuration space: BARs are remapped from it. */
  restoreState(state: PciHostBridgeState): void {
    this.configAddress = state.configAddress >>> 0;
    this.hostBridge.restoreState(state.hostBridge);
    for (let slot = 1; slot < PCI_SLOT_COUNT; slot++) if (this.slots[slot]) this.updateMappings(slot);
  }

  private allocate(bar: PciBarRequest, fnName: string): number {
    const isIo = bar.kind === 'io';
    const next = isIo ? this.nextIoAddr : this.nextMmioAddr;
    const base = Math.ceil(next / bar.sizeBytes) * bar.sizeBytes;
    const limit = isIo ? PCI_IO_BASE + PCI_IO_SIZE : PCI_MMIO_BASE + PCI_MMIO_SIZE;
    if (base + bar.sizeBytes > limit) {
      throw new PciSlotError(`PCI ${bar.kind} window is full: cannot place ${fnName} BAR ${bar.index} (${bar.sizeBytes} bytes)`);
    }
    if (isIo) this.nextIoAddr = base + bar.sizeBytes;
    else this.nextMmioAddr = base + bar.sizeBytes;
    return base;
  }

  private readAddress(offset: number, size: AccessSize): number {
    if (offset === 0 && size === 4) return this.configAddress;
    if (offset === 1 && size === 1 && this.options.resetControl) return this.options.resetControl.read(0, 1);
    return allOnes(size);
  }

  // Only a 32-bit access at 0xCF8 is CONFIG_ADDRESS; byte and word accesses (Linux's
  // pci_check_type1 writes a byte to 0xCFB first) go to other registers or nowhere.
  private writeAddress(offset: number, size: AccessSize, value: number): void {
    if (offset === 0 && size === 4) this.configAddress = value >>> 0;
    else if (offset === 1 && size === 1) this.options.resetControl?.write(0, 1, value);
  }

  private selected(): { slot: number; register: number } | undefined {
    const address = this.configAddress;
    if ((address & CONFIG_ENABLE) === 0) return undefined;
    const bus = (address >>> CONFIG_BUS_SHIFT) & 0xff;
    const fnNumber = (address >>> CONFIG_FUNCTION_SHIFT) & 0x7;
    if (bus !== 0 || fnNumber !== 0) return undefined;
    const slot = (address >>> CONFIG_DEVICE_SHIFT) & 0x1f;
    if (!this.slots[slot]) return undefined;
    return { slot, register: address & CONFIG_REGISTER_MASK };
  }

  private readData(offset: number, size: AccessSize): number {
    const target = this.selected();
    if (!target || offset + size > 4) return allOnes(size);
    return this.slots[target.slot]!.fn.configRead(target.register + offset, size);
  }

  private writeData(offset: number, size: AccessSize, value: number): void {
    const target = this.selected();
    if (!target || offset + size > 4) return;
    const register = target.register + offset;
    this.slots[target.slot]!.fn.configWrite(register, size, value);
    const touchesCommand = register < PCI_COMMAND + 2 && register + size > PCI_COMMAND;
    const touchesBars = register < PCI_BAR0 + 4 * PCI_BAR_COUNT && register + size > PCI_BAR0;
    if (touchesCommand || touchesBars) this.updateMappings(target.slot);
  }

  private updateMappings(slotNumber: number): void {
    const slot = this.slots[slotNumber]!;
    const command = slot.fn.configRead(PCI_COMMAND, 2);
    for (const bar of slot.fn.bars) {
      const isIo = bar.kind === 'io';
      const raw = slot.fn.configRead(PCI_BAR0 + 4 * bar.index, 4);
      const base = (raw & (isIo ? PCI_BAR_IO_MASK : PCI_BAR_MEM_MASK)) >>> 0;
      const bus = isIo ? this.options.ioBus : this.options.mmioBus;
      const enabled = (command & (isIo ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) !== 0;
      const addressLimit = isIo ? 0x1_0000 : 0x1_0000_0000;
      const wanted = enabled && base !== 0 && base + bar.sizeBytes <= addressLimit;
      const current = slot.mappings[bar.index];
      if (current && wanted && current.base === base) continue;
      if (current) {
        current.bus.unregister(current.window);
        slot.mappings[bar.index] = undefined;
      }
      if (!wanted) continue;
      // A window object per mapping, so unregister removes exactly this BAR.
      const window: BusDevice = {
        read: (offset, size) => bar.device.read(offset, size),
        write: (offset, size, value) => bar.device.write(offset, size, value),
      };
      try {
        bus.register(base, bar.sizeBytes, window, `${slot.fn.name} BAR${bar.index}`);
        slot.mappings[bar.index] = { bus, base, window };
      } catch (e) {
        if (!(e instanceof BusOverlapError)) throw e;
        this.options.warn?.(`PCI: ${slot.fn.name} BAR${bar.index} left unmapped: ${e.message}`);
      }
    }
  }
}

function allOnes(size: AccessSize): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}
