import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPCODE_TABLE } from '../../src/cpu/table/index.ts';
import type { OpcodeEntry } from '../../src/cpu/table/types.ts';
import { CI_CASES_PER_ROW, DEFAULT_SEED, generateSuite, rowKey } from './generate.ts';
import { makeHarness, reproducer, runCases, shrink, summarize } from './harness.ts';
import { KNOWN_FAILING } from './known-failures.ts';
import { chooseOracle } from './native.ts';

/** Reproducers printed in full when the test fails (the rest are listed by opcode). */
const MAX_REPROS = 25;

test('the interpreter agrees with the host CPU on every unprivileged opcode (fixed seed)', async (t) => {
  const o = chooseOracle();
  if (!o.ok) {
    t.skip(o.reason);
    return;
  }
  const h = makeHarness(o.oracle);
  const suite = generateSuite({ seed: DEFAULT_SEED, lowMapped: h.native.lowMapped, perRow: CI_CASES_PER_ROW });
  const reports = runCases(h, suite.cases);
  const keys = suite.rows.map(rowKey);
  const s = summarize(reports, keys);

  const uncovered = keys.filter((k) => !reports.some((r) => r.c.key === k));
  const knownNowPassing = Object.keys(KNOWN_FAILING).filter((k) => !s.failingRows.has(k));
  const failing = [...s.failingRows.keys()].filter((k) => !(k in KNOWN_FAILING));
  for (const [k, why] of Object.entries(KNOWN_FAILING)) {
    if (s.failingRows.has(k)) await t.test(`known failing: ${k}`, (st) => st.skip(why));
  }
  const hidden = [...s.failingRows.entries()].filter(([k]) => k in KNOWN_FAILING).reduce((n, [, l]) => n + l.length, 0);
  console.log(`cpu-diff: oracle ${o.oracle.describe}: ${s.cases} cases, ${s.rows} of ${keys.length} opcodes covered, ${s.disagreements - hidden} disagreements in ${failing.length} opcodes` +
    `${hidden ? ` (+${hidden} in ${s.failingRows.size - failing.length} known-failing)` : ''}, ${suite.skipped.length} rows out of scope (seed ${DEFAULT_SEED})`);
  for (const [why, n] of s.notCompared) console.log(`cpu-diff: ${n} cases not compared on this oracle: ${why}`);

  const problems: string[] = [];
  if (uncovered.length) problems.push(`rows without cases: ${uncovered.join(' ')}`);
  if (knownNowPassing.length) problems.push(`known-failing rows now agree, remove them from test/cpu/known-failures.ts: ${knownNowPassing.join(' ')}`);
  if (failing.length) {
    problems.push(`disagreements in ${failing.length} opcodes: ${failing.map((k) => `${k} (${s.failingRows.get(k)!.length})`).join(' ')}`);
    for (const k of failing.slice(0, MAX_REPROS)) problems.push(reproducer(shrink(h, s.failingRows.get(k)![0]), DEFAULT_SEED));
  }
  assert.equal(problems.length, 0, problems.join('\n'));
});

test('the harness notices a wrong instruction (ADC that ignores the carry)', (t) => {
  const o = chooseOracle();
  if (!o.ok) {
    t.skip(o.reason);
    return;
  }
  const add = OPCODE_TABLE.find((e) => e.opcode === 0x01)!;
  const broken: OpcodeEntry[] = OPCODE_TABLE.map((e) => (e.opcode === 0x11 ? { ...e, exec: add.exec } : e));
  const h = makeHarness(o.oracle, broken);
  const suite = generateSuite({ seed: DEFAULT_SEED, lowMapped: h.native.lowMapped, perRow: 16, filter: (e) => e.opcode === 0x11 });
  const s = summarize(runCases(h, suite.cases), suite.rows.map(rowKey));
  assert.ok(s.failingRows.has('11'), 'ADC with the carry ignored was not caught');
  const flagged = s.failingRows.get('11')!;
  assert.ok(flagged.every((r) => r.c.eflags & 1), 'only cases with CF set can disagree');
});
