// The jit engine against the interpreter, in lockstep (lockstep.ts): every exit, the whole
// CPU state after every run(), and RAM at the end must be the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignmentProgram, crossingProgram, foldProgram, interruptFlagProgram, lockstepCase, modeChangeProgram, pageLoopProgram } from './lockstep.ts';

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

test('jit and interp in lockstep over mode changes inside native code (segment loads run through step())', (t) => {
  let native = 0;
  for (let i = 0; i < 8; i++) {
    const r = lockstepCase(seed, i, 300, 2, modeChangeProgram());
    assert.equal(r.divergence, null, r.divergence ?? '');
    native += r.nativeInstructions;
  }
  t.diagnostic(`${native} instructions from native code`);
  assert.ok(native > 0, 'the loop runs as native code');
});

test('jit and interp in lockstep over loops inside a page (the page function\'s loop units), entered at their start and in their middle', (t) => {
  let native = 0;
  let instructions = 0;
  for (let i = 0; i < 8; i++) {
    const r = lockstepCase(seed, i, 300, 2, pageLoopProgram());
    assert.equal(r.divergence, null, r.divergence ?? '');
    native += r.nativeInstructions;
    instructions += r.instructions;
  }
  t.diagnostic(`${instructions} instructions, ${native} from native code`);
  assert.ok(native > instructions / 2, 'the loops run as native code');
});

test('jit and interp in lockstep over CLI and STI at CPL 0, with interrupts raised between runs', (t) => {
  let native = 0;
  let helped = 0;
  let instructions = 0;
  for (let i = 0; i < 16; i += 2) {
    const r = lockstepCase(seed, i, 300, 2, interruptFlagProgram());
    assert.equal(r.divergence, null, r.divergence ?? '');
    native += r.nativeInstructions;
    helped += r.helperInstructions;
    instructions += r.instructions;
  }
  t.diagnostic(`${instructions} instructions, ${native} from native code, ${helped} of them through closures or step()`);
  assert.ok(native > instructions / 2, 'the loop runs as native code');
  // Per iteration 8 CLI/STI and two PUSHFD; through step(): the PUSHFDs, the STI after STI
  // and an STI that finds an interrupt waiting.
  assert.ok(helped < native / 10, 'CLI and STI are generated code');
});

test('jit and interp in lockstep over misaligned accesses at CPL 3 while EFLAGS.AC comes and goes (#AC)', (t) => {
  let native = 0;
  let checks = 0;
  for (let i = 1; i < 8; i += 2) {
    const r = lockstepCase(seed, i, 300, 2, alignmentProgram());
    assert.equal(r.divergence, null, r.divergence ?? '');
    native += r.nativeInstructions;
    checks += r.regs[6];
  }
  t.diagnostic(`${native} instructions from native code, ${checks} #AC`);
  assert.ok(native > 0, 'the loop runs as native code while AC is clear');
  assert.ok(checks > 0, 'the accesses raise #AC while AC is set');
});

for (const changing of [false, true]) {
  test(`jit and interp in lockstep over an instruction across a page end${changing ? ' whose part on the next page the loop rewrites' : ''}, and partial register writes`, (t) => {
    let native = 0;
    let helped = 0;
    let instructions = 0;
    for (let i = 0; i < 8; i++) {
      const r = lockstepCase(seed, i, 300, 2, crossingProgram(changing));
      assert.equal(r.divergence, null, r.divergence ?? '');
      native += r.nativeInstructions;
      helped += r.helperInstructions;
      instructions += r.instructions;
    }
    t.diagnostic(`${instructions} instructions, ${native} from native code, ${helped} of them through step()`);
    // 8 cases of 400 iterations, each with the crossing ADD: native code runs it itself while its
    // bytes on the next page are the same, and through step() once they change (the stores
    // also drop the next page's blocks, whose code then runs in the interpreter).
    if (changing) {
      assert.ok(helped > 8 * 400 * 0.9, 'the changed instruction is stepped from native code');
    } else {
      assert.ok(native > instructions / 2, 'the loop runs as native code');
      assert.equal(helped, 0, 'the crossing instruction is generated code');
    }
  });
}

const FOLD_NAMES = { mul: 'multiplies', shift: 'shifts, rotates and double shifts', carried: 'BT (imm8 and register bit offsets), DIV, MUL and ROL after flags set in the block before, CDQ, CWDE and BSWAP' };
for (const kind of ['mul', 'shift', 'carried'] as const) {
  test(`jit and interp in lockstep over ${FOLD_NAMES[kind]} whose results and flags are all read`, (t) => {
    let native = 0;
    for (let i = 0; i < 24; i++) {
      const r = lockstepCase(seed, i, 300, 2, foldProgram(seed, i, kind));
      assert.equal(r.divergence, null, r.divergence ?? '');
      native += r.nativeInstructions;
    }
    t.diagnostic(`${native} instructions from native code`);
    assert.ok(native > 0, 'the loop runs as native code');
  });
}
