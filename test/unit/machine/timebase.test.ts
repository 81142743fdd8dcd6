import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOMINAL_NS_PER_INSTRUCTION, Timebase } from '../../../src/machine/timebase.ts';

function fakeHost() {
  const h = { ns: 0, wallTimeMs: () => 0, monotonicNs: () => h.ns };
  return h;
}

test('without a host clock, time is instructions at the nominal rate', () => {
  let retired = 0;
  const t = new Timebase(() => retired, undefined);
  retired = 1000;
  assert.equal(t.nowNs(), 1000 * NOMINAL_NS_PER_INSTRUCTION);
  t.adaptRate();
  assert.equal(t.nsPerInstruction, NOMINAL_NS_PER_INSTRUCTION);
  t.jumpTo(5);
  assert.equal(t.nowNs(), 10_000, 'never backward');
  t.jumpTo(50_000);
  retired += 10;
  assert.equal(t.nowNs(), 50_000 + 10 * NOMINAL_NS_PER_INSTRUCTION);
});

test('with a host clock, the rate converges on the host speed and the lag goes away, in bounded steps', () => {
  let retired = 0;
  const host = fakeHost();
  const t = new Timebase(() => retired, host);
  // The guest runs 20 instructions per host microsecond (50 ns each), slices of 1 ms.
  let previous = t.nsPerInstruction;
  for (let slice = 0; slice < 3000; slice++) {
    retired += 20_000;
    host.ns += 1e6;
    t.adaptRate();
    const r = t.nsPerInstruction;
    assert.ok(r <= previous * 1.25 + 1e-9 && r >= previous / 1.25 - 1e-9, `step ${previous} -> ${r} is bounded`);
    previous = r;
  }
  assert.ok(Math.abs(t.nsPerInstruction - 50) < 2, `rate ${t.nsPerInstruction} near 50 ns`);
  assert.ok(Math.abs(t.nowNs() - host.ns) < 20e6, `lag ${(host.ns - t.nowNs()) / 1e6} ms`);
});

test('host waits and halts stay out of the rate fit', () => {
  let retired = 0;
  const host = fakeHost();
  const t = new Timebase(() => retired, host);
  for (let i = 0; i < 200; i++) {
    retired += 100_000;
    host.ns += 1e6; // 10 ns per instruction: the nominal rate
    t.adaptRate();
  }
  const before = t.nsPerInstruction;
  retired += 100_000;
  host.ns += 1e6 + 500e6;
  t.noteWait(500e6);
  t.jumpTo(host.ns);
  t.adaptRate();
  assert.ok(Math.abs(t.nsPerInstruction - before) / before < 0.3, 'a long wait did not inflate the rate');
  retired += 1000;
  host.ns += 50e6;
  t.noteHalt();
  t.adaptRate();
  assert.ok(Math.abs(t.nsPerInstruction - before) / before < 0.3, 'a halt did not inflate the rate');
});

test('a guest that gets much faster: the rate comes down at once when virtual time gets ahead, and the lead goes away', () => {
  let retired = 0;
  const host = fakeHost();
  const t = new Timebase(() => retired, host);
  // Slow at first (50 ns an instruction: code interpreted cold), until the rate has followed.
  for (let slice = 0; slice < 2000; slice++) {
    retired += 20_000;
    host.ns += 1e6;
    t.adaptRate();
  }
  assert.ok(Math.abs(t.nsPerInstruction - 50) < 2, `rate ${t.nsPerInstruction} near 50 ns`);
  // Then 20 times faster (2.5 ns: translated). Stepping down 25% a fit, virtual time ran
  // ahead of the host by 800 ms; the fit comes as soon as it is 20 ms ahead.
  let lead = 0;
  for (let slice = 0; slice < 2000; slice++) {
    retired += 400_000;
    host.ns += 1e6;
    t.adaptRate();
    lead = Math.max(lead, t.nowNs() - host.ns);
  }
  assert.ok(lead < 50e6, `lead at most ${(lead / 1e6).toFixed(0)} ms`);
  assert.ok(Math.abs(t.nsPerInstruction - 2.5) < 0.2, `rate ${t.nsPerInstruction} near 2.5 ns`);
  assert.ok(Math.abs(t.nowNs() - host.ns) < 20e6, `lag ${(host.ns - t.nowNs()) / 1e6} ms`);
});
