import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DiskImageError, FileBlockBackend } from '../../../src/host/file-block-backend.ts';
import { VirtioBlk, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT } from '../../../src/devices/virtio/virtio-blk.ts';
import { VirtioPciTestbed } from './pci-driver.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lilyvm-disk-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function image(dir: string, name: string, sizeBytes: number, mode = 0o644): string {
  const file = path.join(dir, name);
  const bytes = new Uint8Array(sizeBytes).map((_, i) => i & 0xff);
  fs.writeFileSync(file, bytes);
  fs.chmodSync(file, mode);
  return file;
}

function openError(file: string, readOnly: boolean): DiskImageError {
  try {
    FileBlockBackend.open(file, { readOnly }).close();
  } catch (e) {
    assert.ok(e instanceof DiskImageError, String(e));
    assert.ok(e.message.includes(file), e.message);
    return e;
  }
  assert.fail(`opening ${file} succeeded`);
}

test('reads, writes and flushes a raw image without changing its size', (t) => {
  const dir = tempDir(t);
  const file = image(dir, 'disk.img', 4096);
  const disk = FileBlockBackend.open(file, { readOnly: false });
  t.after(() => disk.close());
  assert.equal(disk.sizeBytes, 4096);
  assert.equal(disk.readOnly, false);
  const buf = new Uint8Array(600);
  disk.read(1000, buf);
  assert.deepEqual(buf, new Uint8Array(600).map((_, i) => (1000 + i) & 0xff));
  disk.write(512, new Uint8Array(512).fill(0xaa));
  disk.flush();
  const onDisk = fs.readFileSync(file);
  assert.equal(onDisk.length, 4096);
  assert.deepEqual(onDisk.subarray(512, 1024), Buffer.alloc(512, 0xaa));
  assert.throws(() => disk.write(4096 - 256, new Uint8Array(512)), RangeError);
  assert.throws(() => disk.read(4096, new Uint8Array(1)), RangeError);
  assert.equal(fs.statSync(file).size, 4096);
});

test('a read-only open refuses writes and never touches the file', (t) => {
  const dir = tempDir(t);
  const file = image(dir, 'ro.img', 1024);
  const before = fs.readFileSync(file);
  const disk = FileBlockBackend.open(file, { readOnly: true });
  t.after(() => disk.close());
  assert.equal(disk.readOnly, true);
  assert.throws(() => disk.write(0, new Uint8Array(512)), DiskImageError);
  disk.flush();
  assert.deepEqual(fs.readFileSync(file), before);
});

test('missing file', (t) => {
  const file = path.join(tempDir(t), 'nope.img');
  assert.match(openError(file, false).message, /does not exist/);
  assert.match(openError(path.join(file, 'below.img'), true).message, /does not exist/);
});

test('not a regular file', (t) => {
  const dir = tempDir(t);
  assert.match(openError(dir, true).message, /is not a regular file/);
  assert.match(openError(dir, false).message, /is not a regular file/);
});

test('size not a multiple of 512', (t) => {
  const file = image(tempDir(t), 'odd.img', 1000);
  const e = openError(file, true);
  assert.match(e.message, /is 1000 bytes, not a multiple of 512/);
  assert.match(e.message, /truncate -s 1024/);
  assert.equal(fs.statSync(file).size, 1000);
});

test('a read-only file opened read-write asks for ,ro', (t) => {
  const file = image(tempDir(t), 'disk.img', 1024, 0o444);
  const e = openError(file, false);
  assert.equal(e.message, `Disk image ${file} is read-only on the host: pass --disk ${file},ro`);
  FileBlockBackend.open(file, { readOnly: true }).close();
});

test('unreadable file', { skip: process.getuid?.() === 0 ? 'root can read any file' : false }, (t) => {
  const file = image(tempDir(t), 'secret.img', 1024, 0o000);
  assert.match(openError(file, true).message, /is not readable: check its permissions/);
  assert.match(openError(file, false).message, /is not readable/);
});

test('virtio-blk over a file image: sectors round-trip and a read-only image gives IOERR', (t) => {
  const dir = tempDir(t);
  const file = image(dir, 'disk.img', 8192);
  const disk = FileBlockBackend.open(file);
  t.after(() => disk.close());
  const bed = new VirtioPciTestbed(new VirtioBlk(disk));
  const [ring] = bed.start();
  const request = (type: number, sector: bigint, data: { addr: number; len: number; write?: boolean }) => {
    bed.memory.write32(0x3000, type);
    bed.memory.write64(0x3008, sector);
    ring.add([{ addr: 0x3000, len: 16 }, data, { addr: 0x3100, len: 1, write: true }]);
    bed.notify(0);
    return bed.memory.read8(0x3100);
  };
  bed.memory.writeBytes(0x4000, new Uint8Array(512).fill(0x5a));
  assert.equal(request(VIRTIO_BLK_T_OUT, 15n, { addr: 0x4000, len: 512 }), VIRTIO_BLK_S_OK);
  assert.deepEqual(fs.readFileSync(file).subarray(15 * 512), Buffer.alloc(512, 0x5a));
  assert.equal(request(VIRTIO_BLK_T_IN, 2n, { addr: 0x5000, len: 512, write: true }), VIRTIO_BLK_S_OK);
  assert.equal(bed.memory.read8(0x5000 + 1), (1024 + 1) & 0xff);
  assert.equal(request(VIRTIO_BLK_T_OUT, 16n, { addr: 0x4000, len: 512 }), VIRTIO_BLK_S_IOERR);
  assert.equal(fs.statSync(file).size, 8192);

  const roDisk = FileBlockBackend.open(file, { readOnly: true });
  t.after(() => roDisk.close());
  const roBed = new VirtioPciTestbed(new VirtioBlk(roDisk));
  const [roRing] = roBed.start();
  roBed.memory.write32(0x3000, VIRTIO_BLK_T_OUT);
  roRing.add([{ addr: 0x3000, len: 16 }, { addr: 0x4000, len: 512 }, { addr: 0x3100, len: 1, write: true }]);
  roBed.notify(0);
  assert.equal(roBed.memory.read8(0x3100), VIRTIO_BLK_S_IOERR);
  assert.deepEqual(fs.readFileSync(file).subarray(0, 512), Buffer.from(new Uint8Array(512).map((_, i) => i & 0xff)));
});

test('one writer per image: a second read-write open is refused, in this process or another; read-only opens still work', async (t) => {
  const dir = tempDir(t);
  const file = image(dir, 'shared.img', 4096);
  const link = path.join(dir, 'other-name.img');
  fs.symlinkSync(file, link);
  const first = FileBlockBackend.open(file);
  assert.throws(() => FileBlockBackend.open(link), (e: Error) => e instanceof DiskImageError
    && /already open for writing in another LilyVM process \(pid \d+\): stop that one, or attach it read-only with --disk .*,ro/.test(e.message));
  const ro = FileBlockBackend.open(file, { readOnly: true });
  ro.close();
  first.close();
  FileBlockBackend.open(link).close();

  // Another process holds it: a child that opens the image and waits.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', '-e',
    `const { FileBlockBackend } = await import(${JSON.stringify(new URL('../../../src/host/file-block-backend.ts', import.meta.url).href)});
     FileBlockBackend.open(${JSON.stringify(file)}); console.log('held'); setTimeout(() => {}, 60000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  assert.throws(() => FileBlockBackend.open(file), new RegExp(`pid ${child.pid}\\)`));
  FileBlockBackend.open(file, { readOnly: true }).close();
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  // Its lock is stale now, and taken over.
  FileBlockBackend.open(file).close();
});
