// Replays x87 instructions recorded on a real CPU (test/unit/fpu/fixtures, made by hw/gen-fixtures.ts on an AMD EPYC
// host with gcc -m32) and compares the whole FPU state, memory, EFLAGS and AX afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffCase, diffCaseWithinUlp, formatCase, loadFixture } from './hw/compare.ts';

const exactFixtures = ['arith', 'load-store', 'reg-ops', 'undefined', 'env', 'fxsave', 'fxrstor', 'boundaries'];

for (const name of exactFixtures) {
  test(`hardware fixture ${name}: bit-exact with the CPU`, () => {
    const fx = loadFixture(name);
    assert.ok(fx.cases.length > 0);
    const failures: string[] = [];
    for (const c of fx.cases) {
      const d = diffCase(c);
      if (d.length) failures.push(formatCase(c, d));
    }
    assert.equal(failures.length, 0, `${failures.length} of ${fx.cases.length} differ:\n${failures.slice(0, 5).join('\n')}`);
  });
}

test('hardware fixture transcendental: within one ulp, flags exact except C1', () => {
  const fx = loadFixture('transcendental');
  const failures: string[] = [];
  let exact = 0;
  for (const c of fx.cases) {
    if (diffCase(c).length === 0) exact++;
    const d = diffCaseWithinUlp(c);
    if (d.length) failures.push(formatCase(c, d));
  }
  assert.equal(failures.length, 0, `${failures.length} of ${fx.cases.length} differ:\n${failures.slice(0, 5).join('\n')}`);
  // Most results are bit-identical too (correct rounding agrees with the hardware most of the time).
  assert.ok(exact / fx.cases.length > 0.95, `only ${exact} of ${fx.cases.length} bit-exact`);
});
