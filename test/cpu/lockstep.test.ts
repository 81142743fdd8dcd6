// The jit engine against the interpreter, in lockstep (lockstep.ts): every exit, the whole
// CPU state after every run(), and RAM at the end must be the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockstepCase } from './lockstep.ts';

const seed = Number(process.env.LILYVM_LOCKSTEP_SEED ?? 20261207);
const cases = Number(process.env.LILYVM_LOCKSTEP_CASES ?? 160);

test(`jit and interp in lockstep on generated loops (seed ${seed}, ${cases} cases)`, (t) => {
  const divergences: string[] = [];
  let instructions = 0;
  let native = 0;
  let translated = 0;
  const exits: Record<string, number> = {};
  for (let i = 0; i < cases; i++) {
    const r = lockstepCase(seed, i);
    instructions += r.instructions;
    native += r.nativeInstructions;
    translated += r.translated;
    for (const [k, n] of Object.entries(r.exits)) exits[k] = (exits[k] ?? 0) + n;
    if (r.divergence) divergences.push(r.divergence);
  }
  t.diagnostic(`${instructions} instructions, ${native} (${((100 * native) / instructions).toFixed(0)}%) from native code, ${translated} blocks translated; exits ${JSON.stringify(exits)}`);
  // The generated code must reach the translator and the paths it hands back.
  assert.ok(native > instructions / 5, 'a good share runs as native code');
  assert.ok((exits.mmio ?? 0) > 0, 'MMIO exits happen inside blocks');
  assert.deepEqual(divergences.slice(0, 3), [], `${divergences.length} of ${cases} cases diverge`);
});
