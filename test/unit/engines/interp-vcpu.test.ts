import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cpu } from '../../../src/cpu/cpu.ts';
import { buildDispatch, OPCODE_TABLE, unimplemented } from '../../../src/cpu/table/index.ts';
import type { OpcodeEntry } from '../../../src/cpu/table/types.ts';
import { CS } from '../../../src/cpu/constants.ts';

const noInterrupts = { hasInterrupt: () => false, acknowledge: () => 0 };

function flatCpu(code: number[], table: readonly OpcodeEntry[] = OPCODE_TABLE): Cpu {
  const ram = new Uint8Array(1 << 20);
  ram.set(code, 0x1000);
  const cpu = new Cpu({ ram, interrupts: noInterrupts, readTsc: () => 0, ops: buildDispatch(table) });
  cpu.cr0 |= 1;
  for (let s = 0; s < 6; s++) cpu.setSegmentCache(s, s === CS ? 0x08 : 0x10, 0, 0xffffffff, s === CS ? 0xc09b : 0xc093);
  cpu.eip = 0x1000;
  cpu.r32[4] = 0x8000;
  return cpu;
}

test('an instruction the engine does not implement ends the run with a report', () => {
  // 0F 0F is undefined on a P6 (3DNow!), so a table that marks it unimplemented stands in for any gap.
  const table = [...OPCODE_TABLE, { opcode: 0x0f0f, mnemonic: 'test-gap', operands: '', exec: unimplemented('0F 0F (test)') }];
  const cpu = flatCpu([0x90, 0x0f, 0x0f, 0xf4], table);
  const exit = cpu.run(100);
  assert.equal(exit.kind, 'error');
  assert.match(exit.kind === 'error' ? exit.message : '', /instruction not implemented: 0F 0F \(test\)/);
  assert.match(exit.kind === 'error' ? exit.message : '', /cs:eip=0008:00001001 bytes: 0f 0f f4/);
  assert.match(exit.kind === 'error' ? exit.message : '', /eax=00000000 .* esp=00008000/);
  assert.equal(cpu.eip, 0x1001, 'stopped at the instruction, not past it');
});

test('an undefined opcode raises #UD in the guest, not an error exit', () => {
  // No IDT: #UD, then #GP and #DF on the empty IDT, end in a triple fault (shutdown), never an exception in the host.
  const cpu = flatCpu([0x0f, 0x0b]);
  cpu.idtLimit = 0;
  const exit = cpu.run(100);
  assert.equal(exit.kind, 'shutdown');
});

test('port I/O leaves run() as an exit and completes when run() is called again', () => {
  const cpu = flatCpu([0xe4, 0x71, 0xe6, 0x80, 0xf4]); // in al, 0x71; out 0x80, al; hlt
  const first = cpu.run(100);
  assert.deepEqual(first, { kind: 'io', port: 0x71, size: 1, isWrite: false, value: 0 });
  first.kind === 'io' && (first.value = 0x5a);
  const second = cpu.run(100);
  assert.deepEqual(second, { kind: 'io', port: 0x80, size: 1, isWrite: true, value: 0x5a });
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.r8[0], 0x5a);
});
