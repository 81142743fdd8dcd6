// The jit and the interpreter in lockstep over a whole boot of the default guest and the
// bench workloads at 1% of their size (test/lockstep/pair.ts): their CPUs after every slice,
// RAM and devices every 16 slices, must be equal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGuest as skip } from './guest-session.ts';
import { runLockstep } from '../lockstep/pair.ts';
import { benchScript, defaultGuest } from '../lockstep/guest-script.ts';

test('jit and interp stay in lockstep over a boot of the default guest and the bench workloads', { skip, timeout: 900_000 }, async (t) => {
  const r = await runLockstep(defaultGuest(), benchScript(0.01));
  t.diagnostic(`${r.end}: ${r.slices} slices, ${r.instructions} instructions, ${r.jit.nativeInstructions} native, ${r.hostSeconds.toFixed(1)} s`);
  assert.equal(r.divergence, undefined, r.divergence && `diverged after ${r.divergence.instructions} instructions: ${r.divergence.differences.join('; ')}; first: ${JSON.stringify(r.divergence.narrowed)}`);
  assert.equal(r.end, 'the script finished');
  assert.deepEqual(r.steps.map((s) => s.label), ['sh loop', 'dd', 'md5sum', 'gzip', 'fork+exec']);
  assert.match(r.console, /__done_4_0__/);
  assert.ok(r.jit.nativeInstructions > r.instructions / 2, 'most instructions ran as generated code');
});
