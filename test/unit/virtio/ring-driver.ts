import type { GuestMemory } from '../../../src/memory/guest-memory.ts';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../../src/devices/virtio/virtqueue.ts';

export interface Buffer {
  addr: number;
  len: number;
  write?: boolean;
}

/** The driver side of a split virtqueue, laid out by hand in guest memory. */
export class RingDriver {
  readonly descAddr: number;
  readonly driverAddr: number;
  readonly deviceAddr: number;
  private nextDesc = 0;
  private availIdx = 0;
  private lastUsedIdx = 0;

  constructor(readonly memory: GuestMemory, readonly size: number, base: number) {
    this.descAddr = base;
    this.driverAddr = base + 16 * size;
    this.deviceAddr = (this.driverAddr + 6 + 2 * size + 3) & ~3;
  }

  writeDesc(index: number, addr: number, len: number, flags: number, next: number, table = this.descAddr): void {
    const d = table + 16 * index;
    this.memory.write32(d, addr);
    this.memory.write32(d + 4, 0);
    this.memory.write32(d + 8, len);
    this.memory.write16(d + 12, flags);
    this.memory.write16(d + 14, next);
  }

  /** Writes a chain of direct descriptors and returns its head (not yet published). */
  chain(buffers: Buffer[]): number {
    const head = this.nextDesc;
    buffers.forEach((b, i) => {
      const index = (head + i) % this.size;
      const last = i === buffers.length - 1;
      const flags = (b.write ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
      this.writeDesc(index, b.addr, b.len, flags, (index + 1) % this.size);
    });
    this.nextDesc = (head + buffers.length) % this.size;
    return head;
  }

  /** Writes an indirect table at tableAddr and one descriptor pointing at it. */
  indirectChain(buffers: Buffer[], tableAddr: number): number {
    buffers.forEach((b, i) => {
      const last = i === buffers.length - 1;
      const flags = (b.write ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
      this.writeDesc(i, b.addr, b.len, flags, i + 1, tableAddr);
    });
    const head = this.nextDesc;
    this.writeDesc(head, tableAddr, 16 * buffers.length, VIRTQ_DESC_F_INDIRECT, 0);
    this.nextDesc = (head + 1) % this.size;
    return head;
  }

  publish(head: number): void {
    this.memory.write16(this.driverAddr + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.memory.write16(this.driverAddr + 2, this.availIdx);
  }

  add(buffers: Buffer[]): number {
    const head = this.chain(buffers);
    this.publish(head);
    return head;
  }

  setAvailFlags(flags: number): void {
    this.memory.write16(this.driverAddr, flags);
  }

  setUsedEvent(index: number): void {
    this.memory.write16(this.driverAddr + 4 + 2 * this.size, index);
  }

  availEvent(): number {
    return this.memory.read16(this.deviceAddr + 4 + 8 * this.size);
  }

  usedIdx(): number {
    return this.memory.read16(this.deviceAddr + 2);
  }

  /** Used elements the device returned since the last call. */
  takeUsed(): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    const idx = this.usedIdx();
    while (this.lastUsedIdx !== idx) {
      const e = this.deviceAddr + 4 + 8 * (this.lastUsedIdx % this.size);
      out.push({ id: this.memory.read32(e), len: this.memory.read32(e + 4) });
      this.lastUsedIdx = (this.lastUsedIdx + 1) & 0xffff;
    }
    return out;
  }
}
