// The system scenarios under QEMU (TCG): the same images must print the same text
// as under the interpreter, apart from lines where QEMU is known to differ from
// the architecture (Scenario.qemuKnown). Skipped when qemu-system-i386 is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleScenario } from '../machine.ts';
import { ALL_SCENARIOS } from '../scenarios/index.ts';
import { qemuAvailable, runInQemu } from './qemu.ts';

const haveQemu = qemuAvailable();

for (const s of ALL_SCENARIOS) {
  const skip = !haveQemu ? 'qemu-system-i386 not installed' : s.interpOnly;
  test(`QEMU agrees: ${s.name}`, { skip }, () => {
    const r = runInQemu(assembleScenario(s.source));
    let expected = s.expected;
    for (const k of s.qemuKnown ?? []) expected = expected.replace(k.expected + '\n', k.qemu + '\n');
    assert.equal(r.output, expected, r.reason);
    assert.equal(r.end, s.end ?? 'exit', r.reason);
    if (r.end === 'exit') assert.equal(r.exitCode, 0);
  });
}
