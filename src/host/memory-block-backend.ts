import type { BlockBackend } from '../devices/virtio/virtio-blk.ts';

/** A disk held in host memory (tests, scratch disks, the web page's attached image: no Node modules). */
export class MemoryBlockBackend implements BlockBackend {
  readonly bytes: Uint8Array;
  readonly readOnly: boolean;
  flushCount = 0;

  constructor(contents: Uint8Array | number, options: { readOnly?: boolean } = {}) {
    this.bytes = typeof contents === 'number' ? new Uint8Array(contents) : contents;
    this.readOnly = options.readOnly ?? false;
  }

  get sizeBytes(): number {
    return this.bytes.length;
  }

  read(offset: number, buf: Uint8Array): void {
    this.check(offset, buf.length);
    buf.set(this.bytes.subarray(offset, offset + buf.length));
  }

  write(offset: number, buf: Uint8Array): void {
    if (this.readOnly) throw new Error('disk is read-only');
    this.check(offset, buf.length);
    this.bytes.set(buf, offset);
  }

  flush(): void {
    this.flushCount++;
  }

  private check(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.bytes.length) throw new RangeError(`disk access at ${offset}+${length} is past the end`);
  }
}
