import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RtcCmos } from '../../../src/devices/rtc-cmos.ts';
import type { HostClock } from '../../../src/machine/clock.ts';
import { FakeTimerHost } from './fake-timer-host.ts';
import { FakeIrqLine } from './fake-irq-line.ts';

const MIB = 1024 * 1024;
/** A leap day, 1.75 s before midnight; the RTC's next update is 0.75 s in. */
const START_MS = Date.UTC(2024, 1, 29, 23, 59, 58, 250);
const FIRST_UPDATE_NS = 750_000_000;

function setup(ramSizeBytes = 128 * MIB, wallMs = START_MS) {
  const timers = new FakeTimerHost();
  const irq = new FakeIrqLine(() => timers.nowNs());
  const clock: HostClock = { wallTimeMs: () => wallMs, monotonicNs: () => 0 };
  const rtc = new RtcCmos(timers, clock, irq, ramSizeBytes);
  const read = (index: number) => {
    rtc.write(0, 1, index);
    return rtc.read(1, 1);
  };
  const write = (index: number, value: number) => {
    rtc.write(0, 1, index);
    rtc.write(1, 1, value);
  };
  return { timers, irq, rtc, read, write };
}

function readClock(read: (i: number) => number): number[] {
  return [0x32, 0x09, 0x08, 0x07, 0x06, 0x04, 0x02, 0x00].map(read);
}

test('reads the host wall time in BCD, 24-hour, and advances with virtual time', () => {
  const { timers, read } = setup();
  assert.equal(read(0x0b), 0x02, '24-hour BCD');
  assert.equal(read(0x0d), 0x80, 'VRT');
  assert.deepEqual(readClock(read), [0x20, 0x24, 0x02, 0x29, 0x05, 0x23, 0x59, 0x58]);
  timers.advanceTo(FIRST_UPDATE_NS - 1);
  assert.equal(read(0x00), 0x58);
  timers.advanceTo(FIRST_UPDATE_NS);
  assert.equal(read(0x00), 0x59);
  timers.advanceTo(FIRST_UPDATE_NS + 1e9);
  assert.deepEqual(readClock(read), [0x20, 0x24, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00], 'leap day rolls to March 1');
});

test('binary and 12-hour formats', () => {
  const { read, write } = setup();
  write(0x0b, 0x06);
  assert.deepEqual(readClock(read), [20, 24, 2, 29, 5, 23, 59, 58]);
  write(0x0b, 0x04);
  assert.equal(read(0x04), 0x80 | 11, 'binary 12-hour: 11 PM');
  write(0x0b, 0x00);
  assert.equal(read(0x04), 0x91, 'BCD 12-hour: 11 PM');
});

test('UIP is set for 244 us before each update', () => {
  const { timers, read } = setup();
  const uip = () => (read(0x0a) & 0x80) !== 0;
  assert.equal(read(0x0a) & 0x7f, 0x26);
  timers.advanceTo(FIRST_UPDATE_NS - 244_001);
  assert.equal(uip(), false);
  timers.advanceTo(FIRST_UPDATE_NS - 244_000);
  assert.equal(uip(), true);
  timers.advanceTo(FIRST_UPDATE_NS - 1);
  assert.equal(uip(), true);
  timers.advanceTo(FIRST_UPDATE_NS);
  assert.equal(uip(), false);
});

test("Linux's mc146818_avoid_UIP loop gets a consistent readout", () => {
  const { timers, read } = setup();
  timers.advanceTo(FIRST_UPDATE_NS - 200_000);
  let spins = 0;
  let seconds = -1;
  for (let i = 0; i < 100; i++) {
    seconds = read(0x00);
    timers.advanceBy(1_000);
    if (read(0x0a) & 0x80) {
      spins++;
      timers.advanceBy(100_000);
      continue;
    }
    if (seconds !== read(0x00)) continue;
    break;
  }
  assert.equal(spins, 2);
  assert.equal(seconds, 0x59);
});

test('periodic interrupt at the register A rate; register C read clears and lowers IRQ8', () => {
  const { timers, irq, read, write } = setup();
  write(0x0a, 0x26); // 1024 Hz
  write(0x0b, 0x02 | 0x40);
  const periodNs = 1e9 / 1024;
  timers.advanceTo(1e7);
  assert.equal(irq.rises, 1, 'without a register C read the line stays high');
  assert.equal(read(0x0c), 0xc0);
  assert.equal(irq.level, false);
  assert.equal(read(0x0c), 0x00);
  let rises = irq.rises;
  for (let t = 1e7; t < 2e7; t += 10_000) {
    timers.advanceTo(t);
    if (irq.level) read(0x0c);
  }
  rises = irq.rises - rises;
  assert.ok(Math.abs(rises - 1e7 / periodNs) <= 1, `${rises} periodic interrupts in 10 ms`);
  const phase = (irq.riseTimesNs[1] - 250_000_000 + 1e9) % periodNs;
  assert.ok(phase < 1, 'periods are in phase with the second boundaries');
  write(0x0a, 0x2f); // 2 Hz
  read(0x0c);
  timers.advanceTo(3e7 + 5e8);
  assert.equal(read(0x0c), 0xc0);
});

test('update-ended interrupt once per second', () => {
  const { timers, irq, read, write } = setup();
  write(0x0b, 0x02 | 0x10);
  timers.advanceTo(FIRST_UPDATE_NS - 1);
  assert.equal(irq.rises, 0);
  timers.advanceTo(FIRST_UPDATE_NS);
  assert.equal(irq.rises, 1);
  assert.equal(irq.riseTimesNs[0], FIRST_UPDATE_NS);
  assert.equal(read(0x0c) & 0xb0, 0x90, 'IRQF and UF (PF is set too: the 1024 Hz rate runs without PIE)');
  timers.advanceTo(FIRST_UPDATE_NS + 1e9);
  assert.equal(irq.rises, 2);
  assert.equal(read(0x0c) & 0x90, 0x90);
});

test('alarm interrupt when seconds, minutes and hours match; 0xC0 is a wildcard', () => {
  const { timers, irq, read, write } = setup();
  write(0x01, 0x59);
  write(0x03, 0x59);
  write(0x05, 0x23);
  write(0x0b, 0x02 | 0x20);
  timers.advanceTo(FIRST_UPDATE_NS);
  assert.equal(irq.rises, 1);
  assert.equal(read(0x0c) & 0xb0, 0x80 | 0x20 | 0x10);
  timers.advanceTo(FIRST_UPDATE_NS + 3e9);
  assert.equal(irq.rises, 1);
  write(0x01, 0xc0);
  write(0x03, 0xc0);
  write(0x05, 0xc0);
  read(0x0c);
  timers.advanceTo(FIRST_UPDATE_NS + 4e9);
  assert.equal(irq.rises, 2);
});

test("Linux's mc146818_set_time: SET, divider reset, new time, first update 500 ms later", () => {
  const { timers, read, write } = setup();
  timers.advanceTo(100_000_000);
  const control = read(0x0b);
  write(0x0b, control | 0x80);
  const freq = read(0x0a);
  write(0x0a, freq | 0x70);
  write(0x09, 0x30);
  write(0x08, 0x06);
  write(0x07, 0x15);
  write(0x04, 0x12);
  write(0x02, 0x34);
  write(0x00, 0x56);
  timers.advanceBy(3e9);
  assert.equal(read(0x00), 0x56, 'halted while SET');
  assert.equal(read(0x0a) & 0x80, 0, 'no UIP while halted');
  write(0x0b, control);
  write(0x0a, freq);
  const t = timers.nowNs();
  assert.deepEqual(readClock(read).slice(1), [0x30, 0x06, 0x15, 0x07, 0x12, 0x34, 0x56]);
  timers.advanceTo(t + 499_999_999);
  assert.equal(read(0x00), 0x56);
  timers.advanceTo(t + 500_000_000);
  assert.equal(read(0x00), 0x57);
});

test('writing one clock register while running keeps the second phase', () => {
  const { timers, read, write } = setup();
  write(0x02, 0x10);
  assert.deepEqual([read(0x04), read(0x02), read(0x00)], [0x23, 0x10, 0x58]);
  timers.advanceTo(FIRST_UPDATE_NS);
  assert.deepEqual([read(0x04), read(0x02), read(0x00)], [0x23, 0x10, 0x59]);
});

test('CMOS memory-size bytes and checksum', () => {
  const big = setup(128 * MIB).read;
  assert.deepEqual([0x15, 0x16].map(big), [0x80, 0x02], '640 KiB base memory');
  assert.deepEqual([0x17, 0x18, 0x30, 0x31].map(big), [0xff, 0xff, 0xff, 0xff], 'extended memory capped');
  assert.deepEqual([0x34, 0x35].map(big), [0x00, 0x07], '112 MiB above 16 MiB in 64 KiB blocks');
  const small = setup(32 * MIB).read;
  assert.deepEqual([0x17, 0x18, 0x30, 0x31].map(small), [0x00, 0x7c, 0x00, 0x7c], '31 MiB extended');
  assert.deepEqual([0x34, 0x35].map(small), [0x00, 0x01]);
  let sum = 0;
  for (let i = 0x10; i < 0x2e; i++) sum += small(i);
  assert.equal((small(0x2e) << 8) | small(0x2f), sum);
});

test('index port: bit 7 masks NMI; the rest of CMOS is plain RAM; C and D are read-only', () => {
  const { rtc, read, write } = setup();
  rtc.write(0, 1, 0x8f);
  assert.equal(rtc.nmiDisabled, true);
  rtc.write(1, 1, 0x0a);
  rtc.write(0, 1, 0x0f);
  assert.equal(rtc.nmiDisabled, false);
  assert.equal(rtc.read(1, 1), 0x0a, 'shutdown status byte 0x0F');
  write(0x40, 0x5a);
  assert.equal(read(0x40), 0x5a);
  write(0x0c, 0xff);
  write(0x0d, 0x00);
  assert.equal(read(0x0c), 0);
  assert.equal(read(0x0d), 0x80);
});

test('state round-trip', () => {
  const a = setup();
  a.write(0x0b, 0x02 | 0x10);
  a.timers.advanceTo(123_456_789);
  const b = setup(128 * MIB, 0);
  b.timers.advanceTo(123_456_789);
  b.rtc.restoreState(structuredClone(a.rtc.saveState()));
  assert.deepEqual(readClock(b.read), readClock(a.read));
  b.timers.advanceTo(FIRST_UPDATE_NS);
  assert.equal(b.irq.rises, 1);
});
