// PCI Local Bus Specification 3.0, chapter 6: the type 0 configuration header.
import { NO_IRQ, type AccessSize, type IrqLine } from '../../bus/device.ts';

export const PCI_CONFIG_SPACE_SIZE = 256;

/** Header register offsets. */
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_BAR_COUNT = 6;

/** Command register bits. */
export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;

/** Status register bits. */
export const PCI_STATUS_INTERRUPT = 0x0008;
export const PCI_STATUS_CAP_LIST = 0x0010;

/** BAR low bits. */
export const PCI_BAR_SPACE_IO = 0x1;
export const PCI_BAR_MEM_MASK = 0xfffffff0;
export const PCI_BAR_IO_MASK = 0xfffffffc;

export const PCI_INTERRUPT_PIN_INTA = 1;
export const PCI_CAP_ID_VENDOR = 0x09;

const CAPABILITIES_START = 0x40;

export interface PciHeader {
  vendorId: number;
  deviceId: number;
  /** class << 16 | subclass << 8 | programming interface */
  classCode: number;
  revision?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 0 for none, PCI_INTERRUPT_PIN_INTA for INTA#. */
  interruptPin?: number;
}

export type PciBarKind = 'memory' | 'io';

/** A register range inside configuration space whose contents are computed on access. */
export interface ConfigAccessHandler {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

interface HandledRange {
  start: number;
  length: number;
  handler: ConfigAccessHandler;
}

export interface PciConfigSpaceState {
  bytes: number[];
  intxLevel: boolean;
}

/**
 * A function's 256-byte configuration space: header fields, BAR registers with
 * sizing semantics, a capability list and INTx. Writes go through a per-byte mask,
 * so read-only fields stay read-only.
 */
export class PciConfigSpace {
  private readonly bytes = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly writable = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly handled: HandledRange[] = [];
  private readonly barKinds: (PciBarKind | undefined)[] = new Array(PCI_BAR_COUNT);
  private capabilityEnd = CAPABILITIES_START;
  private lastCapabilityNext = PCI_CAPABILITY_LIST;
  private intxLevel = false;

  constructor(header: PciHeader, private readonly irq: IrqLine = NO_IRQ) {
    this.set16(PCI_VENDOR_ID, header.vendorId);
    this.set16(PCI_DEVICE_ID, header.deviceId);
    this.set8(PCI_REVISION_ID, header.revision ?? 0);
    this.set8(PCI_CLASS_PROG, header.classCode & 0xff);
    this.set16(PCI_CLASS_DEVICE, header.classCode >>> 8);
    this.set16(PCI_SUBSYSTEM_VENDOR_ID, header.subsystemVendorId ?? 0);
    this.set16(PCI_SUBSYSTEM_ID, header.subsystemId ?? 0);
    this.set8(PCI_INTERRUPT_PIN, header.interruptPin ?? 0);
    this.setWritableMask(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    this.setWritableMask(PCI_CACHE_LINE_SIZE, 1, 0xff);
    this.setWritableMask(PCI_LATENCY_TIMER, 1, 0xff);
    this.setWritableMask(PCI_INTERRUPT_LINE, 1, 0xff);
  }

  /** Declares BAR `index`; sizeBytes is a power of two (at least 16 for memory, 4 for I/O). */
  defineBar(index: number, kind: PciBarKind, sizeBytes: number): void {
    const minBytes = kind === 'memory' ? 16 : 4;
    if (index < 0 || index >= PCI_BAR_COUNT || this.barKinds[index]) throw new RangeError(`BAR ${index} is invalid or already defined`);
    if (sizeBytes < minBytes || sizeBytes > 0x8000_0000 || (sizeBytes & (sizeBytes - 1)) !== 0) {
      throw new RangeError(`BAR ${index} size ${sizeBytes} is not a power of two of at least ${minBytes}`);
    }
    this.barKinds[index] = kind;
    const offset = PCI_BAR0 + 4 * index;
    this.set32(offset, kind === 'io' ? PCI_BAR_SPACE_IO : 0);
    this.setWritableMask(offset, 4, ~(sizeBytes - 1) & (kind === 'io' ? PCI_BAR_IO_MASK : PCI_BAR_MEM_MASK));
  }

  /** The address programmed into BAR `index`, without the type bits. */
  barAddress(index: number): number {
    const raw = this.get32(PCI_BAR0 + 4 * index);
    return (raw & (this.barKinds[index] === 'io' ? PCI_BAR_IO_MASK : PCI_BAR_MEM_MASK)) >>> 0;
  }

  get command(): number {
    return this.get16(PCI_COMMAND);
  }

  /**
   * Appends a capability of lengthBytes (including the ID and next bytes) and returns
   * its offset. The caller fills the body with set8/16/32 and marks writable fields.
   */
  addCapability(id: number, lengthBytes: number): number {
    const offset = this.capabilityEnd;
    if (lengthBytes < 2 || offset + lengthBytes > PCI_CONFIG_SPACE_SIZE) throw new RangeError('PCI capability list is full');
    this.set8(offset, id);
    this.set8(offset + 1, 0);
    this.set8(this.lastCapabilityNext, offset);
    this.set16(PCI_STATUS, this.get16(PCI_STATUS) | PCI_STATUS_CAP_LIST);
    this.lastCapabilityNext = offset + 1;
    this.capabilityEnd = (offset + lengthBytes + 3) & ~3;
    return offset;
  }

  /** Routes accesses that start inside [start, start + length) to handler. */
  handleRange(start: number, length: number, handler: ConfigAccessHandler): void {
    this.handled.push({ start, length, handler });
  }

  /** Drives the function's INTx pin; the line follows it unless the command register disables INTx. */
  setInterrupt(level: boolean): void {
    this.intxLevel = level;
    this.updateIntx();
  }

  read(offset: number, size: AccessSize): number {
    if (offset < 0 || offset + size > PCI_CONFIG_SPACE_SIZE) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    const range = this.rangeAt(offset);
    if (range) return range.handler.read(offset - range.start, size);
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = (value << 8) | this.bytes[offset + i];
    return value >>> 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (offset < 0 || offset + size > PCI_CONFIG_SPACE_SIZE) return;
    const range = this.rangeAt(offset);
    if (range) {
      range.handler.write(offset - range.start, size, value);
      return;
    }
    for (let i = 0; i < size; i++) {
      const mask = this.writable[offset + i];
      const byte = (value >>> (8 * i)) & 0xff;
      this.bytes[offset + i] = (this.bytes[offset + i] & ~mask) | (byte & mask);
    }
    if (offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND) this.updateIntx();
  }

  set8(offset: number, value: number): void {
    this.bytes[offset] = value;
  }
  set16(offset: number, value: number): void {
    this.bytes[offset] = value;
    this.bytes[offset + 1] = value >>> 8;
  }
  set32(offset: number, value: number): void {
    this.set16(offset, value);
    this.set16(offset + 2, value >>> 16);
  }
  get16(offset: number): number {
    return this.bytes[offset] | (this.bytes[offset + 1] << 8);
  }
  get32(offset: number): number {
    return (this.get16(offset) | (this.get16(offset + 2) << 16)) >>> 0;
  }

  /** Makes the bits of `mask` writable by the guest in the little-endian field at offset. */
  setWritableMask(offset: number, length: number, mask: number): void {
    for (let i = 0; i < length; i++) this.writable[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  saveState(): PciConfigSpaceState {
    return { bytes: Array.from(this.bytes), intxLevel: this.intxLevel };
  }

  restoreState(state: PciConfigSpaceState): void {
    this.bytes.set(state.bytes);
    this.setInterrupt(state.intxLevel);
  }

  private rangeAt(offset: number): HandledRange | undefined {
    return this.handled.find((r) => offset >= r.start && offset < r.start + r.length);
  }

  private updateIntx(): void {
    const status = this.get16(PCI_STATUS) & ~PCI_STATUS_INTERRUPT;
    this.set16(PCI_STATUS, this.intxLevel ? status | PCI_STATUS_INTERRUPT : status);
    this.irq.set(this.intxLevel && (this.command & PCI_COMMAND_INTX_DISABLE) === 0);
  }
}
