// One writer per disk image, as QEMU's image locking gives: a LilyVM process that opens
// an image for writing holds a lock named after the file's device and inode (so every
// path to the same file finds it) in the host's temporary directory, holding its PID.
// A lock whose process has gone is stale and taken over. Read-only opens take no lock.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LOCK_DIR = join(tmpdir(), 'lilyvm-image-locks');

/** Another live process holds the write lock. */
export class ImageLockedError extends Error {
  constructor(readonly pid: number) {
    super(`locked by process ${pid}`);
  }
}

export interface ImageLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the write lock of the open file fd, or throw ImageLockedError. */
export function lockForWriting(fd: number): ImageLock {
  const st = fs.fstatSync(fd);
  fs.mkdirSync(LOCK_DIR, { recursive: true, mode: 0o1777 });
  const path = join(LOCK_DIR, `${st.dev}-${st.ino}`);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 3) throw e;
    }
    let holder = NaN;
    try {
      holder = Number.parseInt(fs.readFileSync(path, 'utf8'), 10);
    } catch {
      continue; // released meanwhile
    }
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) throw new ImageLockedError(holder);
    // Stale: its process is gone (or the file is half written by a crash). Take it over.
    try {
      fs.unlinkSync(path);
    } catch {
      // another process took it over first; try again
    }
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      try {
        if (Number.parseInt(fs.readFileSync(path, 'utf8'), 10) === process.pid) fs.unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}
