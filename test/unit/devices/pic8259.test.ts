import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pic8259Pair } from '../../../src/devices/pic8259.ts';

const MASTER_CMD = 0;
const DATA = 1;

function pulse(pic: Pic8259Pair, irq: number): void {
  pic.irqLine(irq).set(true);
  pic.irqLine(irq).set(false);
}

/** arch/x86/kernel/i8259.c: probe_8259A, then init_8259A(0), then unmask what is asked for. */
function linuxInit(pic: Pic8259Pair, masterMask = 0xfb, slaveMask = 0xff): void {
  pic.slave.write(DATA, 1, 0xff);
  pic.master.write(DATA, 1, 0xfb);
  assert.equal(pic.master.read(DATA, 1), 0xfb, 'probe reads back the mask');
  pic.master.write(DATA, 1, 0xff);
  pic.master.write(MASTER_CMD, 1, 0x11);
  pic.master.write(DATA, 1, 0x30);
  pic.master.write(DATA, 1, 0x04);
  pic.master.write(DATA, 1, 0x01);
  pic.slave.write(MASTER_CMD, 1, 0x11);
  pic.slave.write(DATA, 1, 0x38);
  pic.slave.write(DATA, 1, 0x02);
  pic.slave.write(DATA, 1, 0x01);
  pic.master.write(DATA, 1, masterMask);
  pic.slave.write(DATA, 1, slaveMask);
}

/** mask_and_ack_8259A: mask, then specific EOI (to the slave and then the cascade line for IRQ >= 8). */
function linuxEoi(pic: Pic8259Pair, irq: number): void {
  if (irq >= 8) {
    pic.slave.write(MASTER_CMD, 1, 0x60 + (irq & 7));
    pic.master.write(MASTER_CMD, 1, 0x62);
  } else {
    pic.master.write(MASTER_CMD, 1, 0x60 + irq);
  }
}

function readIsr(chip: { read(o: number, s: 1): number; write(o: number, s: 1, v: number): void }): number {
  chip.write(MASTER_CMD, 1, 0x0b);
  const isr = chip.read(MASTER_CMD, 1);
  chip.write(MASTER_CMD, 1, 0x0a);
  return isr;
}

test('Linux init sequence: vectors from ICW2, IMR read back, IRR after OCW3', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0xfa);
  assert.equal(pic.hasInterrupt(), false);
  pic.irqLine(0).set(true);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.master.read(MASTER_CMD, 1), 0x01, 'IRR is the default read');
  assert.equal(pic.acknowledge(), 0x30);
  assert.equal(pic.hasInterrupt(), false);
  assert.equal(readIsr(pic.master), 0x01);
  assert.equal(pic.master.read(MASTER_CMD, 1), 0x00, 'the edge request left IRR when acknowledged');
  linuxEoi(pic, 0);
  assert.equal(readIsr(pic.master), 0);
  assert.equal(pic.master.read(DATA, 1), 0xfa);
  assert.equal(pic.slave.read(DATA, 1), 0xff);
});

test('masked requests stay in IRR and are delivered on unmask', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0xff);
  pulse(pic, 4);
  assert.equal(pic.hasInterrupt(), false);
  assert.equal(pic.master.read(MASTER_CMD, 1), 0x10);
  pic.master.write(DATA, 1, 0xef);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x34);
});

test('fixed priority: lower IRQ first, nesting only for higher priority', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0x00, 0x00);
  pulse(pic, 3);
  pulse(pic, 5);
  assert.equal(pic.acknowledge(), 0x33);
  assert.equal(pic.hasInterrupt(), false, 'IRQ5 waits while IRQ3 is in service');
  pulse(pic, 1);
  assert.equal(pic.hasInterrupt(), true, 'IRQ1 preempts IRQ3');
  assert.equal(pic.acknowledge(), 0x31);
  assert.equal(readIsr(pic.master), 0x0a);
  pic.master.write(MASTER_CMD, 1, 0x20); // non-specific EOI ends the highest priority (IRQ1)
  assert.equal(readIsr(pic.master), 0x08);
  assert.equal(pic.hasInterrupt(), false);
  pic.master.write(MASTER_CMD, 1, 0x20);
  assert.equal(pic.acknowledge(), 0x35);
});

test('cascade: slave IRQs arrive through master IR2 with the slave vector', () => {
  let changes = 0;
  const pic = new Pic8259Pair(() => changes++);
  linuxInit(pic, 0xfb, 0xfe);
  pic.irqLine(8).set(true);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(changes, 1);
  assert.equal(pic.acknowledge(), 0x38);
  assert.equal(changes, 2);
  assert.equal(readIsr(pic.master), 0x04);
  assert.equal(readIsr(pic.slave), 0x01);
  pic.irqLine(8).set(false);
  pic.irqLine(8).set(true);
  assert.equal(pic.hasInterrupt(), false, 'in service until EOI');
  linuxEoi(pic, 8);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x38);
});

test('a slave request while the master serves a lower priority IRQ still gets through', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0x00, 0x00);
  pulse(pic, 4);
  assert.equal(pic.acknowledge(), 0x34);
  pulse(pic, 12);
  assert.equal(pic.acknowledge(), 0x3c);
  pulse(pic, 0);
  assert.equal(pic.acknowledge(), 0x30, 'IRQ0 outranks the cascade');
});

test('spurious IRQ7 when the request goes away before INTA', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0x00);
  pic.elcr.write(0, 1, 0x08);
  pic.irqLine(3).set(true);
  assert.equal(pic.hasInterrupt(), true);
  pic.irqLine(3).set(false);
  assert.equal(pic.acknowledge(), 0x37);
  assert.equal(readIsr(pic.master), 0, 'a spurious IRQ7 sets no ISR bit; Linux checks this');
});

test('a slave request that goes away before INTA gives the master spurious IRQ7', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0x00, 0x00);
  pic.elcr.write(1, 1, 0x04);
  pic.irqLine(10).set(true);
  assert.equal(pic.hasInterrupt(), true);
  pic.irqLine(10).set(false);
  assert.equal(pic.acknowledge(), 0x37);
  assert.equal(readIsr(pic.master), 0);
});

test('spurious IRQ15: the master serves IR2 but the slave has nothing to give', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0x00, 0x00);
  pic.irqLine(2).set(true);
  assert.equal(pic.acknowledge(), 0x3f);
  assert.equal(readIsr(pic.master), 0x04, 'the master cascade stays in service; Linux EOIs it');
  assert.equal(readIsr(pic.slave), 0);
  linuxEoi(pic, 15);
  assert.equal(readIsr(pic.master), 0);
});

test('edge mode latches a pulse; level mode follows the line and re-requests after EOI', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0x00, 0x00);
  pic.elcr.write(0, 2, 0x0c20);
  assert.equal(pic.elcr.read(0, 1), 0x20);
  assert.equal(pic.elcr.read(1, 1), 0x0c);
  pic.elcr.write(0, 1, 0xff);
  pic.elcr.write(1, 1, 0xff);
  assert.equal(pic.elcr.read(0, 2), 0xdef8, 'IRQ0-2, 8 and 13 are edge only');
  pic.elcr.write(0, 2, 0x0c20);

  pulse(pic, 4);
  assert.equal(pic.hasInterrupt(), true, 'edge: the pulse is latched');
  assert.equal(pic.acknowledge(), 0x34);
  linuxEoi(pic, 4);
  assert.equal(pic.hasInterrupt(), false, 'edge: one interrupt per rising edge');

  pic.irqLine(5).set(true);
  assert.equal(pic.acknowledge(), 0x35);
  assert.equal(pic.hasInterrupt(), false);
  linuxEoi(pic, 5);
  assert.equal(pic.hasInterrupt(), true, 'level: still high after EOI, so requested again');
  pic.irqLine(5).set(false);
  assert.equal(pic.hasInterrupt(), false, 'level: the request follows the line');

  pic.irqLine(11).set(true);
  assert.equal(pic.acknowledge(), 0x3b);
  pic.irqLine(11).set(false);
  linuxEoi(pic, 11);
  assert.equal(pic.hasInterrupt(), false);
});

test('a held edge line must fall and rise again after re-initialization', () => {
  const pic = new Pic8259Pair();
  pic.irqLine(4).set(true);
  linuxInit(pic, 0x00);
  assert.equal(pic.hasInterrupt(), false);
  pic.irqLine(4).set(false);
  pic.irqLine(4).set(true);
  assert.equal(pic.acknowledge(), 0x34);
});

test('auto-EOI, poll mode, rotation and special mask', () => {
  const pic = new Pic8259Pair();
  pic.master.write(MASTER_CMD, 1, 0x11);
  pic.master.write(DATA, 1, 0x08);
  pic.master.write(DATA, 1, 0x04);
  pic.master.write(DATA, 1, 0x03); // 8086 mode, AEOI
  pic.master.write(DATA, 1, 0x00);
  pulse(pic, 6);
  assert.equal(pic.acknowledge(), 0x0e);
  assert.equal(readIsr(pic.master), 0, 'AEOI leaves nothing in service');

  pulse(pic, 5);
  pic.master.write(MASTER_CMD, 1, 0x0c); // poll
  assert.equal(pic.master.read(MASTER_CMD, 1), 0x85);
  assert.equal(pic.hasInterrupt(), false);
  pic.master.write(MASTER_CMD, 1, 0x0c);
  assert.equal(pic.master.read(MASTER_CMD, 1), 0x00);

  pic.master.write(MASTER_CMD, 1, 0xc4); // set priority: IRQ4 lowest, IRQ5 highest
  pulse(pic, 3);
  pulse(pic, 6);
  assert.equal(pic.acknowledge(), 0x0e, 'IRQ6 now outranks IRQ3');
  assert.equal(pic.acknowledge(), 0x0b);
  pic.master.write(MASTER_CMD, 1, 0x80); // rotate in AEOI mode
  pulse(pic, 1);
  assert.equal(pic.acknowledge(), 0x09);
  pulse(pic, 0);
  pulse(pic, 3);
  assert.equal(pic.acknowledge(), 0x0b, 'after rotation IRQ1 is lowest, so IRQ3 outranks IRQ0');
  assert.equal(pic.acknowledge(), 0x08);

  const nested = new Pic8259Pair();
  linuxInit(nested, 0x00);
  pulse(nested, 1);
  assert.equal(nested.acknowledge(), 0x31);
  pulse(nested, 6);
  assert.equal(nested.hasInterrupt(), false);
  nested.master.write(DATA, 1, 0x02);
  nested.master.write(MASTER_CMD, 1, 0x68); // set special mask mode
  assert.equal(nested.hasInterrupt(), true, 'special mask: the masked in-service IRQ1 no longer blocks');
  assert.equal(nested.acknowledge(), 0x36);
  nested.master.write(MASTER_CMD, 1, 0x48);
});

test('rotate on non-specific EOI makes the served IRQ lowest', () => {
  const pic = new Pic8259Pair();
  linuxInit(pic, 0x00);
  pulse(pic, 0);
  assert.equal(pic.acknowledge(), 0x30);
  pic.master.write(MASTER_CMD, 1, 0xa0);
  pulse(pic, 0);
  pulse(pic, 1);
  assert.equal(pic.acknowledge(), 0x31);
});

test('INTR change callback and state round-trip', () => {
  const seen: boolean[] = [];
  const pic = new Pic8259Pair((a) => seen.push(a));
  linuxInit(pic, 0x00, 0x00);
  pulse(pic, 9);
  assert.deepEqual(seen, [true]);
  const copy = new Pic8259Pair();
  copy.restoreState(pic.saveState());
  assert.equal(copy.hasInterrupt(), true);
  assert.equal(copy.acknowledge(), 0x39);
  assert.equal(pic.acknowledge(), 0x39);
  assert.deepEqual(seen, [true, false]);
  assert.throws(() => pic.irqLine(16), RangeError);
});
