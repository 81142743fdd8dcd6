// A disk image held in memory: what a web page attaches (a file the user picked). Writes
// change only this copy; the page offers it back as a download.
import type { BlockBackend } from '../devices/virtio/virtio-blk.ts';

export class MemoryBlockBackend implements BlockBackend {
  readonly sizeBytes: number;

  constructor(readonly bytes: Uint8Array, readonly readOnly = false) {
    if (bytes.length % 512 !== 0) throw new RangeError(`a disk image holds whole 512-byte sectors; this one has ${bytes.length} bytes`);
    this.sizeBytes = bytes.length;
  }

  read(offset: number, buf: Uint8Array): void {
    this.check(offset, buf.length);
    buf.set(this.bytes.subarray(offset, offset + buf.length));
  }

  write(offset: number, buf: Uint8Array): void {
    if (this.readOnly) throw new Error('the disk is read-only');
    this.check(offset, buf.length);
    this.bytes.set(buf, offset);
  }

  flush(): void {}

  private check(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.sizeBytes) throw new RangeError(`access at ${offset}+${length} is past the end of the disk (${this.sizeBytes} bytes)`);
  }
}
