// Checks that need the harness's view of the CPU (exits, state) rather than a scenario's printout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleScenario, runScenario, TestMachine } from './machine.ts';
import * as Id from '../../../src/cpu/cpuid.ts';
import { buildDispatch, needsModrm, OPCODE_TABLE } from '../../../src/cpu/table/index.ts';
import { SYSTEM_TABLE } from '../../../src/cpu/table/system.ts';
import { CR0_PE, CS, EXC_UD, FLAG_IF } from '../../../src/cpu/constants.ts';

test('HLT with interrupts disabled halts, and the next run reports a shutdown', () => {
  const r = runScenario(`
main:
  PRINTLN "halting"
  cli
  hlt
`);
  assert.equal(r.output, 'halting\n');
  assert.equal(r.end, 'halt');
  assert.equal(r.machine.cpu.halted, true);
  const again = r.machine.vcpu.run(1000);
  assert.equal(again.kind, 'shutdown');
});

test('HLT with interrupts enabled waits for an interrupt and resumes after the HLT', () => {
  const r = runScenario(`
main:
  SET_GATE 0x50, handler, 0x8e
  sti
  hlt
  cli
  PRINTLN "woken"
  ret
handler:
  PRINTLN "irq"
  iretd
`);
  assert.equal(r.end, 'halt');
  assert.equal(r.machine.cpu.flags & FLAG_IF, FLAG_IF);
  r.machine.raiseInterrupt(0x50);
  const r2 = r.machine.run();
  assert.equal(r2.output, 'irq\nwoken\nDONE\n');
  assert.deepEqual(r.machine.acknowledged, [0x50]);
});

test('LAR, LSL, VERR, VERW, ARPL, SLDT, STR, LLDT, LTR are #UD in real mode', () => {
  const encodings = [
    [0x0f, 0x02, 0xc0], [0x0f, 0x03, 0xc0], [0x0f, 0x00, 0xe0], [0x0f, 0x00, 0xe8], [0x63, 0xc0],
    [0x0f, 0x00, 0xc0], [0x0f, 0x00, 0xc8], [0x0f, 0x00, 0xd0], [0x0f, 0x00, 0xd8],
  ];
  for (const bytes of encodings) {
    const m = new TestMachine(1 << 20);
    m.ram.set(bytes, 0x7c00);
    m.ram.set([0x00, 0x06, 0x00, 0x00], EXC_UD * 4);
    m.ram[0x600] = 0xf4;
    const cpu = m.cpu;
    assert.equal(cpu.cr0 & CR0_PE, 0);
    cpu.loadSegmentReal(CS, 0);
    cpu.eip = 0x7c00;
    cpu.r32[4] = 0x7000;
    const exit = m.vcpu.run(10);
    assert.equal(exit.kind, 'halt', `bytes ${bytes.map((b) => b.toString(16)).join(' ')}`);
    assert.equal(cpu.eip, 0x601);
    assert.equal(cpu.read16(0x7000 - 6), 0x7c00, 'the #UD frame points at the instruction');
  }
});

test('RDTSC reads the injected clock plus the offset WRMSR sets; CR4.TSD makes it privileged', () => {
  const r = runScenario(`
main:
  rdtsc
  mov [SCRATCH], eax
  mov [SCRATCH + 4], edx
  mov ecx, 0x10
  mov edx, 1
  mov eax, 0x100
  wrmsr
  rdtsc
  mov [SCRATCH + 8], eax
  mov [SCRATCH + 12], edx
  mov eax, cr4
  or eax, 4
  mov cr4, eax
  rdtsc
  ENTER_RING3 ring3
  ret
ring3:
  USER_SEGMENTS
  EXPECT_EXC .after
  rdtsc
.after:
  int 0x31
`);
  assert.equal(r.end, 'exit', r.reason);
  assert.equal(r.output, 'EXC 0d 0000\nDONE\n');
  const cpu = r.machine.cpu;
  const tsc = cpu.read32(0x60000) >>> 0;
  assert.ok(tsc > 0 && tsc < 4 * r.machine.vcpu.instructionsRetired);
  assert.equal(cpu.read32(0x60004), 0);
  assert.equal(cpu.read32(0x6000c), 1);
  const afterWrite = cpu.read32(0x60008) >>> 0;
  assert.ok(afterWrite > 0x100 && afterWrite < 0x100 + 64, 'a few instructions after the write');
});

test('CPUID reports the documented model and only implemented features', () => {
  assert.equal(Id.cpuid(0)[0], 2);
  const [sig, , ecx, edx] = Id.cpuid(1);
  assert.equal(sig, 0x652);
  assert.equal(ecx, 0);
  assert.equal(edx, Id.CPUID_FEATURES_EDX);
  const required = Id.CPUID_FPU | Id.CPUID_TSC | Id.CPUID_CX8 | Id.CPUID_CMOV | Id.CPUID_FXSR | Id.CPUID_SEP | Id.CPUID_PGE | Id.CPUID_PSE;
  assert.equal(edx & required, required);
  const absent = Id.CPUID_VME | Id.CPUID_PAE | Id.CPUID_MCE | Id.CPUID_APIC | Id.CPUID_MTRR | Id.CPUID_MCA | Id.CPUID_PAT
    | Id.CPUID_PSE36 | Id.CPUID_MMX | Id.CPUID_SSE | (1 << 28);
  assert.equal(edx & absent, 0);
  assert.deepEqual(Id.cpuid(7), Id.cpuid(2));
  assert.deepEqual(Id.cpuid(0x90000000), Id.cpuid(2));
});

test('the opcode table: system rows build into the dispatcher without clashes and register operands take no ModRM', () => {
  assert.doesNotThrow(() => buildDispatch(OPCODE_TABLE));
  for (const e of SYSTEM_TABLE) {
    if (e.mnemonic === 'ud2' || e.mnemonic.startsWith('fx')) continue;
    assert.ok(e.system, `${e.mnemonic} is marked system`);
  }
  assert.equal(needsModrm({ opcode: 0x06, mnemonic: 'push', operands: 'ES', exec: () => {} }), false);
  assert.equal(needsModrm({ opcode: 0xee, mnemonic: 'out', operands: 'DX,AL', exec: () => {} }), false);
  assert.equal(needsModrm({ opcode: 0x8d, mnemonic: 'lea', operands: 'Gv,M', exec: () => {} }), true);
  assert.equal(needsModrm({ opcode: 0x0f20, mnemonic: 'mov', operands: 'Rd,Cd', exec: () => {} }), true);
});

test('a fault handler that faults at its first instruction still returns from run() within its budget', { timeout: 20_000 }, () => {
  // #UD's handler is a UD2: every delivery succeeds and the handler faults again at once.
  const m = new TestMachine();
  m.loadMultiboot(assembleScenario(`
main:
  SET_GATE 6, bad_handler, 0x8e
  ud2
bad_handler:
  ud2
`));
  // The prelude writes to the debug console first: those exits come back before the loop starts.
  let exit = m.vcpu.run(10_000);
  for (let i = 0; exit.kind === 'io' && i < 1000; i++) exit = m.vcpu.run(10_000);
  assert.equal(exit.kind, 'budget');
  const before = m.vcpu.instructionsRetired;
  exit = m.vcpu.run(10_000);
  assert.equal(exit.kind, 'budget', 'the next run() returns too');
  assert.ok(m.vcpu.instructionsRetired - before <= 10_000, 'deliveries count against the budget');
});

test('a single-step trap whose delivery faults, after the last instruction of the budget, does not overrun the budget', () => {
  // #DB's gate is not present, so each single-step trap becomes #NP, whose handler clears TF.
  const m = new TestMachine();
  m.loadMultiboot(assembleScenario(`
main:
  SET_GATE 1, 0, 0x0e
  SET_GATE 11, np_handler, 0x8e
  pushfd
  or dword [esp], 0x100
  popfd
  nop
  nop
  PRINTLN "back"
  ret
np_handler:
  add esp, 4
  and dword [esp + 8], ~0x100
  iretd
`));
  let output = '';
  for (let i = 0; i < 100_000; i++) {
    const before = m.vcpu.instructionsRetired;
    const exit = m.vcpu.run(1);
    assert.ok(m.vcpu.instructionsRetired - before <= 1, `run(1) retired ${m.vcpu.instructionsRetired - before}`);
    if (exit.kind === 'io' && exit.port === 0xe9) output += String.fromCharCode(exit.value);
    if (exit.kind === 'io' && exit.port === 0xf4) break;
    assert.ok(exit.kind === 'budget' || exit.kind === 'io', exit.kind);
  }
  assert.equal(output, 'back\nDONE\n');
});

test('an IDT in MMIO space ends the run with an error exit that says so, never a thrown object', () => {
  const m = new TestMachine();
  m.loadMultiboot(assembleScenario(`
main:
  mov word [SCRATCH], 0x7ff
  mov dword [SCRATCH + 2], 0xfe000000
  lidt [SCRATCH]
  int 0x40
`));
  const r = m.run();
  assert.equal(r.end, 'error');
  assert.match(r.reason ?? '', /event delivery accessed physical address fe000200, outside RAM/);
});
