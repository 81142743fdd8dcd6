import fs from 'node:fs';
import type { BlockBackend } from '../devices/virtio/virtio-blk.ts';
import { ImageLockedError, lockForWriting, type ImageLock } from './image-lock.ts';

const SECTOR_BYTES = 512;

/** A disk image cannot be used as asked; the message says why and what to do. */
export class DiskImageError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
  }
}

export interface FileBlockBackendOptions {
  readOnly?: boolean;
}

/**
 * A raw disk image file accessed with synchronous positioned reads and writes.
 * The file is never truncated or extended.
 */
export class FileBlockBackend implements BlockBackend {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly sizeBytes: number,
    readonly readOnly: boolean,
    private readonly lock: ImageLock | undefined,
  ) {
    this.fd = fd;
  }

  static open(path: string, options: FileBlockBackendOptions = {}): FileBlockBackend {
    const readOnly = options.readOnly ?? false;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(path);
    } catch (e) {
      throw openError(path, e, readOnly);
    }
    // Checked before open: opening a FIFO would block.
    checkStat(path, stat);
    let fd: number;
    try {
      fd = fs.openSync(path, readOnly ? 'r' : 'r+');
    } catch (e) {
      throw openError(path, e, readOnly);
    }
    try {
      const opened = fs.fstatSync(fd);
      checkStat(path, opened);
      // An image with no write permission bits is treated as read-only even for root.
      if (!readOnly && (opened.mode & 0o222) === 0) throw readOnlyOnHost(path);
      let lock: ImageLock | undefined;
      if (!readOnly) {
        try {
          lock = lockForWriting(fd);
        } catch (e) {
          if (e instanceof ImageLockedError) {
            throw new DiskImageError(path, `Disk image ${path} is already open for writing in another LilyVM process (pid ${e.pid}): stop that one, or attach it read-only with --disk ${path},ro`);
          }
          throw new DiskImageError(path, `Cannot lock disk image ${path} for writing: ${(e as Error).message}`);
        }
      }
      return new FileBlockBackend(path, fd, opened.size, readOnly, lock);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  read(offset: number, buf: Uint8Array): void {
    const fd = this.checkAccess(offset, buf.length);
    for (let done = 0; done < buf.length; ) {
      const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
      if (n === 0) throw new DiskImageError(this.path, `Disk image ${this.path} ended at byte ${offset + done}: was it truncated while in use?`);
      done += n;
    }
  }

  write(offset: number, buf: Uint8Array): void {
    if (this.readOnly) throw new DiskImageError(this.path, `Disk image ${this.path} is open read-only`);
    const fd = this.checkAccess(offset, buf.length);
    for (let done = 0; done < buf.length; ) done += fs.writeSync(fd, buf, done, buf.length - done, offset + done);
  }

  flush(): void {
    if (this.fd !== undefined && !this.readOnly) fs.fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
    this.lock?.release();
  }

  private checkAccess(offset: number, length: number): number {
    if (this.fd === undefined) throw new DiskImageError(this.path, `Disk image ${this.path} is closed`);
    if (offset < 0 || offset + length > this.sizeBytes) {
      throw new RangeError(`access at ${offset}+${length} is past the end of disk image ${this.path} (${this.sizeBytes} bytes)`);
    }
    return this.fd;
  }
}

function readOnlyOnHost(path: string): DiskImageError {
  return new DiskImageError(path, `Disk image ${path} is read-only on the host: pass --disk ${path},ro`);
}

function checkStat(path: string, stat: fs.Stats): void {
  if (!stat.isFile()) throw new DiskImageError(path, `Disk image ${path} is not a regular file: pass a raw disk image file`);
  if (stat.size % SECTOR_BYTES !== 0) {
    throw new DiskImageError(
      path,
      `Disk image ${path} is ${stat.size} bytes, not a multiple of 512: a raw image holds whole 512-byte sectors (pad it with truncate -s ${Math.ceil(stat.size / SECTOR_BYTES) * SECTOR_BYTES} ${path})`,
    );
  }
}

function openError(path: string, e: unknown, readOnly: boolean): DiskImageError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new DiskImageError(path, `Disk image ${path} does not exist: check the path`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    if (!readOnly && isReadable(path)) return readOnlyOnHost(path);
    return new DiskImageError(path, `Disk image ${path} is not readable: check its permissions`);
  }
  if (code === 'EISDIR') return new DiskImageError(path, `Disk image ${path} is not a regular file: pass a raw disk image file`);
  return new DiskImageError(path, `Cannot open disk image ${path}: ${(e as Error).message}`);
}

function isReadable(path: string): boolean {
  try {
    fs.accessSync(path, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
