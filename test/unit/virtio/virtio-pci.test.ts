import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessSize } from '../../../src/bus/device.ts';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  type VirtioContext,
  type VirtioDevice,
} from '../../../src/devices/virtio/virtio-device.ts';
import { PCI_MMIO_BASE } from '../../../src/machine/layout.ts';
import { VirtioPciTestbed } from './pci-driver.ts';

/** A device with two queues that echoes each readable byte count back as the used length. */
class EchoDevice implements VirtioDevice {
  readonly name = 'echo';
  readonly deviceType = 0x20;
  readonly features = 1n << 3n;
  readonly queueMaxSizes = [16, 8];
  readonly configSizeBytes = 8;
  config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  context: VirtioContext | undefined;
  notified: number[] = [];
  resets = 0;
  throwOnNotify = false;

  configRead(offset: number, size: AccessSize): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.config[offset + i];
    return v >>> 0;
  }
  configWrite(offset: number, _size: AccessSize, value: number): void {
    this.config[offset] = value;
  }
  activate(context: VirtioContext): void {
    this.context = context;
  }
  notify(queueIndex: number): void {
    this.notified.push(queueIndex);
    if (this.throwOnNotify) throw new Error('boom');
    const q = this.context!.queue(queueIndex)!;
    for (let c = q.pop(); c; c = q.pop()) q.push(c, c.readableBytes);
    q.signalUsed();
  }
  reset(): void {
    this.resets++;
    this.context = undefined;
  }
  saveState(): unknown {
    return { config: [...this.config] };
  }
  restoreState(state: unknown): void {
    this.config.set((state as { config: number[] }).config);
  }
}

test('PCI identity and virtio capabilities', () => {
  const bed = new VirtioPciTestbed(new EchoDevice());
  assert.equal(bed.cfgRead(0, 2), 0x1af4);
  assert.equal(bed.cfgRead(2, 2), 0x1040 + 0x20);
  assert.equal(bed.cfgRead(8, 1), 1);
  assert.equal(bed.cfgRead(0x2c, 2), 0x1af4);
  assert.ok(bed.cfgRead(0x2e, 2) >= 0x40);
  assert.equal(bed.cfgRead(0x3d, 1), 1);
  assert.equal(bed.cfgRead(0x06, 2) & 0x10, 0x10);
  assert.equal(bed.cfgRead(0x10, 4), PCI_MMIO_BASE);
  const caps = bed.discover();
  assert.deepEqual([...caps.keys()].sort(), [1, 2, 3, 4, 5]);
  assert.equal(caps.get(1)!.length, 0x38);
  assert.equal(caps.get(2)!.length, 8);
  assert.equal(caps.get(3)!.length, 1);
  assert.equal(caps.get(4)!.length, 8);
  assert.equal(bed.cfgRead(caps.get(2)!.capOffset + 2, 1), 20);
  assert.equal(bed.cfgRead(caps.get(2)!.capOffset + 16, 4), 4);
  for (const cap of caps.values()) assert.ok(cap.offset + cap.length <= 0x4000);
});

test('feature negotiation: VERSION_1 is offered and required, unknown bits are refused', () => {
  const bed = new VirtioPciTestbed(new EchoDevice());
  bed.discover();
  const offered = bed.deviceFeatures();
  assert.equal(offered, VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX | (1n << 3n));
  bed.setCommon(0x00, 4, 2);
  assert.equal(bed.common(0x04, 4), 0);
  assert.equal(bed.negotiate(1n << 3n), false);
  assert.equal(bed.negotiate(VIRTIO_F_VERSION_1 | (1n << 4n)), false);
  assert.equal(bed.negotiate(VIRTIO_F_VERSION_1 | (1n << 3n)), true);
  bed.setCommon(0x08, 4, 0);
  bed.setCommon(0x0c, 4, 0);
  assert.equal(bed.common(0x0c, 4), 1 << 3, 'driver features are frozen after FEATURES_OK');
  bed.setCommon(0x08, 4, 1);
  assert.equal(bed.common(0x0c, 4), 1);
});

test('queue registers, notify offsets and reset', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  bed.negotiate(VIRTIO_F_VERSION_1);
  assert.equal(bed.common(0x12, 2), 2);
  bed.setCommon(0x16, 2, 1);
  assert.equal(bed.common(0x18, 2), 8);
  assert.equal(bed.common(0x1e, 2), 1);
  assert.equal(bed.common(0x1a, 2), 0xffff);
  assert.equal(bed.common(0x10, 2), 0xffff);
  bed.setCommon(0x16, 2, 7);
  assert.equal(bed.common(0x18, 2), 0);
  const resetsBefore = device.resets;
  const ring = bed.setupQueue(0, 4);
  bed.setCommon(0x16, 2, 0);
  assert.equal(bed.common(0x18, 2), 4);
  assert.equal(bed.common(0x1c, 2), 1);
  assert.equal(bed.common(0x20, 4), ring.descAddr);
  assert.equal(bed.common(0x28, 4), ring.driverAddr);
  assert.equal(bed.common(0x30, 4), ring.deviceAddr);
  bed.setCommon(0x18, 2, 2);
  assert.equal(bed.common(0x18, 2), 4, 'an enabled queue is frozen');
  bed.setCommon(0x14, 1, 0);
  assert.equal(bed.status(), 0);
  assert.equal(device.resets, resetsBefore + 1);
  assert.equal(bed.common(0x18, 2), 16);
  assert.equal(bed.common(0x1c, 2), 0);
  assert.equal(bed.common(0x20, 4), 0);
});

test('used buffers raise INTx through the ISR, and reading the ISR clears it', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  const [q0, q1] = bed.start();
  q1.add([{ addr: 0x2000, len: 5 }]);
  bed.notify(1);
  assert.deepEqual(device.notified, [0, 1, 1]);
  assert.deepEqual(q1.takeUsed(), [{ id: 0, len: 5 }]);
  assert.equal(bed.irq.level, true);
  assert.equal(bed.cfgRead(0x06, 2) & 0x08, 0x08);
  assert.equal(bed.readIsr(), 1);
  assert.equal(bed.irq.level, false);
  assert.equal(bed.readIsr(), 0);
  assert.deepEqual(q0.takeUsed(), []);
});

test('buffers made available before DRIVER_OK are served when it is set, not before', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  bed.negotiate(VIRTIO_F_VERSION_1);
  const ring = bed.setupQueue(0);
  ring.add([{ addr: 0x2000, len: 3 }]);
  bed.notify(0);
  assert.deepEqual(device.notified, []);
  bed.driverOk();
  assert.deepEqual(ring.takeUsed(), [{ id: 0, len: 3 }]);
});

test('DRIVER_OK without FEATURES_OK leaves the device needing a reset', () => {
  const bed = new VirtioPciTestbed(new EchoDevice());
  bed.discover();
  bed.setCommon(0x14, 1, 0x03);
  bed.setCommon(0x14, 1, 0x07);
  assert.equal(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.match(bed.warnings[0], /without FEATURES_OK/);
});

test('a malformed ring sets DEVICE_NEEDS_RESET and sends a config change interrupt', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  const [ring] = bed.start();
  ring.publish(99);
  bed.notify(0);
  assert.equal(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.equal(bed.status() & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
  assert.equal(bed.irq.level, true);
  assert.equal(bed.readIsr(), 2);
  assert.match(bed.fn.error!, /echo queue 0: descriptor index 99/);
  bed.setCommon(0x14, 1, bed.status() | 0x01);
  assert.ok(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 'the driver cannot clear NEEDS_RESET');
  bed.notify(0);
  assert.equal(device.notified.length, 3, "notifies after NEEDS_RESET are ignored");
  const [again] = bed.start();
  assert.equal(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
  again.add([{ addr: 0x2000, len: 1 }]);
  bed.notify(0);
  assert.deepEqual(again.takeUsed(), [{ id: 0, len: 1 }]);
});

test('queue areas outside RAM or a size above the maximum break the device, not the host', () => {
  const bed = new VirtioPciTestbed(new EchoDevice());
  bed.negotiate(VIRTIO_F_VERSION_1);
  bed.setCommon(0x16, 2, 0);
  bed.setCommon(0x20, 4, 0xffff_f000);
  bed.setCommon(0x1c, 2, 1);
  assert.ok(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.match(bed.fn.error!, /outside RAM/);
  bed.negotiate(VIRTIO_F_VERSION_1);
  bed.setCommon(0x16, 2, 1);
  bed.setCommon(0x18, 2, 32);
  bed.setCommon(0x1c, 2, 1);
  assert.match(bed.fn.error!, /exceeds the maximum 8/);
});

test('an exception inside the device marks it broken instead of escaping', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  bed.start();
  device.throwOnNotify = true;
  assert.doesNotThrow(() => bed.notify(0));
  assert.ok(bed.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.match(bed.fn.error!, /internal error: boom/);
});

test('device config space, config generation and config change interrupts', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  bed.start();
  assert.equal(bed.deviceConfig(0, 4), 0x04030201);
  assert.equal(bed.deviceConfig(6, 2), 0x0807);
  assert.equal(bed.deviceConfig(8, 4), 0);
  const generation = bed.common(0x15, 1);
  device.context!.configChanged();
  assert.equal(bed.common(0x15, 1), (generation + 1) & 0xff);
  assert.equal(bed.irq.level, true);
  assert.equal(bed.readIsr(), 2);
});

test('VIRTIO_PCI_CAP_PCI_CFG gives access to the BAR through configuration space', () => {
  const bed = new VirtioPciTestbed(new EchoDevice());
  const cap = bed.discover().get(5)!;
  bed.cfgWrite(cap.capOffset + 4, 1, 0);
  bed.cfgWrite(cap.capOffset + 8, 4, 0x12);
  bed.cfgWrite(cap.capOffset + 12, 4, 2);
  assert.equal(bed.cfgRead(cap.capOffset + 16, 2), 2, 'num_queues');
  bed.cfgWrite(cap.capOffset + 8, 4, 0x14);
  bed.cfgWrite(cap.capOffset + 12, 4, 1);
  bed.cfgWrite(cap.capOffset + 16, 1, 0x01);
  assert.equal(bed.status(), 0x01);
  bed.cfgWrite(cap.capOffset + 12, 4, 3);
  assert.equal(bed.cfgRead(cap.capOffset + 16, 4), 0);
});

test('INTx disable in the command register masks the line but keeps the ISR', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  const [ring] = bed.start();
  bed.cfgWrite(0x04, 2, bed.cfgRead(0x04, 2) | 0x400);
  ring.add([{ addr: 0x2000, len: 1 }]);
  bed.notify(0);
  assert.equal(bed.irq.level, false);
  bed.cfgWrite(0x04, 2, bed.cfgRead(0x04, 2) & ~0x400);
  assert.equal(bed.irq.level, true);
  assert.equal(bed.readIsr(), 1);
  assert.equal(bed.irq.level, false);
});

test('save and restore carries negotiated state and ring positions', () => {
  const device = new EchoDevice();
  const bed = new VirtioPciTestbed(device);
  const [ring] = bed.start(VIRTIO_F_EVENT_IDX);
  ring.add([{ addr: 0x2000, len: 1 }]);
  bed.notify(0);
  assert.deepEqual(ring.takeUsed(), [{ id: 0, len: 1 }]);
  device.config[0] = 42;
  const state = JSON.parse(JSON.stringify(bed.fn.saveState()));
  const head = ring.add([{ addr: 0x2000, len: 7 }]);

  const device2 = new EchoDevice();
  const bed2 = new VirtioPciTestbed(device2);
  bed2.memory.u8.set(bed.memory.u8);
  bed2.fn.restoreState(state);
  bed2.discover();
  assert.equal(bed2.status() & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK), VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK);
  assert.equal(bed2.deviceConfig(0, 1), 42);
  assert.equal(device2.context!.features & VIRTIO_F_EVENT_IDX, VIRTIO_F_EVENT_IDX);
  bed2.notify(0);
  const ring2 = Object.assign(Object.create(Object.getPrototypeOf(ring)), ring, { memory: bed2.memory });
  assert.deepEqual(ring2.takeUsed(), [{ id: head, len: 7 }]);
});
