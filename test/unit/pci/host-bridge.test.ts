import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../../src/bus/bus.ts';
import type { AccessSize, BusDevice, IrqLine } from '../../../src/bus/device.ts';
import { PCI_IO_BASE, PCI_IRQS, PCI_MMIO_BASE } from '../../../src/machine/layout.ts';
import { PciHostBridge, PciSlotError } from '../../../src/devices/pci/host-bridge.ts';
import { PCI_INTERRUPT_PIN_INTA, PciConfigSpace } from '../../../src/devices/pci/config-space.ts';
import type { PciBarRequest, PciFunction } from '../../../src/devices/pci/pci-device.ts';

class Registers implements BusDevice {
  readonly writes: [number, number, number][] = [];
  read(offset: number): number {
    return 0xab00 + offset;
  }
  write(offset: number, size: AccessSize, value: number): void {
    this.writes.push([offset, size, value]);
  }
}

class FakeFunction implements PciFunction {
  readonly config: PciConfigSpace;
  readonly bars: PciBarRequest[];
  constructor(readonly name: string, irq?: IrqLine) {
    this.config = new PciConfigSpace(
      { vendorId: 0x1234, deviceId: 0x5678, classCode: 0xff0000, interruptPin: PCI_INTERRUPT_PIN_INTA },
      irq,
    );
    this.bars = [
      { index: 0, kind: 'memory', sizeBytes: 0x1000, device: new Registers(), name: 'mem' },
      { index: 2, kind: 'io', sizeBytes: 0x20, device: new Registers(), name: 'io' },
    ];
    for (const bar of this.bars) this.config.defineBar(bar.index, bar.kind, bar.sizeBytes);
  }
  configRead(offset: number, size: AccessSize): number {
    return this.config.read(offset, size);
  }
  configWrite(offset: number, size: AccessSize, value: number): void {
    this.config.write(offset, size, value);
  }
}

class FakeIrq implements IrqLine {
  level = false;
  set(level: boolean): void {
    this.level = level;
  }
}

function setup() {
  const io = new Bus('io');
  const mmio = new Bus('mmio');
  const irqs = new Map<number, FakeIrq>();
  const reset = new Registers();
  const bridge = new PciHostBridge({
    ioBus: io,
    mmioBus: mmio,
    irqLine: (irq) => {
      const line = new FakeIrq();
      irqs.set(irq, line);
      return line;
    },
    resetControl: reset,
  });
  io.register(0xcf8, 4, bridge.addressPort, 'pci-address');
  io.register(0xcfc, 4, bridge.dataPort, 'pci-data');
  const cfg = {
    read(slot: number, reg: number, size: AccessSize): number {
      io.write(0xcf8, 4, 0x8000_0000 | (slot << 11) | (reg & 0xfc));
      return io.read(0xcfc + (reg & 3), size);
    },
    write(slot: number, reg: number, size: AccessSize, value: number): void {
      io.write(0xcf8, 4, 0x8000_0000 | (slot << 11) | (reg & 0xfc));
      io.write(0xcfc + (reg & 3), size, value);
    },
  };
  return { io, mmio, irqs, reset, bridge, cfg };
}

test('CONFIG_ADDRESS is a 32-bit register; Linux pci_check_type1 sequence works', () => {
  const { io, reset } = setup();
  io.write(0xcfb, 1, 0x01);
  const saved = io.read(0xcf8, 4);
  io.write(0xcf8, 4, 0x8000_0000);
  assert.equal(io.read(0xcf8, 4), 0x8000_0000);
  io.write(0xcf8, 4, saved);
  assert.equal(io.read(0xcf8, 4), saved);
  io.write(0xcf8, 2, 0x1234);
  io.write(0xcf8, 1, 0x56);
  assert.equal(io.read(0xcf8, 4), saved);
  assert.equal(io.read(0xcf8, 1), 0xff);
  assert.equal(io.read(0xcfa, 1), 0xff);
  io.write(0xcf9, 1, 0x06);
  assert.deepEqual(reset.writes, [[0, 1, 0x06]]);
});

test('host bridge at 00:00.0 is a 440FX host bridge', () => {
  const { cfg } = setup();
  assert.equal(cfg.read(0, 0, 4), 0x1237_8086);
  assert.equal(cfg.read(0, 0, 2), 0x8086);
  assert.equal(cfg.read(0, 2, 2), 0x1237);
  assert.equal(cfg.read(0, 0x0a, 2), 0x0600);
  assert.equal(cfg.read(0, 0x0b, 1), 0x06);
  assert.equal(cfg.read(0, 0x0e, 1), 0x00);
});

test('missing devices, other buses and functions, and a disabled address read all ones', () => {
  const { io, cfg } = setup();
  assert.equal(cfg.read(5, 0, 4), 0xffffffff);
  assert.equal(cfg.read(5, 0, 2), 0xffff);
  assert.equal(cfg.read(5, 2, 1), 0xff);
  io.write(0xcf8, 4, 0x8001_0000);
  assert.equal(io.read(0xcfc, 4), 0xffffffff);
  io.write(0xcf8, 4, 0x8000_0100);
  assert.equal(io.read(0xcfc, 4), 0xffffffff);
  io.write(0xcf8, 4, 0x0000_0000);
  assert.equal(io.read(0xcfc, 4), 0xffffffff);
  cfg.write(5, 0x04, 2, 0xffff);
});

test('attach assigns BARs from the PCI windows, presets the IRQ and maps the BARs', () => {
  const { io, mmio, bridge, cfg } = setup();
  const fn = new FakeFunction('fake');
  bridge.attach(3, fn);
  assert.equal(cfg.read(3, 0, 4), 0x5678_1234);
  assert.equal(cfg.read(3, 0x10, 4), PCI_MMIO_BASE);
  assert.equal(cfg.read(3, 0x18, 4), PCI_IO_BASE | 1);
  assert.equal(cfg.read(3, 0x14, 4), 0);
  assert.equal(cfg.read(3, 0x04, 2) & 3, 3);
  assert.equal(cfg.read(3, 0x3c, 1), PCI_IRQS[3]);
  assert.equal(cfg.read(3, 0x3d, 1), 1);
  assert.equal(mmio.read(PCI_MMIO_BASE + 0x10, 4), 0xab10);
  assert.equal(io.read(PCI_IO_BASE + 4, 2), 0xab04);
  const other = new FakeFunction('other');
  bridge.attach(4, other);
  assert.equal(cfg.read(4, 0x10, 4), PCI_MMIO_BASE + 0x1000);
  assert.equal(cfg.read(4, 0x18, 4), PCI_IO_BASE + 0x20 | 1);
  assert.throws(() => bridge.attach(4, new FakeFunction('third')), PciSlotError);
  assert.throws(() => bridge.attach(0, new FakeFunction('third')), PciSlotError);
  assert.throws(() => bridge.attach(32, new FakeFunction('third')), PciSlotError);
});

test('BAR sizing reads back the size mask and the type bits', () => {
  const { bridge, cfg, mmio } = setup();
  bridge.attach(1, new FakeFunction('fake'));
  cfg.write(1, 0x04, 2, 0);
  cfg.write(1, 0x10, 4, 0xffffffff);
  assert.equal(cfg.read(1, 0x10, 4), 0xfffff000);
  cfg.write(1, 0x18, 4, 0xffffffff);
  assert.equal(cfg.read(1, 0x18, 4), 0xffffffe1);
  cfg.write(1, 0x14, 4, 0xffffffff);
  assert.equal(cfg.read(1, 0x14, 4), 0);
  cfg.write(1, 0x30, 4, 0xffffffff);
  assert.equal(cfg.read(1, 0x30, 4), 0);
  assert.equal(mmio.isClaimed(0xfffff000), false);
  cfg.write(1, 0x10, 4, PCI_MMIO_BASE);
  cfg.write(1, 0x04, 2, 3);
  assert.equal(mmio.read(PCI_MMIO_BASE, 4), 0xab00);
});

test('moving a BAR and toggling decode remaps it on the bus', () => {
  const { io, mmio, bridge, cfg } = setup();
  const fn = new FakeFunction('fake');
  bridge.attach(2, fn);
  cfg.write(2, 0x10, 4, 0xe100_0000);
  assert.equal(mmio.isClaimed(PCI_MMIO_BASE), false);
  assert.equal(mmio.read(0xe100_0008, 4), 0xab08);
  cfg.write(2, 0x04, 2, 0x0001);
  assert.equal(mmio.isClaimed(0xe100_0000), false);
  assert.equal(io.isClaimed(PCI_IO_BASE), true);
  cfg.write(2, 0x04, 2, 0x0002);
  assert.equal(io.isClaimed(PCI_IO_BASE), false);
  assert.equal(mmio.isClaimed(0xe100_0000), true);
  cfg.write(2, 0x18, 4, 0xd000);
  cfg.write(2, 0x04, 2, 0x0003);
  io.write(0xd010, 2, 0x4242);
  assert.deepEqual((fn.bars[1].device as Registers).writes, [[0x10, 2, 0x4242]]);
});

test('a BAR moved onto another device is left unmapped instead of throwing', () => {
  const warnings: string[] = [];
  const io = new Bus('io');
  const mmio = new Bus('mmio');
  const b = new PciHostBridge({ ioBus: io, mmioBus: mmio, irqLine: () => new FakeIrq(), warn: (m) => warnings.push(m) });
  io.register(0xcf8, 4, b.addressPort, 'a');
  io.register(0xcfc, 4, b.dataPort, 'd');
  b.attach(1, new FakeFunction('one'));
  b.attach(2, new FakeFunction('two'));
  io.write(0xcf8, 4, 0x8000_0000 | (2 << 11) | 0x10);
  io.write(0xcfc, 4, PCI_MMIO_BASE);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /two BAR0 left unmapped/);
  assert.equal(mmio.read(PCI_MMIO_BASE, 4), 0xab00);
});

test('INTx: slots share the routed IRQ as a wired-OR; INTx disable masks it', () => {
  const { bridge, irqs, cfg } = setup();
  const a = new FakeFunction('a', bridge.intxLine(1));
  const b = new FakeFunction('b', bridge.intxLine(5));
  bridge.attach(1, a);
  bridge.attach(5, b);
  const line = irqs.get(PCI_IRQS[1])!;
  a.config.setInterrupt(true);
  b.config.setInterrupt(true);
  assert.equal(line.level, true);
  a.config.setInterrupt(false);
  assert.equal(line.level, true);
  assert.equal(cfg.read(5, 0x06, 2) & 0x08, 0x08);
  cfg.write(5, 0x04, 2, cfg.read(5, 0x04, 2) | 0x400);
  assert.equal(line.level, false);
  cfg.write(5, 0x04, 2, cfg.read(5, 0x04, 2) & ~0x400);
  assert.equal(line.level, true);
  b.config.setInterrupt(false);
  assert.equal(line.level, false);
  assert.equal(cfg.read(5, 0x06, 2) & 0x08, 0);
});

test('save and restore remaps BARs from restored configuration space', () => {
  const first = setup();
  const fn = new FakeFunction('fake');
  first.bridge.attach(1, fn);
  first.cfg.write(1, 0x10, 4, 0xe800_0000);
  const fnState = fn.config.saveState();
  const bridgeState = first.bridge.saveState();

  const second = setup();
  const fn2 = new FakeFunction('fake');
  second.bridge.attach(1, fn2);
  fn2.config.restoreState(fnState);
  second.bridge.restoreState(bridgeState);
  assert.equal(second.mmio.isClaimed(PCI_MMIO_BASE), false);
  assert.equal(second.mmio.read(0xe800_0000, 4), 0xab00);
  assert.equal(second.io.read(0xcf8, 4), bridgeState.configAddress);
});
