// Snapshot files under Node: the format (src/machine/snapshot-format.ts) written through a
// temporary file and a rename, so an interrupted save leaves no half file under the chosen
// name, and read back with its SHA-256 checked before anything is used.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { DiskConfig, MachineConfig } from '../machine/config.ts';
import type { MachineSnapshot } from '../machine/machine.ts';
import { checksumMismatch, decodeSnapshot, encodeSnapshot, splitSnapshot, SnapshotError, type DiskIdentity, type SnapshotHeader } from '../machine/snapshot-format.ts';

export { SnapshotError, type DiskIdentity, type SnapshotHeader } from '../machine/snapshot-format.ts';

export function diskIdentity(d: DiskConfig): DiskIdentity {
  const st = statSync(d.path, { bigint: true });
  return { path: d.path, readOnly: d.readOnly ?? false, sizeBytes: Number(st.size), mtimeNs: st.mtimeNs.toString() };
}

/** Refuse a disk that is not the one the snapshot saw (another size, written since). */
export function checkDisk(d: DiskIdentity): void {
  let now: DiskIdentity;
  try {
    now = diskIdentity(d);
  } catch (e) {
    throw new SnapshotError(`the snapshot's disk ${d.path} cannot be opened: ${(e as Error).message}`);
  }
  if (now.sizeBytes !== d.sizeBytes || now.mtimeNs !== d.mtimeNs) {
    throw new SnapshotError(`disk ${d.path} changed since the snapshot was taken (size ${d.sizeBytes} -> ${now.sizeBytes}, modified ${new Date(Number(BigInt(d.mtimeNs) / 1_000_000n)).toISOString()} -> ${new Date(Number(BigInt(now.mtimeNs) / 1_000_000n)).toISOString()}): restoring would give the guest a file system it did not leave`);
  }
}

/** Write the snapshot to `path` (through a temporary file and a rename). Returns the file size. */
export function writeSnapshotFile(path: string, header: Omit<SnapshotHeader, 'machine' | 'embedded'>, snap: MachineSnapshot): number {
  const tmp = `${path}.tmp-${process.pid}`;
  const hash = createHash('sha256');
  let fd: number | undefined;
  let size = 0;
  try {
    fd = openSync(tmp, 'w');
    const put = (b: Uint8Array) => {
      for (let done = 0; done < b.length;) done += writeSync(fd!, b, done, b.length - done);
      size += b.length;
    };
    for (const part of encodeSnapshot(header, snap)) {
      hash.update(part);
      put(part);
    }
    put(hash.digest());
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* closed */ }
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw new SnapshotError(`cannot write snapshot ${path}: ${(e as Error).message}`);
  }
  return size;
}

/** Read and check a snapshot file completely: its checksum, header and RAM. Nothing is half-read. */
export function readSnapshotFile(path: string): { header: SnapshotHeader; ram: Uint8Array } {
  let data: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
    } finally {
      closeSync(fd);
    }
    data = readFileSync(path);
  } catch (e) {
    throw new SnapshotError(`snapshot ${path} cannot be read: ${(e as Error).message}`);
  }
  const { body, digest } = splitSnapshot(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), path);
  if (!createHash('sha256').update(body).digest().equals(digest)) throw checksumMismatch(path);
  const { header, ram } = decodeSnapshot(body, path);
  return { header, ram };
}

/** Read a snapshot and check its disks: what startVm() resumes from. */
export function loadRestorePoint(path: string): { header: SnapshotHeader; ram: Uint8Array } {
  const point = readSnapshotFile(path);
  if (point.header.embedded?.length) {
    throw new SnapshotError(`snapshot ${path} was saved by the web page, with its disk inside: restore it there (lilyvm web)`);
  }
  for (const d of point.header.disks) checkDisk(d);
  return point;
}

/** The machine the snapshot was taken of. */
export function configFromSnapshot(h: SnapshotHeader): MachineConfig {
  return {
    kernelPath: h.kernelPath,
    initrdPath: h.initrdPath,
    cmdline: h.cmdline,
    memoryBytes: h.machine.memoryBytes,
    disks: h.disks.map((d) => ({ path: d.path, readOnly: d.readOnly })),
    engine: h.engine,
    noReboot: h.noReboot,
  };
}
