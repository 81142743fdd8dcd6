// Split virtqueue, Virtual I/O Device (VIRTIO) Version 1.2, section 2.7.
import { GuestMemoryError, type GuestMemory } from '../../memory/guest-memory.ts';

/** struct virtq_desc flags. */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** struct virtq_avail flags. */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** struct virtq_used flags. */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

export const VIRTQ_MAX_SIZE = 32768;
export const VIRTQ_DESC_SIZE = 16;
const VIRTQ_USED_ELEM_SIZE = 8;
const RING_HEADER_SIZE = 4; // flags, idx

/** Guest-physical placement of the three areas, as the driver programmed them. */
export interface VirtqueueConfig {
  size: number;
  descAddr: number;
  driverAddr: number; // available ring
  deviceAddr: number; // used ring
  /** VIRTIO_F_EVENT_IDX was negotiated. */
  eventIdx: boolean;
}

export interface VirtqueueHooks {
  /** A used buffer notification is due. */
  interrupt(): void;
  /** The driver broke the ring rules; the device must stop using this queue. */
  broken(reason: string): void;
}

export interface Segment {
  addr: number;
  len: number;
}

/** Sizes of the three areas of a queue of `size` entries (section 2.7), in bytes. */
export function virtqueueAreaSizes(size: number): { desc: number; driver: number; device: number } {
  return {
    desc: VIRTQ_DESC_SIZE * size,
    driver: RING_HEADER_SIZE + 2 * size + 2,
    device: RING_HEADER_SIZE + VIRTQ_USED_ELEM_SIZE * size + 2,
  };
}

/**
 * One available buffer: its device-readable segments followed by its device-writable
 * segments, all checked to lie inside guest RAM when the chain was popped.
 */
export class DescriptorChain {
  readonly readableBytes: number;
  readonly writableBytes: number;

  constructor(
    private readonly memory: GuestMemory,
    readonly head: number,
    readonly readable: readonly Segment[],
    readonly writable: readonly Segment[],
  ) {
    this.readableBytes = readable.reduce((n, s) => n + s.len, 0);
    this.writableBytes = writable.reduce((n, s) => n + s.len, 0);
  }

  /** Views (no copy) of the readable bytes [offset, offset + length), clipped to what exists. */
  readableViews(offset: number, length: number): Uint8Array[] {
    return this.views(this.readable, offset, length);
  }

  /** Views (no copy) of the writable bytes [offset, offset + length), clipped to what exists. */
  writableViews(offset: number, length: number): Uint8Array[] {
    return this.views(this.writable, offset, length, true);
  }

  /** Copies out up to `length` readable bytes from `offset`. */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(length, this.readableBytes - offset)));
    let at = 0;
    for (const view of this.readableViews(offset, out.length)) {
      out.set(view, at);
      at += view.length;
    }
    return out;
  }

  /** Copies data into the writable bytes from `offset`; returns the byte count written. */
  write(offset: number, data: Uint8Array): number {
    let at = 0;
    for (const view of this.writableViews(offset, data.length)) {
      view.set(data.subarray(at, at + view.length));
      at += view.length;
    }
    return at;
  }

  private views(segments: readonly Segment[], offset: number, length: number, forWriting = false): Uint8Array[] {
    const out: Uint8Array[] = [];
    let skip = offset;
    let left = length;
    for (const s of segments) {
      if (left <= 0) break;
      if (skip >= s.len) {
        skip -= s.len;
        continue;
      }
      const n = Math.min(s.len - skip, left);
      out.push(forWriting ? this.memory.writableSlice(s.addr + skip, n) : this.memory.slice(s.addr + skip, n));
      left -= n;
      skip = 0;
    }
    return out;
  }
}

export interface VirtqueueState {
  lastAvailIdx: number;
  usedIdx: number;
  signalledUsedIdx: number;
  broken: boolean;
}

/**
 * The device side of a split virtqueue. A ring that breaks the rules (index out of
 * range, loop, address outside RAM) makes the queue broken: it reports through
 * hooks.broken once and then offers no more buffers, instead of throwing.
 */
export class Virtqueue {
  private lastAvailIdx = 0;
  private usedIdx = 0;
  private signalledUsedIdx = 0;
  private isBroken = false;

  constructor(
    private readonly memory: GuestMemory,
    readonly config: Readonly<VirtqueueConfig>,
    private readonly hooks: VirtqueueHooks,
  ) {
    const problem = this.checkConfig();
    if (problem) this.fail(problem);
  }

  get size(): number {
    return this.config.size;
  }

  get broken(): boolean {
    return this.isBroken;
  }

  /** Number of chains the driver has made available and the device has not popped. */
  pending(): number {
    if (this.isBroken) return 0;
    const count = (this.memory.read16(this.config.driverAddr + 2) - this.lastAvailIdx) & 0xffff;
    if (count > this.config.size) {
      this.fail(`available index moved ${count} entries ahead, more than the queue size ${this.config.size}`);
      return 0;
    }
    return count;
  }

  /** The next available chain, or undefined when there is none (or the queue is broken). */
  pop(): DescriptorChain | undefined {
    try {
      const count = this.pending();
      if (this.config.eventIdx && !this.isBroken) this.setAvailEvent(this.lastAvailIdx + count);
      if (count === 0) return undefined;
      const slot = this.lastAvailIdx % this.config.size;
      const head = this.memory.read16(this.config.driverAddr + RING_HEADER_SIZE + 2 * slot);
      const chain = this.readChain(head);
      if (chain) this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
      return chain;
    } catch (e) {
      if (!(e instanceof GuestMemoryError)) throw e;
      this.fail(e.message);
      return undefined;
    }
  }

  /** Returns a chain to the driver with the number of bytes the device wrote into it. */
  push(chain: DescriptorChain | number, writtenBytes: number): void {
    if (this.isBroken) return;
    const head = typeof chain === 'number' ? chain : chain.head;
    const elem = this.config.deviceAddr + RING_HEADER_SIZE + VIRTQ_USED_ELEM_SIZE * (this.usedIdx % this.config.size);
    this.memory.write32(elem, head);
    this.memory.write32(elem + 4, writtenBytes);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.memory.write16(this.config.deviceAddr + 2, this.usedIdx);
  }

  /**
   * Sends a used buffer notification for the chains pushed since the last call,
   * unless the driver suppressed it (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with
   * VIRTIO_F_EVENT_IDX, section 2.7.10).
   */
  signalUsed(): void {
    if (this.isBroken) return;
    const previous = this.signalledUsedIdx;
    const current = this.usedIdx;
    if (previous === current) return;
    this.signalledUsedIdx = current;
    let needed: boolean;
    if (this.config.eventIdx) {
      const usedEvent = this.memory.read16(this.config.driverAddr + RING_HEADER_SIZE + 2 * this.config.size);
      needed = ((current - usedEvent - 1) & 0xffff) < ((current - previous) & 0xffff);
    } else {
      needed = (this.memory.read16(this.config.driverAddr) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    }
    if (needed) this.hooks.interrupt();
  }

  /** Marks the queue broken (also for device-level protocol errors found in a chain). */
  fail(reason: string): void {
    if (this.isBroken) return;
    this.isBroken = true;
    this.hooks.broken(reason);
  }

  saveState(): VirtqueueState {
    return {
      lastAvailIdx: this.lastAvailIdx,
      usedIdx: this.usedIdx,
      signalledUsedIdx: this.signalledUsedIdx,
      broken: this.isBroken,
    };
  }

  restoreState(state: VirtqueueState): void {
    this.lastAvailIdx = state.lastAvailIdx & 0xffff;
    this.usedIdx = state.usedIdx & 0xffff;
    this.signalledUsedIdx = state.signalledUsedIdx & 0xffff;
    this.isBroken = state.broken;
  }

  private checkConfig(): string | undefined {
    const { size, descAddr, driverAddr, deviceAddr } = this.config;
    if (size < 1 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) !== 0) return `queue size ${size} is not a power of two up to ${VIRTQ_MAX_SIZE}`;
    // Alignment requirements: section 2.7, table "Virtqueue Part Alignment".
    if (descAddr % 16 || driverAddr % 2 || deviceAddr % 4) return 'queue areas are misaligned';
    const sizes = virtqueueAreaSizes(size);
    if (!this.memory.contains(descAddr, sizes.desc) || !this.memory.contains(driverAddr, sizes.driver) || !this.memory.contains(deviceAddr, sizes.device)) {
      return `queue areas at 0x${descAddr.toString(16)}/0x${driverAddr.toString(16)}/0x${deviceAddr.toString(16)} are outside RAM`;
    }
    return undefined;
  }

  private setAvailEvent(index: number): void {
    this.memory.write16(this.config.deviceAddr + RING_HEADER_SIZE + VIRTQ_USED_ELEM_SIZE * this.config.size, index & 0xffff);
  }

  private readChain(head: number): DescriptorChain | undefined {
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    let table = this.config.descAddr;
    let tableSize = this.config.size;
    let index = head;
    let indirect = false;
    let visited = 0;
    for (;;) {
      if (index >= tableSize) return this.failChain(`descriptor index ${index} is outside a table of ${tableSize}`);
      // A chain can visit each descriptor of its table at most once; more means a loop.
      if (++visited > tableSize) return this.failChain(`descriptor chain from head ${head} loops`);
      const desc = table + VIRTQ_DESC_SIZE * index;
      const addrHigh = this.memory.read32(desc + 4);
      const addr = this.memory.read32(desc);
      const len = this.memory.read32(desc + 8);
      const flags = this.memory.read16(desc + 12);
      const next = this.memory.read16(desc + 14);
      const inRam = addrHigh === 0 && this.memory.contains(addr, len);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (indirect) return this.failChain('indirect descriptor inside an indirect table');
        if (visited !== 1 || flags & VIRTQ_DESC_F_NEXT) return this.failChain('indirect descriptor is not alone in its chain');
        if (len === 0 || len % VIRTQ_DESC_SIZE) return this.failChain(`indirect table length ${len} is not a multiple of ${VIRTQ_DESC_SIZE}`);
        if (!inRam) return this.failChain(`indirect table at 0x${addr.toString(16)} is outside RAM`);
        table = addr;
        tableSize = len / VIRTQ_DESC_SIZE;
        index = 0;
        indirect = true;
        visited = 0;
        continue;
      }
      if (!inRam) return this.failChain(`buffer at 0x${(addrHigh * 2 ** 32 + addr).toString(16)}+0x${len.toString(16)} is outside RAM`);
      if (flags & VIRTQ_DESC_F_WRITE) {
        if (len) writable.push({ addr, len });
      } else {
        if (writable.length) return this.failChain('device-readable descriptor after a device-writable one');
        if (len) readable.push({ addr, len });
      }
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      index = next;
    }
    return new DescriptorChain(this.memory, head, readable, writable);
  }

  private failChain(reason: string): undefined {
    this.fail(reason);
    return undefined;
  }
}
