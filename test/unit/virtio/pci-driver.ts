import { Bus } from '../../../src/bus/bus.ts';
import type { AccessSize, IrqLine } from '../../../src/bus/device.ts';
import { GuestMemory } from '../../../src/memory/guest-memory.ts';
import { PciHostBridge } from '../../../src/devices/pci/host-bridge.ts';
import { VirtioPciFunction } from '../../../src/devices/virtio/virtio-pci.ts';
import {
  VIRTIO_F_VERSION_1,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  type VirtioDevice,
} from '../../../src/devices/virtio/virtio-device.ts';
import { RingDriver } from './ring-driver.ts';

export class FakeIrq implements IrqLine {
  level = false;
  raised = 0;
  set(level: boolean): void {
    if (level && !this.level) this.raised++;
    this.level = level;
  }
}

export interface VirtioCap {
  capOffset: number;
  bar: number;
  offset: number;
  length: number;
}

/** A PC with a PCI host bridge, one virtio device in `slot`, and a hand-written virtio-pci driver. */
export class VirtioPciTestbed {
  readonly io = new Bus('io');
  readonly mmio = new Bus('mmio');
  readonly memory = new GuestMemory(0x40_0000);
  readonly irqs = new Map<number, FakeIrq>();
  readonly bridge: PciHostBridge;
  readonly fn: VirtioPciFunction;
  readonly warnings: string[] = [];
  caps = new Map<number, VirtioCap>();
  private nextRingBase = 0x10_0000;

  constructor(device: VirtioDevice, readonly slot = 1) {
    this.bridge = new PciHostBridge({
      ioBus: this.io,
      mmioBus: this.mmio,
      irqLine: (irq) => {
        const line = new FakeIrq();
        this.irqs.set(irq, line);
        return line;
      },
    });
    this.io.register(0xcf8, 4, this.bridge.addressPort, 'pci-address');
    this.io.register(0xcfc, 4, this.bridge.dataPort, 'pci-data');
    this.fn = new VirtioPciFunction(device, {
      memory: this.memory,
      irq: this.bridge.intxLine(slot),
      warn: (m) => this.warnings.push(m),
    });
    this.bridge.attach(slot, this.fn);
  }

  get irq(): FakeIrq {
    return this.irqs.get(PciHostBridge.irqForSlot(this.slot))!;
  }

  cfgRead(reg: number, size: AccessSize): number {
    this.io.write(0xcf8, 4, 0x8000_0000 | (this.slot << 11) | (reg & 0xfc));
    return this.io.read(0xcfc + (reg & 3), size);
  }

  cfgWrite(reg: number, size: AccessSize, value: number): void {
    this.io.write(0xcf8, 4, 0x8000_0000 | (this.slot << 11) | (reg & 0xfc));
    this.io.write(0xcfc + (reg & 3), size, value);
  }

  /** Walks the capability list as virtio_pci_modern does and records the vendor capabilities. */
  discover(): Map<number, VirtioCap> {
    this.caps = new Map();
    for (let at = this.cfgRead(0x34, 1); at !== 0; at = this.cfgRead(at + 1, 1)) {
      if (this.cfgRead(at, 1) !== 0x09) continue;
      const type = this.cfgRead(at + 3, 1);
      if (!this.caps.has(type)) {
        this.caps.set(type, {
          capOffset: at,
          bar: this.cfgRead(at + 4, 1),
          offset: this.cfgRead(at + 8, 4),
          length: this.cfgRead(at + 12, 4),
        });
      }
    }
    return this.caps;
  }

  private addr(type: number, offset: number): number {
    const cap = this.caps.get(type)!;
    const bar = this.cfgRead(0x10 + 4 * cap.bar, 4) & ~0xf;
    return (bar >>> 0) + cap.offset + offset;
  }

  common(offset: number, size: AccessSize): number {
    return this.mmio.read(this.addr(1, offset), size);
  }

  setCommon(offset: number, size: AccessSize, value: number): void {
    this.mmio.write(this.addr(1, offset), size, value);
  }

  deviceConfig(offset: number, size: AccessSize): number {
    return this.mmio.read(this.addr(4, offset), size);
  }

  setDeviceConfig(offset: number, size: AccessSize, value: number): void {
    this.mmio.write(this.addr(4, offset), size, value);
  }

  readIsr(): number {
    return this.mmio.read(this.addr(3, 0), 1);
  }

  status(): number {
    return this.common(0x14, 1);
  }

  deviceFeatures(): bigint {
    this.setCommon(0x00, 4, 0);
    const low = this.common(0x04, 4);
    this.setCommon(0x00, 4, 1);
    const high = this.common(0x04, 4);
    return (BigInt(high) << 32n) | BigInt(low);
  }

  /** Reset, ACKNOWLEDGE, DRIVER, write features, FEATURES_OK; returns whether the device kept FEATURES_OK. */
  negotiate(features: bigint): boolean {
    this.discover();
    this.setCommon(0x14, 1, 0);
    this.setCommon(0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    this.setCommon(0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    this.setCommon(0x08, 4, 0);
    this.setCommon(0x0c, 4, Number(features & 0xffffffffn));
    this.setCommon(0x08, 4, 1);
    this.setCommon(0x0c, 4, Number(features >> 32n));
    this.setCommon(0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    return (this.status() & VIRTIO_STATUS_FEATURES_OK) !== 0;
  }

  setupQueue(index: number, size?: number): RingDriver {
    this.setCommon(0x16, 2, index);
    const max = this.common(0x18, 2);
    const n = size ?? max;
    this.setCommon(0x18, 2, n);
    const ring = new RingDriver(this.memory, n, this.nextRingBase);
    this.nextRingBase += 0x10_000;
    this.setCommon(0x20, 4, ring.descAddr);
    this.setCommon(0x24, 4, 0);
    this.setCommon(0x28, 4, ring.driverAddr);
    this.setCommon(0x2c, 4, 0);
    this.setCommon(0x30, 4, ring.deviceAddr);
    this.setCommon(0x34, 4, 0);
    this.setCommon(0x1c, 2, 1);
    return ring;
  }

  driverOk(): void {
    this.setCommon(0x14, 1, this.status() | VIRTIO_STATUS_DRIVER_OK);
  }

  notify(index: number): void {
    this.setCommon(0x16, 2, index);
    const off = this.common(0x1e, 2);
    const mult = this.cfgRead(this.caps.get(2)!.capOffset + 16, 4);
    this.mmio.write(this.addr(2, off * mult), 2, index);
  }

  /** The usual bring-up: VERSION_1 plus `features`, every queue set up, DRIVER_OK. */
  start(features = 0n): RingDriver[] {
    if (!this.negotiate(VIRTIO_F_VERSION_1 | features)) throw new Error('FEATURES_OK refused');
    const rings: RingDriver[] = [];
    const count = this.common(0x12, 2);
    for (let i = 0; i < count; i++) rings.push(this.setupQueue(i));
    this.driverOk();
    return rings;
  }
}
