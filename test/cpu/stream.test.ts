// Random instruction streams from random real-mode, protected-mode, ring-3, paged and
// virtual-8086 states (stream.ts). LILYVM_STREAM_SEED picks the seed (default below),
// LILYVM_STREAM_CASES the number of cases, LILYVM_STREAM_CASE one case to rerun.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStream } from './stream.ts';

const seed = Number(process.env.LILYVM_STREAM_SEED ?? 20261207) >>> 0;
const cases = Number(process.env.LILYVM_STREAM_CASES ?? 3500);
const only = process.env.LILYVM_STREAM_CASE === undefined ? undefined : Number(process.env.LILYVM_STREAM_CASE);

test(`random instruction streams (seed ${seed}, ${cases} cases)`, { timeout: 10 * 60_000 }, (t) => {
  const started = Date.now();
  const rep = runStream({ seed, cases, only });
  const modes = Object.entries(rep.byMode).map(([m, n]) => `${m} ${n}`).join(', ');
  const exits = Object.entries(rep.exits).map(([k, n]) => `${k} ${n}`).join(', ');
  t.diagnostic(`${rep.cases} cases (${modes}), ${rep.instructions} instructions, ${rep.runs} run() calls (${exits}), ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const [from, to] of Object.entries(rep.transitions)) {
    t.diagnostic(`started ${from}, ended ${Object.entries(to).sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} ${n}`).join(', ')}`);
  }
  t.diagnostic(`${rep.taskSwitches} cases switched task`);
  const stops = [...rep.stops].sort((a, b) => b[1] - a[1]).slice(0, 12);
  for (const [why, n] of stops) t.diagnostic(`stopped ${n}x: ${why}`);
  assert.deepEqual(rep.failures.slice(0, 10), [], `${rep.failures.length} of ${rep.cases} cases broke the engine boundary`);
});
