// The snapshot format, without any host I/O (Node writes files with it, the web page
// downloads and uploads them):
//
//   offset 0   "LILYSNAP"            magic, 8 bytes
//          8   u32 LE                format version (SNAPSHOT_VERSION)
//         12   u32 LE                length J of the JSON header
//         16   J bytes               JSON: SnapshotHeader (machine state, config, disks)
//   16 + J     ceil(pages / 8) bytes bitmap of the RAM pages that are not all zero
//              4096 bytes each       those pages, in order
//              header.embedded[i].bytes each   embedded blobs (a page's in-memory disk)
//   end - 32   32 bytes              SHA-256 of everything before it
//
// Zero pages are left out. The host computes the SHA-256 (node:crypto, or SubtleCrypto).
import type { DiskConfig, EngineName } from './config.ts';
import type { MachineSnapshot, MachineState } from './machine.ts';

const MAGIC = 'LILYSNAP';
export const SNAPSHOT_VERSION = 1;
const PAGE = 4096;
export const SNAPSHOT_HASH_BYTES = 32;

/** A snapshot that cannot be used; the message says why. */
export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

/** How a disk file looked when the snapshot was taken: restore refuses one that changed since. */
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
  /** Blobs stored after the RAM pages, in order: the disks of a machine whose disks live in memory. */
  embedded?: { name: string; bytes: number }[];
  machine: MachineState;
}

function isZeroPage(words: Int32Array, first: number): boolean {
  for (let i = first; i < first + PAGE / 4; i++) if (words[i] !== 0) return false;
  return true;
}

/** The file's parts in order, without the trailing SHA-256 (the host hashes and writes them). */
export function encodeSnapshot(header: Omit<SnapshotHeader, 'machine' | 'embedded'>, snap: MachineSnapshot, embedded: { name: string; data: Uint8Array }[] = []): Uint8Array<ArrayBuffer>[] {
  const full: SnapshotHeader = { ...header, embedded: embedded.map((e) => ({ name: e.name, bytes: e.data.length })), machine: snap.state };
  const json = new TextEncoder().encode(JSON.stringify(full));
  const ram = snap.ram;
  const pages = ram.length / PAGE;
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.length / 4);
  const bitmap = new Uint8Array(Math.ceil(pages / 8));
  for (let p = 0; p < pages; p++) if (!isZeroPage(words, p * (PAGE / 4))) bitmap[p >> 3] |= 1 << (p & 7);
  const head = new Uint8Array(16);
  const view = new DataView(head.buffer);
  for (let i = 0; i < 8; i++) head[i] = MAGIC.charCodeAt(i);
  view.setUint32(8, SNAPSHOT_VERSION, true);
  view.setUint32(12, json.length, true);
  const parts: Uint8Array<ArrayBuffer>[] = [head, json, bitmap];
  // Views, not copies: snap.ram is the machine's copy already.
  for (let p = 0; p < pages; p++) if (bitmap[p >> 3] & (1 << (p & 7))) parts.push(ram.subarray(p * PAGE, (p + 1) * PAGE) as Uint8Array<ArrayBuffer>);
  for (const e of embedded) parts.push(e.data as Uint8Array<ArrayBuffer>);
  return parts;
}

/**
 * Check the magic and version and split off the trailing SHA-256. The caller verifies the
 * digest over `body` before decodeSnapshot(): a damaged file never reaches the decoder.
 */
export function splitSnapshot(data: Uint8Array, source: string): { body: Uint8Array; digest: Uint8Array } {
  const magic = String.fromCharCode(...data.subarray(0, 8));
  if (data.length < 16 + SNAPSHOT_HASH_BYTES || magic !== MAGIC) throw unusable(source, 'it is not a LilyVM snapshot (no LILYSNAP header)');
  const version = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(8, true);
  if (version !== SNAPSHOT_VERSION) throw unusable(source, `format version ${version}; this LilyVM reads version ${SNAPSHOT_VERSION}`);
  return { body: data.subarray(0, data.length - SNAPSHOT_HASH_BYTES), digest: data.subarray(data.length - SNAPSHOT_HASH_BYTES) };
}

export function checksumMismatch(source: string): SnapshotError {
  return unusable(source, 'its checksum does not match: the file is truncated or damaged');
}

function unusable(source: string, why: string): SnapshotError {
  return new SnapshotError(`snapshot ${source} is not usable: ${why}`);
}

/** Decode a checked body: the header, RAM and embedded blobs. */
export function decodeSnapshot(body: Uint8Array, source: string): { header: SnapshotHeader; ram: Uint8Array; embedded: Uint8Array[] } {
  const jsonLength = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(12, true);
  return parseBody(body, jsonLength, (why) => unusable(source, why));
}

function parseBody(body: Uint8Array, jsonLength: number, bad: (why: string) => SnapshotError): { header: SnapshotHeader; ram: Uint8Array; embedded: Uint8Array[] } {
  if (16 + jsonLength > body.length) throw bad('its header is cut short');
  let header: SnapshotHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(body.subarray(16, 16 + jsonLength))) as SnapshotHeader;
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
  const blobs = header.embedded ?? [];
  const blobBytes = blobs.reduce((n, b) => n + b.bytes, 0);
  const pagesAt = bitmapAt + bitmap.length;
  if (pagesAt + present * PAGE + blobBytes !== body.length) throw bad(`it should hold ${present} RAM pages after its header, but its length says otherwise`);
  const ram = new Uint8Array(memoryBytes);
  let at = pagesAt;
  for (let p = 0; p < pages; p++) {
    if (!(bitmap[p >> 3] & (1 << (p & 7)))) continue;
    ram.set(body.subarray(at, at + PAGE), p * PAGE);
    at += PAGE;
  }
  const embedded = blobs.map((b) => {
    const data = body.slice(at, at + b.bytes);
    at += b.bytes;
    return data;
  });
  return { header, ram, embedded };
}
