import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from './machine.ts';
import { ALL_SCENARIOS } from './scenarios/index.ts';

for (const s of ALL_SCENARIOS) {
  test(`scenario: ${s.name}`, () => {
    const r = runScenario(s.source);
    assert.equal(r.output, s.expected, r.reason);
    if ((s.end ?? 'exit') === 'exit') {
      assert.equal(r.end, 'exit', r.reason);
      assert.equal(r.exitCode, 0);
    } else {
      assert.equal(r.end, s.end, r.reason);
    }
  });
}
