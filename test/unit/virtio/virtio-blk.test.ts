import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VirtioBlk,
  type BlockBackend,
} from '../../../src/devices/virtio/virtio-blk.ts';
import { VIRTIO_F_VERSION_1, VIRTIO_STATUS_DEVICE_NEEDS_RESET } from '../../../src/devices/virtio/virtio-device.ts';
import { MemoryBlockBackend } from '../../../src/host/memory-block-backend.ts';
import { VirtioPciTestbed } from './pci-driver.ts';
import type { Buffer, RingDriver } from './ring-driver.ts';

const DISK_BYTES = 64 * 1024;
const HEADER = 0x3_0000;
const DATA = 0x3_1000;
const STATUS = 0x3_f000;

function disk(readOnly = false): MemoryBlockBackend {
  const bytes = new Uint8Array(DISK_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 9)) & 0xff;
  return new MemoryBlockBackend(bytes, { readOnly });
}

function setup(backend: BlockBackend, options?: { serial?: string }) {
  const bed = new VirtioPciTestbed(new VirtioBlk(backend, options), 2);
  return bed;
}

/** Writes a request header and submits header, data and status buffers as one chain. */
function submit(bed: VirtioPciTestbed, ring: RingDriver, type: number, sector: bigint, data: Buffer[]): number {
  bed.memory.write32(HEADER, type);
  bed.memory.write32(HEADER + 4, 0);
  bed.memory.write64(HEADER + 8, sector);
  bed.memory.write8(STATUS, 0xff);
  const head = ring.add([{ addr: HEADER, len: 16 }, ...data, { addr: STATUS, len: 1, write: true }]);
  bed.notify(0);
  return head;
}

test('a driver negotiates, reads and writes sectors through the PCI transport, and gets INTx', () => {
  const backend = disk();
  const bed = setup(backend);
  bed.discover();
  assert.equal(bed.cfgRead(2, 2), 0x1042);
  const offered = bed.deviceFeatures();
  for (const f of [VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH]) assert.equal(offered & f, f);
  assert.equal(offered & VIRTIO_BLK_F_RO, 0n);
  assert.equal(bed.deviceConfig(0, 4), DISK_BYTES / 512);
  assert.equal(bed.deviceConfig(4, 4), 0);
  assert.equal(bed.deviceConfig(0x0c, 4), 254);
  assert.equal(bed.deviceConfig(0x14, 4), 512);
  const [ring] = bed.start(VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH);

  const head = submit(bed, ring, VIRTIO_BLK_T_IN, 3n, [
    { addr: DATA, len: 512, write: true },
    { addr: DATA + 0x800, len: 1024, write: true },
  ]);
  assert.equal(bed.irq.level, true);
  assert.equal(bed.readIsr(), 1);
  assert.equal(bed.irq.level, false);
  assert.equal(bed.readIsr(), 0);
  assert.deepEqual(ring.takeUsed(), [{ id: head, len: 1536 + 1 }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_OK);
  assert.deepEqual(bed.memory.slice(DATA, 512), backend.bytes.subarray(3 * 512, 4 * 512));
  assert.deepEqual(bed.memory.slice(DATA + 0x800, 1024), backend.bytes.subarray(4 * 512, 6 * 512));

  const payload = new Uint8Array(1024).map((_, i) => 255 - (i & 0xff));
  bed.memory.writeBytes(DATA, payload);
  submit(bed, ring, VIRTIO_BLK_T_OUT, 10n, [{ addr: DATA, len: 1024 }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_OK);
  assert.deepEqual(ring.takeUsed()[0].len, 1);
  assert.deepEqual(backend.bytes.subarray(10 * 512, 12 * 512), payload);
  assert.equal(bed.irq.level, true);
  assert.equal(bed.readIsr(), 1);
});

test('a request split anywhere across descriptors, including through an indirect table', () => {
  const backend = disk();
  const bed = setup(backend);
  const [ring] = bed.start(VIRTIO_BLK_F_SEG_MAX);
  bed.memory.write32(HEADER, VIRTIO_BLK_T_IN);
  bed.memory.write64(HEADER + 8, 1n);
  const head = ring.indirectChain(
    [
      { addr: HEADER, len: 5 },
      { addr: HEADER + 5, len: 11 },
      { addr: DATA, len: 100, write: true },
      { addr: DATA + 0x1000, len: 413, write: true },
    ],
    0x3_8000,
  );
  ring.publish(head);
  bed.notify(0);
  assert.deepEqual(ring.takeUsed(), [{ id: head, len: 513 }]);
  assert.deepEqual(bed.memory.slice(DATA, 100), backend.bytes.subarray(512, 612));
  assert.deepEqual(bed.memory.slice(DATA + 0x1000, 412), backend.bytes.subarray(612, 1024));
  assert.equal(bed.memory.read8(DATA + 0x1000 + 412), VIRTIO_BLK_S_OK);
});

test('writing to a read-only disk returns IOERR and leaves the disk unchanged', () => {
  const backend = disk(true);
  const before = backend.bytes.slice();
  const bed = setup(backend);
  bed.discover();
  assert.equal(bed.deviceFeatures() & VIRTIO_BLK_F_RO, VIRTIO_BLK_F_RO);
  const [ring] = bed.start(VIRTIO_BLK_F_RO);
  submit(bed, ring, VIRTIO_BLK_T_OUT, 0n, [{ addr: DATA, len: 512 }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_IOERR);
  assert.deepEqual(backend.bytes, before);
  submit(bed, ring, VIRTIO_BLK_T_IN, 0n, [{ addr: DATA, len: 512, write: true }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_OK);
});

test('requests beyond the end of the disk, or not in whole sectors, return IOERR', () => {
  const backend = disk();
  const before = backend.bytes.slice();
  const bed = setup(backend);
  const [ring] = bed.start();
  const last = BigInt(DISK_BYTES / 512 - 1);
  submit(bed, ring, VIRTIO_BLK_T_IN, last, [{ addr: DATA, len: 512, write: true }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_OK);
  submit(bed, ring, VIRTIO_BLK_T_IN, last, [{ addr: DATA, len: 1024, write: true }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_IOERR);
  submit(bed, ring, VIRTIO_BLK_T_OUT, last + 1n, [{ addr: DATA, len: 512 }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_IOERR);
  submit(bed, ring, VIRTIO_BLK_T_OUT, 0xffff_ffff_ffff_ffffn, [{ addr: DATA, len: 512 }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_IOERR);
  submit(bed, ring, VIRTIO_BLK_T_OUT, 0n, [{ addr: DATA, len: 100 }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_IOERR);
  assert.deepEqual(backend.bytes, before);
  assert.equal(ring.takeUsed().length, 5);
  assert.equal(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('flush reaches the backend; GET_ID returns the serial; unknown types are UNSUPP', () => {
  const backend = disk();
  const bed = setup(backend, { serial: 'lily-disk-0' });
  const [ring] = bed.start(VIRTIO_BLK_F_FLUSH);
  submit(bed, ring, VIRTIO_BLK_T_FLUSH, 0n, []);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_OK);
  assert.equal(backend.flushCount, 1);
  bed.memory.writeBytes(DATA, new Uint8Array(20).fill(0xee));
  submit(bed, ring, VIRTIO_BLK_T_GET_ID, 0n, [{ addr: DATA, len: 20, write: true }]);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_OK);
  const id = bed.memory.slice(DATA, 20);
  assert.equal(new TextDecoder().decode(id.subarray(0, 11)), 'lily-disk-0');
  assert.deepEqual([...id.subarray(11)], new Array(9).fill(0));
  submit(bed, ring, 99, 0n, []);
  assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_UNSUPP);
  assert.deepEqual(ring.takeUsed().map((u) => u.len), [1, 21, 1]);
});

test('a host I/O error becomes IOERR, not an exception', () => {
  const failing: BlockBackend = {
    sizeBytes: DISK_BYTES,
    readOnly: false,
    read() {
      throw new Error('EIO');
    },
    write() {
      throw new Error('EIO');
    },
    flush() {
      throw new Error('EIO');
    },
  };
  const bed = setup(failing);
  const [ring] = bed.start();
  for (const [type, data] of [
    [VIRTIO_BLK_T_IN, [{ addr: DATA, len: 512, write: true }]],
    [VIRTIO_BLK_T_OUT, [{ addr: DATA, len: 512 }]],
    [VIRTIO_BLK_T_FLUSH, []],
  ] as [number, Buffer[]][]) {
    submit(bed, ring, type, 0n, data);
    assert.equal(bed.memory.read8(STATUS), VIRTIO_BLK_S_IOERR);
  }
  assert.equal(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('a request without a status byte or a full header breaks the device', () => {
  const bed = setup(disk());
  const [ring] = bed.start();
  ring.add([{ addr: HEADER, len: 16 }]);
  bed.notify(0);
  assert.ok(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.match(bed.fn.error!, /no header or no status byte/);
  const [again] = bed.start();
  again.add([{ addr: HEADER, len: 8 }, { addr: STATUS, len: 1, write: true }]);
  bed.notify(0);
  assert.ok(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
});

test('a descriptor pointing outside RAM breaks the device and the host keeps running', () => {
  const backend = disk();
  const before = backend.bytes.slice();
  const bed = setup(backend);
  const [ring] = bed.start();
  assert.doesNotThrow(() => submit(bed, ring, VIRTIO_BLK_T_IN, 0n, [{ addr: 0x7fff_f000, len: 512, write: true }]));
  assert.ok(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.equal(bed.readIsr(), 2);
  assert.deepEqual(ring.takeUsed(), []);
  assert.deepEqual(backend.bytes, before);
  assert.ok(VIRTIO_F_VERSION_1);
});
