// Whole-machine snapshot files.
//
//   offset 0   "LILYSNAP"            magic, 8 bytes
//          8   u32 LE                format version (SNAPSHOT_VERSION)
//         12   u32 LE                length J of the JSON header
//         16   J bytes               JSON: SnapshotHeader (machine state, config, disks)
//   16 + J     ceil(pages / 8) bytes bitmap of the RAM pages that are not all zero
//              4096 bytes each       those pages, in order
//   end - 32   32 bytes              SHA-256 of everything before it
//
// Zero pages are left out. A file is written to a temporary name and renamed, so an
// interrupted save leaves no half file under the chosen name.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { DiskConfig, EngineName, MachineConfig } from '../machine/config.ts';
import type { MachineSnapshot, MachineState } from '../machine/machine.ts';

const MAGIC = 'LILYSNAP';
export const SNAPSHOT_VERSION = 1;
const PAGE = 4096;
const HASH_BYTES = 32;

/** A snapshot file that cannot be used; the message says why. */
export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

/** How a disk looked when the snapshot was taken: restore refuses one that changed since. */
export interface DiskIdentity extends DiskConfig {
  sizeBytes: number;
  /** Modification time in ns (as a decimal string: beyond a double's precision). */
  mtimeNs: string;
}

export interface SnapshotHeader {
  lilyvmVersion: string;
  createdAt: string;
  engine: EngineName;
  kernelPath: string;
  initrdPath?: string;
  cmdline: string;
  noReboot: boolean;
  disks: DiskIdentity[];
  machine: MachineState;
}

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

function isZeroPage(words: Int32Array, first: number): boolean {
  for (let i = first; i < first + PAGE / 4; i++) if (words[i] !== 0) return false;
  return true;
}

/** Write the snapshot to `path` (through a temporary file and a rename). Returns the file size. */
export function writeSnapshotFile(path: string, header: Omit<SnapshotHeader, 'machine'>, snap: MachineSnapshot): number {
  const json = Buffer.from(JSON.stringify({ ...header, machine: snap.state }));
  const ram = snap.ram;
  const pages = ram.length / PAGE;
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.length / 4);
  const bitmap = new Uint8Array(Math.ceil(pages / 8));
  for (let p = 0; p < pages; p++) if (!isZeroPage(words, p * (PAGE / 4))) bitmap[p >> 3] |= 1 << (p & 7);
  const tmp = `${path}.tmp-${process.pid}`;
  const hash = createHash('sha256');
  const fd = openSync(tmp, 'w');
  let size = 0;
  try {
    const put = (b: Uint8Array) => {
      hash.update(b);
      for (let done = 0; done < b.length;) done += writeSync(fd, b, done, b.length - done);
      size += b.length;
    };
    const head = Buffer.alloc(16);
    head.write(MAGIC, 0, 'latin1');
    head.writeUInt32LE(SNAPSHOT_VERSION, 8);
    head.writeUInt32LE(json.length, 12);
    put(head);
    put(json);
    put(bitmap);
    for (let p = 0; p < pages; p++) if (bitmap[p >> 3] & (1 << (p & 7))) put(ram.subarray(p * PAGE, (p + 1) * PAGE));
    const digest = hash.digest();
    for (let done = 0; done < digest.length;) done += writeSync(fd, digest, done, digest.length - done);
    size += digest.length;
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try { closeSync(fd); } catch { /* closed */ }
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw new SnapshotError(`cannot write snapshot ${path}: ${(e as Error).message}`);
  }
  return size;
}

/** Read and check a snapshot file completely: its header and the RAM contents. Nothing is half-read. */
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
  const bad = (why: string) => new SnapshotError(`snapshot ${path} is not usable: ${why}`);
  if (data.length < 16 + HASH_BYTES || data.toString('latin1', 0, 8) !== MAGIC) throw bad('it is not a LilyVM snapshot (no LILYSNAP header)');
  const version = data.readUInt32LE(8);
  if (version !== SNAPSHOT_VERSION) throw bad(`format version ${version}; this LilyVM reads version ${SNAPSHOT_VERSION}`);
  const body = data.subarray(0, data.length - HASH_BYTES);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(data.subarray(data.length - HASH_BYTES))) throw bad('its checksum does not match: the file is truncated or damaged');
  const jsonLength = data.readUInt32LE(12);
  if (16 + jsonLength > body.length) throw bad('its header is cut short');
  let header: SnapshotHeader;
  try {
    header = JSON.parse(body.toString('utf8', 16, 16 + jsonLength)) as SnapshotHeader;
  } catch (e) {
    throw bad(`its header is not valid JSON (${(e as Error).message})`);
  }
  const memoryBytes = header.machine?.memoryBytes;
  if (!Number.isInteger(memoryBytes) || memoryBytes <= 0 || memoryBytes % PAGE !== 0) throw bad('its header has no valid RAM size');
  const pages = memoryBytes / PAGE;
  const bitmapAt = 16 + jsonLength;
  const bitmap = body.subarray(bitmapAt, bitmapAt + Math.ceil(pages / 8));
  let present = 0;
  for (let p = 0; p < pages; p++) if (bitmap[p >> 3] & (1 << (p & 7))) present++;
  const pagesAt = bitmapAt + bitmap.length;
  if (pagesAt + present * PAGE !== body.length) throw bad(`it should hold ${present} RAM pages after its header, but its length says otherwise`);
  const ram = new Uint8Array(memoryBytes);
  let at = pagesAt;
  for (let p = 0; p < pages; p++) {
    if (!(bitmap[p >> 3] & (1 << (p & 7)))) continue;
    ram.set(body.subarray(at, at + PAGE), p * PAGE);
    at += PAGE;
  }
  return { header, ram };
}

/** Read a snapshot and check its disks: what startVm() resumes from. */
export function loadRestorePoint(path: string): { header: SnapshotHeader; ram: Uint8Array } {
  const point = readSnapshotFile(path);
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
