import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pit8254, PIT_HZ } from '../../../src/devices/pit8254.ts';
import { Scheduler } from '../../../src/machine/scheduler.ts';
import { FakeTimerHost } from './fake-timer-host.ts';
import { FakeIrqLine } from './fake-irq-line.ts';

const CONTROL = 3;
/** Linux's PIT_LATCH for HZ=1000. */
const LATCH_1000HZ = 1193;

/** The first nanosecond at which `ticks` PIT clocks have elapsed. */
function ns(ticks: number): number {
  return Math.ceil((ticks * 1e9) / PIT_HZ);
}

function setup(startNs = 0) {
  const timers = new FakeTimerHost(startNs);
  const irq = new FakeIrqLine(() => timers.nowNs());
  const pit = new Pit8254(timers, irq);
  return { timers, irq, pit };
}

function writeCount(pit: Pit8254, channel: number, count: number): void {
  pit.write(channel, 1, count & 0xff);
  pit.write(channel, 1, count >> 8);
}

/** Counter latch command, then LSB and MSB, as Linux's i8253 clocksource reads counter 0. */
function latchedCount(pit: Pit8254, channel: number): number {
  pit.write(CONTROL, 1, channel << 6);
  const lo = pit.read(channel, 1);
  return lo | (pit.read(channel, 1) << 8);
}

test('mode 2 (Linux periodic clockevent, 0x34): one IRQ0 edge per LATCH clocks', () => {
  const { timers, irq, pit } = setup(5_000);
  pit.write(CONTROL, 1, 0x34);
  writeCount(pit, 0, LATCH_1000HZ);
  const t0 = timers.nowNs();
  assert.equal(irq.level, true, 'mode 2 OUT is high while counting');
  const before = irq.rises;
  timers.advanceTo(t0 + ns(LATCH_1000HZ) - 1);
  assert.equal(irq.rises, before);
  timers.advanceTo(t0 + ns(10 * LATCH_1000HZ));
  assert.equal(irq.rises, before + 10);
  assert.deepEqual(
    irq.riseTimesNs.slice(-10),
    Array.from({ length: 10 }, (_, i) => t0 + ns((i + 1) * LATCH_1000HZ)),
  );
  timers.advanceTo(t0 + ns(10 * LATCH_1000HZ + 100));
  assert.equal(latchedCount(pit, 0), LATCH_1000HZ - 100);
  timers.advanceTo(t0 + ns(11 * LATCH_1000HZ - 1));
  assert.equal(latchedCount(pit, 0), 1);
  timers.advanceTo(t0 + ns(11 * LATCH_1000HZ));
  assert.equal(latchedCount(pit, 0), LATCH_1000HZ, 'mode 2 reloads after 1 and never reads 0');
});

test('mode 0: OUT low until terminal count, one IRQ, then the counter wraps', () => {
  const { timers, irq, pit } = setup();
  pit.write(CONTROL, 1, 0x30);
  assert.equal(irq.level, false, 'the control word drives OUT low');
  const rises = irq.rises;
  writeCount(pit, 0, 1000);
  const t0 = timers.nowNs();
  timers.advanceTo(t0 + ns(999));
  assert.equal(irq.level, false);
  assert.equal(latchedCount(pit, 0), 1);
  timers.advanceTo(t0 + ns(1000));
  assert.equal(irq.level, true);
  assert.equal(irq.rises, rises + 1);
  assert.equal(irq.riseTimesNs.at(-1), t0 + ns(1000));
  timers.advanceTo(t0 + ns(1500));
  assert.equal(latchedCount(pit, 0), 0x10000 - 500);
  timers.advanceBy(1e9);
  assert.equal(irq.rises, rises + 1, 'mode 0 does not repeat');
  writeCount(pit, 0, 10);
  assert.equal(irq.level, false, 'a new count restarts mode 0 with OUT low');
  timers.advanceBy(ns(10));
  assert.equal(irq.rises, rises + 2);
});

test('mode 4 (Linux one-shot clockevent, 0x38): a strobe N+1 clocks after the count', () => {
  const { timers, irq, pit } = setup();
  pit.write(CONTROL, 1, 0x38);
  const rises = irq.rises;
  writeCount(pit, 0, 500);
  const t0 = timers.nowNs();
  timers.advanceTo(t0 + ns(500));
  assert.equal(irq.rises, rises);
  timers.advanceTo(t0 + ns(501));
  assert.equal(irq.rises, rises + 1);
  timers.advanceBy(1e8);
  assert.equal(irq.rises, rises + 1);
  writeCount(pit, 0, 20);
  timers.advanceBy(ns(21));
  assert.equal(irq.rises, rises + 2);
});

test('mode 3: square wave; IRQ0 once per period, OUT high for the first half', () => {
  const { timers, irq, pit } = setup();
  pit.write(CONTROL, 1, 0x36);
  writeCount(pit, 0, 100);
  const t0 = timers.nowNs();
  const rises = irq.rises;
  timers.advanceTo(t0 + ns(1000));
  assert.equal(irq.rises, rises + 10);
  timers.advanceTo(t0 + ns(1010));
  assert.equal(latchedCount(pit, 0), 80, 'mode 3 counts down by two');

  pit.portB.write(0, 1, 0x01);
  pit.write(CONTROL, 1, 0xb6);
  writeCount(pit, 2, 100);
  const t2 = timers.nowNs();
  const out2 = () => (pit.portB.read(0, 1) & 0x20) !== 0;
  timers.advanceTo(t2 + ns(10));
  assert.equal(out2(), true);
  timers.advanceTo(t2 + ns(60));
  assert.equal(out2(), false);
  timers.advanceTo(t2 + ns(110));
  assert.equal(out2(), true);
});

test('counter latch holds its value until read, and a second latch is ignored', () => {
  const { timers, pit } = setup();
  pit.write(CONTROL, 1, 0x34);
  writeCount(pit, 0, 50000);
  const t0 = timers.nowNs();
  timers.advanceTo(t0 + ns(100));
  pit.write(CONTROL, 1, 0x00);
  timers.advanceTo(t0 + ns(300));
  pit.write(CONTROL, 1, 0x00);
  assert.equal(pit.read(0, 1) | (pit.read(0, 1) << 8), 50000 - 100);
  assert.equal(latchedCount(pit, 0), 50000 - 300);
  const lo = pit.read(0, 1);
  timers.advanceTo(t0 + ns(300 + 256));
  const hi = pit.read(0, 1);
  assert.equal(lo, (50000 - 300) & 0xff, 'unlatched reads alternate LSB, MSB');
  assert.equal(hi, (50000 - 556) >> 8);
});

test('LSB-only and MSB-only access modes', () => {
  const { pit } = setup();
  pit.write(CONTROL, 1, 0x10);
  pit.write(0, 1, 0x80);
  assert.equal(pit.read(0, 1), 0x80);
  assert.equal(pit.read(0, 1), 0x80);
  pit.write(CONTROL, 1, 0x20);
  pit.write(0, 1, 0x12);
  assert.equal(pit.read(0, 1), 0x12);
  pit.write(CONTROL, 1, 0x00);
  assert.equal(pit.read(0, 1), 0x12);
});

test('read-back command: status then count, null count, OUT', () => {
  const { timers, pit } = setup();
  pit.write(CONTROL, 1, 0x34);
  pit.write(CONTROL, 1, 0xe2); // status only, counter 0
  assert.equal(pit.read(0, 1), 0x40 | 0x80 | 0x30 | 0x04, 'null count until a count is written');
  writeCount(pit, 0, 1000);
  timers.advanceBy(ns(10));
  pit.write(CONTROL, 1, 0xc2); // count and status, counter 0
  timers.advanceBy(ns(10));
  assert.equal(pit.read(0, 1), 0x80 | 0x30 | 0x04);
  assert.equal(pit.read(0, 1) | (pit.read(0, 1) << 8), 990);

  pit.write(CONTROL, 1, 0xb0);
  writeCount(pit, 2, 5);
  pit.write(CONTROL, 1, 0xe8); // status of counter 2: mode 0, gate low
  assert.equal(pit.read(2, 1), 0x30);
  pit.write(CONTROL, 1, 0xd8); // count of counter 2
  assert.equal(pit.read(2, 1), 5);
  assert.equal(pit.read(2, 1), 0, 'gate 2 low holds the count');
});

test('Linux quick_pit_calibrate: counter 2 mode 0 from 0xffff, polling the MSB', () => {
  const { timers, pit } = setup(123_456);
  const readSpacingNs = 150;
  const inb = (port: number) => {
    timers.advanceBy(readSpacingNs);
    return port === 0x61 ? pit.portB.read(0, 1) : pit.read(port - 0x40, 1);
  };
  const outb = (value: number, port: number) => {
    timers.advanceBy(readSpacingNs);
    if (port === 0x61) pit.portB.write(0, 1, value);
    else pit.write(port - 0x40, 1, value);
  };
  outb((inb(0x61) & ~0x02) | 0x01, 0x61);
  outb(0xb0, 0x43);
  outb(0xff, 0x42);
  outb(0xff, 0x42);
  const msb = () => {
    inb(0x42);
    return inb(0x42);
  };
  msb();
  const firstSeen: number[] = [];
  const reads: number[] = [];
  for (let expect = 0xff; expect > 0xff - 60; expect--) {
    let count = 0;
    while (msb() === expect) count++;
    reads.push(count);
    firstSeen.push(timers.nowNs());
  }
  assert.ok(reads.every((c) => c > 5), 'each MSB value is seen more than 5 times');
  const spanNs = firstSeen.at(-1)! - firstSeen[0];
  const estimatedHz = (59 * 256 * 1e9) / spanNs;
  assert.ok(Math.abs(estimatedHz - PIT_HZ) / PIT_HZ < 0.002, `estimated ${estimatedHz} Hz`);
});

test('Linux pit_calibrate_tsc: poll OUT2 in port 0x61 until a 10 ms mode 0 count expires', () => {
  const { timers, pit } = setup();
  pit.portB.write(0, 1, (pit.portB.read(0, 1) & ~0x02) | 0x01);
  const latch = Math.floor(PIT_HZ / 100);
  pit.write(CONTROL, 1, 0xb0);
  writeCount(pit, 2, latch);
  const t0 = timers.nowNs();
  let pitcnt = 0;
  while ((pit.portB.read(0, 1) & 0x20) === 0) {
    timers.advanceBy(100);
    pitcnt++;
  }
  const elapsed = timers.nowNs() - t0;
  assert.ok(pitcnt >= 10000, 'loopmin');
  assert.ok(elapsed >= ns(latch) && elapsed < ns(latch) + 100, `OUT2 rose after ${elapsed} ns`);
});

test('gate 2 low stops mode 2 with OUT high; raising it reloads', () => {
  const { timers, pit } = setup();
  pit.portB.write(0, 1, 0x01);
  pit.write(CONTROL, 1, 0xb4);
  writeCount(pit, 2, 1000);
  timers.advanceBy(ns(999));
  assert.equal(pit.portB.read(0, 1) & 0x20, 0, 'OUT low on the last clock');
  pit.portB.write(0, 1, 0x00);
  assert.equal(pit.portB.read(0, 1) & 0x21, 0x20, 'gate low forces OUT high');
  timers.advanceBy(ns(500));
  assert.equal(latchedCount(pit, 2), 1);
  pit.portB.write(0, 1, 0x01);
  timers.advanceBy(ns(10));
  assert.equal(latchedCount(pit, 2), 990);
});

test('port 0x61: writable low bits, refresh toggle from virtual time', () => {
  const { timers, pit } = setup();
  pit.portB.write(0, 1, 0xff);
  assert.equal(pit.portB.read(0, 1) & 0xcf, 0x0f);
  assert.equal(pit.speakerOn, true);
  const toggles = new Set<number>();
  for (let i = 0; i < 8; i++) {
    toggles.add(pit.portB.read(0, 1) & 0x10);
    timers.advanceBy(15_085);
  }
  assert.deepEqual([...toggles].sort(), [0, 0x10]);
});

test('BCD counting', () => {
  const { timers, pit } = setup();
  pit.portB.write(0, 1, 0x01);
  pit.write(CONTROL, 1, 0xb1);
  writeCount(pit, 2, 0x1000);
  timers.advanceBy(ns(1));
  assert.equal(latchedCount(pit, 2), 0x0999);
  pit.write(CONTROL, 1, 0xb1);
  writeCount(pit, 2, 0);
  timers.advanceBy(ns(1));
  assert.equal(latchedCount(pit, 2), 0x9999, 'a BCD count of 0 is 10000');
});

test('with the real Scheduler, a late wake-up delivers one edge and stays on the period grid', () => {
  const scheduler = new Scheduler();
  const irq = new FakeIrqLine();
  const pit = new Pit8254(scheduler, irq);
  pit.write(CONTROL, 1, 0x34);
  writeCount(pit, 0, LATCH_1000HZ);
  const rises = irq.rises;
  scheduler.advanceTo(ns(10.5 * LATCH_1000HZ));
  assert.equal(irq.rises, rises + 1);
  assert.equal(scheduler.nextDeadlineNs(), ns(11 * LATCH_1000HZ));
  for (let i = 12; i <= 20; i++) scheduler.advanceTo(ns(i * LATCH_1000HZ));
  assert.equal(irq.rises, rises + 10);
});

test('state round-trip keeps counts and re-arms counter 0', () => {
  const a = setup(1000);
  a.pit.write(CONTROL, 1, 0x34);
  writeCount(a.pit, 0, 2000);
  a.timers.advanceBy(ns(150));
  const b = setup(a.timers.nowNs());
  b.pit.restoreState(structuredClone(a.pit.saveState()));
  assert.equal(latchedCount(b.pit, 0), latchedCount(a.pit, 0));
  assert.equal(b.timers.deadlineOf('pit0'), a.timers.deadlineOf('pit0'));
});
