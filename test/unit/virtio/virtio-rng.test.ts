import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtioRng } from '../../../src/devices/virtio/virtio-rng.ts';
import { hostEntropy } from '../../../src/host/entropy.ts';
import { VirtioPciTestbed } from './pci-driver.ts';

test('virtio-rng fills device-writable buffers from the entropy source', () => {
  let counter = 0;
  const bed = new VirtioPciTestbed(new VirtioRng((buf) => buf.forEach((_, i) => (buf[i] = ++counter & 0xff))), 3);
  assert.equal(bed.cfgRead(2, 2), 0x1044);
  const [ring] = bed.start();
  const head = ring.add([
    { addr: 0x2000, len: 4, write: true },
    { addr: 0x3000, len: 3, write: true },
  ]);
  bed.notify(0);
  assert.deepEqual(ring.takeUsed(), [{ id: head, len: 7 }]);
  assert.deepEqual([...bed.memory.slice(0x2000, 4)], [1, 2, 3, 4]);
  assert.deepEqual([...bed.memory.slice(0x3000, 3)], [5, 6, 7]);
  assert.equal(bed.readIsr(), 1);
});

test('the host entropy source fills buffers with random bytes', () => {
  const bed = new VirtioPciTestbed(new VirtioRng(hostEntropy));
  const [ring] = bed.start();
  ring.add([{ addr: 0x2000, len: 256, write: true }]);
  bed.notify(0);
  assert.equal(ring.takeUsed()[0].len, 256);
  const bytes = bed.memory.slice(0x2000, 256);
  assert.ok(new Set(bytes).size > 64, 'random bytes are not all alike');
});

test('a read-only buffer gets nothing and a used length of 0', () => {
  const bed = new VirtioPciTestbed(new VirtioRng(hostEntropy));
  const [ring] = bed.start();
  ring.add([{ addr: 0x2000, len: 16 }]);
  bed.notify(0);
  assert.deepEqual(ring.takeUsed(), [{ id: 0, len: 0 }]);
  assert.deepEqual([...bed.memory.slice(0x2000, 16)], new Array(16).fill(0));
});
