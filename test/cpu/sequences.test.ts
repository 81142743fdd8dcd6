// Instruction sequences and self-modifying code on the host CPU and the interpreter
// (both through decoded blocks and decoding every instruction): see sequences.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseOracle } from './native.ts';
import { makeHarness, reproducer, runCases } from './harness.ts';
import { DEFAULT_SEED } from './generate.ts';
import { FINDINGS, SELF_MODIFYING, assemble, nasmAvailable, randomProgram, toCases } from './sequences.ts';

const RANDOM_PROGRAMS = 150;

test('instruction sequences and self-modifying code agree with the host CPU', (t) => {
  if (!nasmAvailable()) {
    t.skip('nasm is not installed (apt-get install nasm)');
    return;
  }
  const o = chooseOracle();
  if (!o.ok) {
    t.skip(o.reason);
    return;
  }
  const programs = [...FINDINGS, ...SELF_MODIFYING, ...Array.from({ length: RANDOM_PROGRAMS }, (_, i) => randomProgram(DEFAULT_SEED, i))];
  const cases = toCases(programs, assemble(programs), DEFAULT_SEED);
  const h = makeHarness(o.oracle);
  const reports = runCases(h, cases);
  const failing = reports.filter((r) => r.diffs.length !== 0);
  console.log(`cpu-diff sequences: oracle ${o.oracle.describe}: ${reports.length} programs (${FINDINGS.length} fixed findings, ${SELF_MODIFYING.length} self-modifying), ${failing.length} disagree`);
  assert.deepEqual(
    failing.slice(0, 3).map((r) => `${r.c.key}\n${programs[r.c.id].source}\n${reproducer(r, DEFAULT_SEED)}`),
    [],
  );
});
