import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../../src/memory/guest-memory.ts';
import {
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  Virtqueue,
} from '../../../src/devices/virtio/virtqueue.ts';
import { RingDriver } from './ring-driver.ts';

const RAM_BYTES = 0x10_0000;

function setup(size = 8, eventIdx = false) {
  const memory = new GuestMemory(RAM_BYTES);
  const ring = new RingDriver(memory, size, 0x1000);
  const events = { interrupts: 0, broken: [] as string[] };
  const queue = new Virtqueue(
    memory,
    { size, descAddr: ring.descAddr, driverAddr: ring.driverAddr, deviceAddr: ring.deviceAddr, eventIdx },
    { interrupt: () => events.interrupts++, broken: (r) => events.broken.push(r) },
  );
  return { memory, ring, queue, events };
}

test('pops a chain with readable then writable segments and returns it on the used ring', () => {
  const { memory, ring, queue, events } = setup();
  memory.writeBytes(0x8000, new Uint8Array([1, 2, 3, 4]));
  memory.writeBytes(0x9000, new Uint8Array([5, 6]));
  const head = ring.add([
    { addr: 0x8000, len: 4 },
    { addr: 0x9000, len: 2 },
    { addr: 0xa000, len: 3, write: true },
    { addr: 0xb000, len: 5, write: true },
  ]);
  assert.equal(queue.pending(), 1);
  const chain = queue.pop()!;
  assert.equal(chain.head, head);
  assert.equal(chain.readableBytes, 6);
  assert.equal(chain.writableBytes, 8);
  assert.deepEqual([...chain.read(0, 100)], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...chain.read(3, 2)], [4, 5]);
  assert.equal(chain.write(1, new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9, 9])), 7);
  assert.deepEqual([...memory.slice(0xa000, 3)], [0, 9, 9]);
  assert.deepEqual([...memory.slice(0xb000, 5)], [9, 9, 9, 9, 9]);
  assert.equal(queue.pop(), undefined);
  queue.push(chain, 8);
  assert.equal(events.interrupts, 0);
  queue.signalUsed();
  assert.equal(events.interrupts, 1);
  queue.signalUsed();
  assert.equal(events.interrupts, 1);
  assert.deepEqual(ring.takeUsed(), [{ id: head, len: 8 }]);
  assert.deepEqual(events.broken, []);
});

test('ring indices wrap around 2^16 and the ring size', () => {
  const { ring, queue } = setup(4);
  for (let i = 0; i < 70000; i++) {
    ring.add([{ addr: 0x8000, len: 1, write: true }]);
    const chain = queue.pop()!;
    queue.push(chain, 1);
  }
  assert.equal(ring.usedIdx(), 70000 & 0xffff);
  assert.equal(ring.takeUsed().length, 70000 & 0xffff);
});

test('indirect descriptor tables', () => {
  const { memory, ring, queue, events } = setup();
  memory.writeBytes(0x8000, new Uint8Array([7, 7]));
  const head = ring.indirectChain(
    [
      { addr: 0x8000, len: 2 },
      { addr: 0xa000, len: 16, write: true },
    ],
    0x6000,
  );
  ring.publish(head);
  const chain = queue.pop()!;
  assert.equal(chain.head, head);
  assert.equal(chain.readableBytes, 2);
  assert.equal(chain.writableBytes, 16);
  assert.deepEqual(events.broken, []);
});

test('a descriptor loop marks the queue broken instead of hanging', () => {
  const { ring, queue, events } = setup();
  ring.writeDesc(0, 0x8000, 1, VIRTQ_DESC_F_NEXT, 1);
  ring.writeDesc(1, 0x8001, 1, VIRTQ_DESC_F_NEXT, 0);
  ring.publish(0);
  assert.equal(queue.pop(), undefined);
  assert.equal(queue.broken, true);
  assert.match(events.broken[0], /loops/);
  assert.equal(queue.pop(), undefined);
  assert.equal(events.broken.length, 1);
});

test('a loop inside an indirect table is caught', () => {
  const { ring, queue, events } = setup();
  ring.writeDesc(0, 0x8000, 1, VIRTQ_DESC_F_NEXT, 1, 0x6000);
  ring.writeDesc(1, 0x8000, 1, VIRTQ_DESC_F_NEXT, 0, 0x6000);
  ring.writeDesc(0, 0x6000, 32, VIRTQ_DESC_F_INDIRECT, 0);
  ring.publish(0);
  assert.equal(queue.pop(), undefined);
  assert.match(events.broken[0], /loops/);
});

const malformed: [string, (ring: RingDriver, memory: GuestMemory) => void, RegExp][] = [
  ['buffer outside RAM', (r) => r.publish(r.chain([{ addr: RAM_BYTES - 4, len: 8 }])), /outside RAM/],
  ['64-bit buffer address', (r, m) => {
    r.writeDesc(0, 0x8000, 4, 0, 0);
    m.write32(r.descAddr + 4, 1);
    r.publish(0);
  }, /outside RAM/],
  ['head index beyond the table', (r) => r.publish(9), /outside a table/],
  ['next index beyond the table', (r) => {
    r.writeDesc(0, 0x8000, 1, VIRTQ_DESC_F_NEXT, 100);
    r.publish(0);
  }, /outside a table/],
  ['readable after writable', (r) => r.add([{ addr: 0x8000, len: 1, write: true }, { addr: 0x9000, len: 1 }]), /readable descriptor after/],
  ['indirect with NEXT', (r) => {
    r.writeDesc(0, 0x6000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    r.publish(0);
  }, /not alone/],
  ['indirect table of odd length', (r) => {
    r.writeDesc(0, 0x6000, 24, VIRTQ_DESC_F_INDIRECT, 0);
    r.publish(0);
  }, /multiple of 16/],
  ['indirect table outside RAM', (r) => {
    r.writeDesc(0, RAM_BYTES - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    r.publish(0);
  }, /outside RAM/],
  ['nested indirect', (r) => {
    r.writeDesc(0, 0x7000, 16, VIRTQ_DESC_F_INDIRECT, 0, 0x6000);
    r.writeDesc(0, 0x6000, 16, VIRTQ_DESC_F_INDIRECT, 0);
    r.publish(0);
  }, /inside an indirect/],
  ['available index too far ahead', (r, m) => m.write16(r.driverAddr + 2, 9), /more than the queue size/],
];

for (const [name, build, message] of malformed) {
  test(`malformed ring: ${name}`, () => {
    const { memory, ring, queue, events } = setup();
    build(ring, memory);
    assert.equal(queue.pop(), undefined);
    assert.equal(queue.broken, true);
    assert.equal(events.broken.length, 1);
    assert.match(events.broken[0], message);
    queue.push(0, 0);
    queue.signalUsed();
    assert.equal(events.interrupts, 0);
  });
}

test('queue areas outside RAM, misaligned or of a bad size break the queue at creation', () => {
  const memory = new GuestMemory(RAM_BYTES);
  const configs = [
    { size: 8, descAddr: RAM_BYTES - 64, driverAddr: 0x2000, deviceAddr: 0x3000 },
    { size: 8, descAddr: 0x1008, driverAddr: 0x2000, deviceAddr: 0x3000 },
    { size: 8, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3002 },
    { size: 6, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000 },
    { size: 0, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000 },
    { size: 8, descAddr: 0x1000, driverAddr: 2 ** 40, deviceAddr: 0x3000 },
  ];
  for (const config of configs) {
    const broken: string[] = [];
    const queue = new Virtqueue(memory, { ...config, eventIdx: false }, { interrupt() {}, broken: (r) => broken.push(r) });
    assert.equal(queue.broken, true, JSON.stringify(config));
    assert.equal(broken.length, 1);
    assert.equal(queue.pop(), undefined);
  }
});

test('VIRTQ_AVAIL_F_NO_INTERRUPT suppresses used buffer notifications', () => {
  const { ring, queue, events } = setup();
  ring.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
  ring.add([{ addr: 0x8000, len: 1, write: true }]);
  queue.push(queue.pop()!, 1);
  queue.signalUsed();
  assert.equal(events.interrupts, 0);
  ring.setAvailFlags(0);
  ring.add([{ addr: 0x8000, len: 1, write: true }]);
  queue.push(queue.pop()!, 1);
  queue.signalUsed();
  assert.equal(events.interrupts, 1);
});

test('VIRTIO_F_EVENT_IDX: used_event gates interrupts and avail_event tracks consumption', () => {
  const { ring, queue, events } = setup(8, true);
  for (let i = 0; i < 3; i++) ring.add([{ addr: 0x8000, len: 1, write: true }]);
  ring.setUsedEvent(2);
  queue.push(queue.pop()!, 1);
  queue.signalUsed();
  assert.equal(events.interrupts, 0, 'used idx 1 has not passed used_event 2');
  queue.push(queue.pop()!, 1);
  queue.signalUsed();
  assert.equal(events.interrupts, 0, 'used idx 2 has not passed used_event 2');
  queue.push(queue.pop()!, 1);
  queue.signalUsed();
  assert.equal(events.interrupts, 1, 'used idx 3 crossed used_event 2');
  assert.equal(queue.pop(), undefined);
  assert.equal(ring.availEvent(), 3);
  ring.add([{ addr: 0x8000, len: 1, write: true }]);
  ring.add([{ addr: 0x8000, len: 1, write: true }]);
  ring.setUsedEvent(3);
  queue.push(queue.pop()!, 1);
  queue.push(queue.pop()!, 1);
  queue.signalUsed();
  assert.equal(events.interrupts, 2, 'a batch crossing used_event interrupts once');
  assert.equal(ring.availEvent(), 5);
});

test('save and restore keeps the ring positions', () => {
  const { memory, ring, queue } = setup();
  ring.add([{ addr: 0x8000, len: 1, write: true }]);
  queue.push(queue.pop()!, 1);
  ring.add([{ addr: 0x8000, len: 1, write: true }]);
  const state = queue.saveState();
  const copy = new Virtqueue(memory, queue.config, { interrupt() {}, broken() {} });
  copy.restoreState(state);
  const chain = copy.pop()!;
  assert.equal(chain.head, 1);
  copy.push(chain, 1);
  assert.equal(ring.usedIdx(), 2);
});

test('zero-length descriptors are dropped and WRITE flags are honoured', () => {
  const { ring, queue } = setup();
  ring.add([{ addr: 0x8000, len: 0 }, { addr: 0x9000, len: 4, write: true }]);
  const chain = queue.pop()!;
  assert.equal(chain.readable.length, 0);
  assert.deepEqual(chain.writable, [{ addr: 0x9000, len: 4 }]);
  assert.equal(VIRTQ_DESC_F_WRITE, 2);
});
