// Virtio over PCI, modern (non-transitional) interface only: Virtual I/O Device
// (VIRTIO) Version 1.2, section 4.1. No MSI-X: interrupts use INTx and the ISR.
import { NO_IRQ, type AccessSize, type BusDevice, type IrqLine } from '../../bus/device.ts';
import type { GuestMemory } from '../../memory/guest-memory.ts';
import {
  PCI_CAP_ID_VENDOR,
  PCI_INTERRUPT_PIN_INTA,
  PciConfigSpace,
  type PciConfigSpaceState,
} from '../pci/config-space.ts';
import type { PciBarRequest, PciFunction } from '../pci/pci-device.ts';
import { Virtqueue, type VirtqueueState } from './virtqueue.ts';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  VIRTIO_ID_BLOCK,
  VIRTIO_ID_CONSOLE,
  VIRTIO_ID_NET,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  type VirtioContext,
  type VirtioDevice,
} from './virtio-device.ts';

export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** Modern device ID = 0x1040 + virtio device type (4.1.2.1). */
export const VIRTIO_PCI_DEVICE_ID_BASE = 0x1040;
const VIRTIO_PCI_REVISION = 1;
const VIRTIO_PCI_SUBSYSTEM_ID = 0x1100;

/** struct virtio_pci_cap cfg_type (4.1.4). */
export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;
/** struct virtio_pci_cap field offsets. */
const CAP_LEN = 2;
const CAP_CFG_TYPE = 3;
const CAP_BAR = 4;
const CAP_OFFSET = 8;
const CAP_LENGTH = 12;
const CAP_NOTIFY_OFF_MULTIPLIER = 16;
const CAP_PCI_CFG_DATA = 16;
const CAP_SIZE = 16;

/** struct virtio_pci_common_cfg (4.1.4.3). */
export const COMMON_DEVICE_FEATURE_SELECT = 0x00;
export const COMMON_DEVICE_FEATURE = 0x04;
export const COMMON_DRIVER_FEATURE_SELECT = 0x08;
export const COMMON_DRIVER_FEATURE = 0x0c;
export const COMMON_MSIX_CONFIG = 0x10;
export const COMMON_NUM_QUEUES = 0x12;
export const COMMON_DEVICE_STATUS = 0x14;
export const COMMON_CONFIG_GENERATION = 0x15;
export const COMMON_QUEUE_SELECT = 0x16;
export const COMMON_QUEUE_SIZE = 0x18;
export const COMMON_QUEUE_MSIX_VECTOR = 0x1a;
export const COMMON_QUEUE_ENABLE = 0x1c;
export const COMMON_QUEUE_NOTIFY_OFF = 0x1e;
export const COMMON_QUEUE_DESC = 0x20;
export const COMMON_QUEUE_DRIVER = 0x28;
export const COMMON_QUEUE_DEVICE = 0x30;
const COMMON_CFG_SIZE = 0x38;
const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** ISR status bits (4.1.4.5). */
export const VIRTIO_ISR_QUEUE = 0x1;
export const VIRTIO_ISR_CONFIG = 0x2;

/** Layout of the single memory BAR: one 4 KiB page per structure. */
export const VIRTIO_PCI_BAR_INDEX = 0;
export const VIRTIO_PCI_BAR_SIZE = 0x4000;
export const VIRTIO_PCI_COMMON_OFFSET = 0x0000;
export const VIRTIO_PCI_ISR_OFFSET = 0x1000;
export const VIRTIO_PCI_DEVICE_CFG_OFFSET = 0x2000;
export const VIRTIO_PCI_NOTIFY_OFFSET = 0x3000;
const REGION_SIZE = 0x1000;
/** queue_notify_off is the queue index, so a queue's doorbell is at NOTIFY_OFFSET + 4 * index. */
export const VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER = 4;

/** Transport features the transport itself implements (through Virtqueue). */
const TRANSPORT_FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX;

const CLASS_CODES: Record<number, number> = {
  [VIRTIO_ID_NET]: 0x020000,
  [VIRTIO_ID_BLOCK]: 0x010000,
  [VIRTIO_ID_CONSOLE]: 0x078000,
};
const CLASS_OTHER = 0xff0000;

interface QueueRegisters {
  size: number;
  enabled: boolean;
  /** desc lo/hi, driver lo/hi, device lo/hi, as written through the common config. */
  addrs: number[];
  vq: Virtqueue | undefined;
}

export interface VirtioPciState {
  config: PciConfigSpaceState;
  status: number;
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  driverFeatures: string;
  queueSelect: number;
  isr: number;
  configGeneration: number;
  queues: { size: number; enabled: boolean; addrs: number[]; vq: VirtqueueState | undefined }[];
  device: unknown;
}

export interface VirtioPciOptions {
  memory: GuestMemory;
  /** The slot's INTx line (PciHostBridge.intxLine(slot)). */
  irq?: IrqLine;
  /** Where to report a device that the driver broke (DEVICE_NEEDS_RESET). */
  warn?(message: string): void;
}

/** A virtio device as a PCI function with one memory BAR holding all virtio structures. */
export class VirtioPciFunction implements PciFunction {
  readonly name: string;
  readonly bars: readonly PciBarRequest[];
  private readonly config: PciConfigSpace;
  private readonly memory: GuestMemory;
  private readonly offeredFeatures: bigint;
  private readonly queues: QueueRegisters[];
  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private queueSelect = 0;
  private isr = 0;
  private configGeneration = 0;
  private lastError: string | undefined;

  constructor(private readonly device: VirtioDevice, private readonly options: VirtioPciOptions) {
    this.name = device.name;
    this.memory = options.memory;
    if (device.configSizeBytes > REGION_SIZE) throw new RangeError(`${device.name}: device config larger than ${REGION_SIZE} bytes`);
    this.offeredFeatures = device.features | TRANSPORT_FEATURES;
    this.queues = device.queueMaxSizes.map((max) => ({ size: max, enabled: false, addrs: [0, 0, 0, 0, 0, 0], vq: undefined }));
    this.config = new PciConfigSpace(
      {
        vendorId: VIRTIO_PCI_VENDOR_ID,
        deviceId: VIRTIO_PCI_DEVICE_ID_BASE + device.deviceType,
        classCode: CLASS_CODES[device.deviceType] ?? CLASS_OTHER,
        revision: VIRTIO_PCI_REVISION,
        subsystemVendorId: VIRTIO_PCI_VENDOR_ID,
        subsystemId: VIRTIO_PCI_SUBSYSTEM_ID,
        interruptPin: PCI_INTERRUPT_PIN_INTA,
      },
      options.irq ?? NO_IRQ,
    );
    const registers: BusDevice = {
      read: (offset, size) => this.readBar(offset, size),
      write: (offset, size, value) => this.writeBar(offset, size, value),
    };
    this.config.defineBar(VIRTIO_PCI_BAR_INDEX, 'memory', VIRTIO_PCI_BAR_SIZE);
    this.bars = [{ index: VIRTIO_PCI_BAR_INDEX, kind: 'memory', sizeBytes: VIRTIO_PCI_BAR_SIZE, device: registers, name: 'virtio' }];
    this.addVirtioCapability(VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFFSET, COMMON_CFG_SIZE);
    const notify = this.addVirtioCapability(VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFFSET, Math.max(1, this.queues.length) * VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER, 4);
    this.config.set32(notify + CAP_NOTIFY_OFF_MULTIPLIER, VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER);
    this.addVirtioCapability(VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFFSET, 1);
    if (device.configSizeBytes > 0) this.addVirtioCapability(VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_CFG_OFFSET, device.configSizeBytes);
    this.addPciCfgCapability(registers);
  }

  /** The reason the device last entered DEVICE_NEEDS_RESET, for diagnostics. */
  get error(): string | undefined {
    return this.lastError;
  }

  configRead(offset: number, size: AccessSize): number {
    return this.config.read(offset, size);
  }

  configWrite(offset: number, size: AccessSize, value: number): void {
    this.config.write(offset, size, value);
  }

  saveState(): VirtioPciState {
    return {
      config: this.config.saveState(),
      status: this.status,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: this.driverFeatures.toString(),
      queueSelect: this.queueSelect,
      isr: this.isr,
      configGeneration: this.configGeneration,
      queues: this.queues.map((q) => ({ size: q.size, enabled: q.enabled, addrs: [...q.addrs], vq: q.vq?.saveState() })),
      device: this.device.saveState(),
    };
  }

  restoreState(state: VirtioPciState): void {
    this.config.restoreState(state.config);
    this.status = state.status;
    this.deviceFeatureSelect = state.deviceFeatureSelect;
    this.driverFeatureSelect = state.driverFeatureSelect;
    this.driverFeatures = BigInt(state.driverFeatures);
    this.queueSelect = state.queueSelect;
    this.isr = state.isr;
    this.configGeneration = state.configGeneration;
    this.queues.forEach((q, i) => {
      const saved = state.queues[i];
      q.size = saved.size;
      q.enabled = saved.enabled;
      q.addrs = [...saved.addrs];
      q.vq = undefined;
      if (q.enabled) {
        q.vq = this.createQueue(i);
        if (saved.vq) q.vq.restoreState(saved.vq);
      }
    });
    this.device.restoreState(state.device);
    if (this.isActive()) this.guarded(() => this.device.activate(this.context()));
  }

  private addVirtioCapability(cfgType: number, barOffset: number, length: number, extraBytes = 0): number {
    const cap = this.config.addCapability(PCI_CAP_ID_VENDOR, CAP_SIZE + extraBytes);
    this.config.set8(cap + CAP_LEN, CAP_SIZE + extraBytes);
    this.config.set8(cap + CAP_CFG_TYPE, cfgType);
    this.config.set8(cap + CAP_BAR, VIRTIO_PCI_BAR_INDEX);
    this.config.set32(cap + CAP_OFFSET, barOffset);
    this.config.set32(cap + CAP_LENGTH, length);
    return cap;
  }

  // VIRTIO_PCI_CAP_PCI_CFG (4.1.4.9): a window onto the BAR through configuration space.
  private addPciCfgCapability(registers: BusDevice): void {
    const cap = this.addVirtioCapability(VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 4);
    this.config.setWritableMask(cap + CAP_BAR, 1, 0xff);
    this.config.setWritableMask(cap + CAP_OFFSET, 4, 0xffffffff);
    this.config.setWritableMask(cap + CAP_LENGTH, 4, 0xffffffff);
    const target = (): { offset: number; size: AccessSize } | undefined => {
      const offset = this.config.get32(cap + CAP_OFFSET);
      const size = this.config.get32(cap + CAP_LENGTH);
      if (this.config.read(cap + CAP_BAR, 1) !== VIRTIO_PCI_BAR_INDEX) return undefined;
      if ((size !== 1 && size !== 2 && size !== 4) || offset + size > VIRTIO_PCI_BAR_SIZE) return undefined;
      return { offset, size };
    };
    this.config.handleRange(cap + CAP_PCI_CFG_DATA, 4, {
      read: (_offset, size) => {
        const t = target();
        return t ? truncate(registers.read(t.offset, t.size), size) : 0;
      },
      write: (_offset, _size, value) => {
        const t = target();
        if (t) registers.write(t.offset, t.size, truncate(value, t.size));
      },
    });
  }

  private readBar(offset: number, size: AccessSize): number {
    if (offset < VIRTIO_PCI_ISR_OFFSET) return truncate(this.readCommon(offset, size), size);
    if (offset < VIRTIO_PCI_DEVICE_CFG_OFFSET) return offset === VIRTIO_PCI_ISR_OFFSET ? this.readIsr() : 0;
    if (offset < VIRTIO_PCI_NOTIFY_OFFSET) {
      const at = offset - VIRTIO_PCI_DEVICE_CFG_OFFSET;
      return at + size <= this.device.configSizeBytes ? this.device.configRead(at, size) : 0;
    }
    return 0;
  }

  private writeBar(offset: number, size: AccessSize, value: number): void {
    if (offset < VIRTIO_PCI_ISR_OFFSET) this.writeCommon(offset, truncate(value, size));
    else if (offset < VIRTIO_PCI_DEVICE_CFG_OFFSET) return;
    else if (offset < VIRTIO_PCI_NOTIFY_OFFSET) {
      const at = offset - VIRTIO_PCI_DEVICE_CFG_OFFSET;
      if (at + size <= this.device.configSizeBytes) this.device.configWrite(at, size, value);
    } else this.queueNotify(Math.floor((offset - VIRTIO_PCI_NOTIFY_OFFSET) / VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER));
  }

  private readCommon(offset: number, size: AccessSize): number {
    const q = this.queues[this.queueSelect];
    switch (offset) {
      case COMMON_DEVICE_FEATURE_SELECT: return this.deviceFeatureSelect;
      case COMMON_DEVICE_FEATURE: return featureWord(this.offeredFeatures, this.deviceFeatureSelect);
      case COMMON_DRIVER_FEATURE_SELECT: return this.driverFeatureSelect;
      case COMMON_DRIVER_FEATURE: return featureWord(this.driverFeatures, this.driverFeatureSelect);
      case COMMON_MSIX_CONFIG: return VIRTIO_MSI_NO_VECTOR;
      case COMMON_NUM_QUEUES: return this.queues.length;
      case COMMON_DEVICE_STATUS: return this.status;
      case COMMON_CONFIG_GENERATION: return this.configGeneration;
      case COMMON_QUEUE_SELECT: return this.queueSelect;
      case COMMON_QUEUE_SIZE: return q ? q.size : 0;
      case COMMON_QUEUE_MSIX_VECTOR: return VIRTIO_MSI_NO_VECTOR;
      case COMMON_QUEUE_ENABLE: return q?.enabled ? 1 : 0;
      case COMMON_QUEUE_NOTIFY_OFF: return q ? this.queueSelect : 0;
    }
    if (q && offset >= COMMON_QUEUE_DESC && offset < COMMON_CFG_SIZE && offset % 4 === 0 && size === 4) {
      return q.addrs[(offset - COMMON_QUEUE_DESC) / 4];
    }
    return 0;
  }

  private writeCommon(offset: number, value: number): void {
    const q = this.queues[this.queueSelect];
    const queueWritable = q !== undefined && !q.enabled;
    switch (offset) {
      case COMMON_DEVICE_FEATURE_SELECT: this.deviceFeatureSelect = value >>> 0; return;
      case COMMON_DRIVER_FEATURE_SELECT: this.driverFeatureSelect = value >>> 0; return;
      case COMMON_DRIVER_FEATURE:
        if (!(this.status & VIRTIO_STATUS_FEATURES_OK) && this.driverFeatureSelect < 2) {
          const shift = BigInt(32 * this.driverFeatureSelect);
          this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value >>> 0) << shift);
        }
        return;
      case COMMON_DEVICE_STATUS: this.writeStatus(value & 0xff); return;
      case COMMON_QUEUE_SELECT: this.queueSelect = value & 0xffff; return;
      case COMMON_QUEUE_SIZE: if (queueWritable) q.size = value & 0xffff; return;
      case COMMON_QUEUE_ENABLE: if (queueWritable && value & 1) this.enableQueue(this.queueSelect); return;
    }
    if (queueWritable && offset >= COMMON_QUEUE_DESC && offset < COMMON_CFG_SIZE && offset % 4 === 0) {
      q.addrs[(offset - COMMON_QUEUE_DESC) / 4] = value >>> 0;
    }
  }

  // Device status transitions: section 3.1.1 (driver) and 2.1.2 (device requirements).
  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const previous = this.status;
    let next = (value & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | (previous & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    const settingFeaturesOk = (next & VIRTIO_STATUS_FEATURES_OK) !== 0 && (previous & VIRTIO_STATUS_FEATURES_OK) === 0;
    if (settingFeaturesOk && !this.featuresAcceptable()) next &= ~VIRTIO_STATUS_FEATURES_OK;
    this.status = next;
    const settingDriverOk = (next & VIRTIO_STATUS_DRIVER_OK) !== 0 && (previous & VIRTIO_STATUS_DRIVER_OK) === 0;
    if (!settingDriverOk) return;
    if (!(next & VIRTIO_STATUS_FEATURES_OK)) {
      this.needsReset('driver set DRIVER_OK without FEATURES_OK');
      return;
    }
    if (!this.isActive()) return;
    this.guarded(() => {
      this.device.activate(this.context());
      // Buffers made available before DRIVER_OK were not processed; look at them now.
      this.queues.forEach((q, i) => {
        if (q.enabled && this.isActive()) this.device.notify(i);
      });
    });
  }

  private featuresAcceptable(): boolean {
    return (this.driverFeatures & ~this.offeredFeatures) === 0n && (this.driverFeatures & VIRTIO_F_VERSION_1) !== 0n;
  }

  private isActive(): boolean {
    return (this.status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) === VIRTIO_STATUS_DRIVER_OK;
  }

  private enableQueue(index: number): void {
    const q = this.queues[index];
    const max = this.device.queueMaxSizes[index];
    if (q.size > max) {
      this.needsReset(`${this.name} queue ${index}: size ${q.size} exceeds the maximum ${max}`);
      return;
    }
    q.enabled = true;
    q.vq = this.createQueue(index);
  }

  private createQueue(index: number): Virtqueue {
    const q = this.queues[index];
    const addr = (i: number) => q.addrs[i + 1] * 2 ** 32 + q.addrs[i];
    return new Virtqueue(
      this.memory,
      { size: q.size, descAddr: addr(0), driverAddr: addr(2), deviceAddr: addr(4), eventIdx: (this.driverFeatures & VIRTIO_F_EVENT_IDX) !== 0n },
      {
        interrupt: () => this.raiseIsr(VIRTIO_ISR_QUEUE),
        broken: (reason) => this.needsReset(`${this.name} queue ${index}: ${reason}`),
      },
    );
  }

  private queueNotify(index: number): void {
    if (!this.isActive() || !this.queues[index]?.enabled) return;
    this.guarded(() => this.device.notify(index));
  }

  private context(): VirtioContext {
    const features = this.driverFeatures;
    return {
      memory: this.memory,
      features,
      queue: (index) => (this.queues[index]?.enabled ? this.queues[index].vq : undefined),
      configChanged: () => {
        this.configGeneration = (this.configGeneration + 1) & 0xff;
        this.raiseIsr(VIRTIO_ISR_CONFIG);
      },
    };
  }

  // A device must never take the host down: anything it throws marks it broken.
  private guarded(action: () => void): void {
    try {
      action();
    } catch (e) {
      this.needsReset(`${this.name}: internal error: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private needsReset(reason: string): void {
    if (this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) return;
    this.lastError = reason;
    this.options.warn?.(`virtio: ${reason}; the device needs a reset`);
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    for (const q of this.queues) q.vq?.fail(reason);
    if (this.status & VIRTIO_STATUS_DRIVER_OK) this.raiseIsr(VIRTIO_ISR_CONFIG);
  }

  private reset(): void {
    this.status = 0;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.driverFeatures = 0n;
    this.queueSelect = 0;
    this.queues.forEach((q, i) => {
      q.size = this.device.queueMaxSizes[i];
      q.enabled = false;
      q.addrs.fill(0);
      q.vq = undefined;
    });
    this.isr = 0;
    this.config.setInterrupt(false);
    this.guarded(() => this.device.reset());
  }

  private raiseIsr(bits: number): void {
    this.isr |= bits;
    this.config.setInterrupt(true);
  }

  // Reading the ISR status clears it and deasserts INTx (4.1.4.5.1).
  private readIsr(): number {
    const value = this.isr;
    this.isr = 0;
    this.config.setInterrupt(false);
    return value;
  }
}

function featureWord(features: bigint, select: number): number {
  return select < 2 ? Number((features >> BigInt(32 * select)) & 0xffffffffn) : 0;
}

function truncate(value: number, size: AccessSize): number {
  return size === 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
}
