import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VIRTIO_CONSOLE_F_EMERG_WRITE, VirtioConsole } from '../../../src/devices/virtio/virtio-console.ts';
import { VirtioPciTestbed } from './pci-driver.ts';

function setup() {
  const out: number[] = [];
  const device = new VirtioConsole((data) => out.push(...data));
  const bed = new VirtioPciTestbed(device, 4);
  return { out, device, bed };
}

test('guest output on the transmit queue reaches the sink', () => {
  const { out, bed } = setup();
  assert.equal(bed.cfgRead(2, 2), 0x1043);
  const [, tx] = bed.start();
  bed.memory.writeBytes(0x2000, new TextEncoder().encode('hello, '));
  bed.memory.writeBytes(0x3000, new TextEncoder().encode('world'));
  const head = tx.add([{ addr: 0x2000, len: 7 }, { addr: 0x3000, len: 5 }]);
  bed.notify(1);
  assert.equal(new TextDecoder().decode(Uint8Array.from(out)), 'hello, world');
  assert.deepEqual(tx.takeUsed(), [{ id: head, len: 0 }]);
  assert.equal(bed.readIsr(), 1);
});

test('host input waits for receive buffers and is split across them', () => {
  const { device, bed } = setup();
  device.input(new TextEncoder().encode('early'));
  const [rx] = bed.start();
  assert.equal(bed.irq.level, false);
  rx.add([{ addr: 0x4000, len: 3, write: true }]);
  rx.add([{ addr: 0x5000, len: 16, write: true }]);
  bed.notify(0);
  assert.deepEqual(rx.takeUsed(), [{ id: 0, len: 3 }, { id: 1, len: 2 }]);
  assert.equal(new TextDecoder().decode(bed.memory.slice(0x4000, 3)), 'ear');
  assert.equal(new TextDecoder().decode(bed.memory.slice(0x5000, 2)), 'ly');
  assert.equal(bed.readIsr(), 1);
  rx.add([{ addr: 0x4000, len: 16, write: true }]);
  bed.notify(0);
  assert.deepEqual(rx.takeUsed(), [], 'no input, the buffer stays with the device');
  device.input(new TextEncoder().encode('ls\n'));
  assert.deepEqual(rx.takeUsed(), [{ id: 2, len: 3 }]);
  assert.equal(bed.irq.level, true);
});

test('emergency write outputs a byte without queues', () => {
  const { out, bed } = setup();
  bed.discover();
  assert.equal(bed.deviceFeatures() & VIRTIO_CONSOLE_F_EMERG_WRITE, VIRTIO_CONSOLE_F_EMERG_WRITE);
  bed.start(VIRTIO_CONSOLE_F_EMERG_WRITE);
  bed.setDeviceConfig(8, 4, 0x41);
  assert.deepEqual(out, [0x41]);
});

test('pending input survives save and restore', () => {
  const { device } = setup();
  device.input(new TextEncoder().encode('abc'));
  const copy = new VirtioConsole(() => {});
  copy.restoreState(JSON.parse(JSON.stringify(device.saveState())));
  const bed = new VirtioPciTestbed(copy);
  const [rx] = bed.start();
  rx.add([{ addr: 0x4000, len: 8, write: true }]);
  bed.notify(0);
  assert.equal(new TextDecoder().decode(bed.memory.slice(0x4000, 3)), 'abc');
});
