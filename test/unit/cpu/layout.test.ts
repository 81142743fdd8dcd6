// The CPU state lives at fixed offsets in the machine's linear memory (src/cpu/layout.ts):
// after run() returns, the bytes at those offsets are the state, the TLB entries are there
// too, a write into the area is what the CPU sees, and saveState() reads the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InterpVcpu } from '../../../src/engines/interp/interp-vcpu.ts';
import { GuestMemory } from '../../../src/memory/guest-memory.ts';
import * as L from '../../../src/cpu/layout.ts';
import { CR0_PE, CR0_PG, CS, SS } from '../../../src/cpu/constants.ts';
import { LZ_NONE } from '../../../src/cpu/cpu.ts';

const noInterrupts = { hasInterrupt: () => false, acknowledge: () => 0 };

function machineLike() {
  const memory = new GuestMemory(1 << 20, L.CPU_AREA_BYTES);
  const area = { buffer: memory.wasm.buffer, offset: memory.engineAreaOffset };
  const vcpu = new InterpVcpu({ ram: memory.u8, area, interrupts: noInterrupts, readTsc: () => 0 });
  const dv = new DataView(memory.wasm.buffer, area.offset);
  return { memory, vcpu, cpu: vcpu.cpu, dv };
}

test('the CPU area follows RAM in the same WebAssembly.Memory, and a CPU without one gets its own', () => {
  const { memory, dv } = machineLike();
  assert.equal(memory.engineAreaOffset, 1 << 20);
  assert.ok(memory.wasm.buffer.byteLength >= (1 << 20) + L.CPU_AREA_BYTES);
  assert.equal(memory.u8.length, 1 << 20, 'the RAM view does not reach into the area');
  assert.equal(dv.getUint32(L.OFF_EIP, true), 0xfff0, 'reset state is in the area');
  assert.throws(() => L.cpuViews({ buffer: new ArrayBuffer(100), offset: 0 }), /needs \d+ bytes/);
  const own = new InterpVcpu({ ram: new Uint8Array(4096), interrupts: noInterrupts, readTsc: () => 0 });
  assert.equal(own.saveState().eip, 0xfff0);
});

test('after run() the registers, EIP, flags, segments, control registers and retired count are at their offsets', () => {
  const { memory, vcpu, cpu, dv } = machineLike();
  // Flat 32-bit protected mode, paging with an identity-mapped first 4 MiB (one PSE-less table).
  const pd = 0x10000;
  const pt = 0x11000;
  for (let p = 0; p < 256; p++) memory.view.setUint32(pt + p * 4, (p << 12) | 3, true);
  memory.view.setUint32(pd, pt | 3, true);
  cpu.cr3 = pd;
  cpu.cr0 |= CR0_PE | CR0_PG;
  for (let s = 0; s < 6; s++) cpu.setSegmentCache(s, s === CS ? 0x08 : 0x10, 0, 0xffffffff, s === CS ? 0xc09b : 0xc093);
  // mov eax, 0x12345678; mov ebx, [0x3000]; add eax, ebx; mov esp, 0x9000; hlt
  memory.u8.set([0xb8, 0x78, 0x56, 0x34, 0x12, 0x8b, 0x1d, 0x00, 0x30, 0x00, 0x00, 0x01, 0xd8, 0xbc, 0x00, 0x90, 0x00, 0x00, 0xf4], 0x1000);
  memory.view.setUint32(0x3000, 0x11111111, true);
  cpu.eip = 0x1000;
  const exit = vcpu.run(100);
  assert.equal(exit.kind, 'halt');
  const i32 = (off: number) => dv.getInt32(off, true);
  assert.equal(i32(L.OFF_REGS + 0 * 4), 0x23456789); // EAX
  assert.equal(i32(L.OFF_REGS + 3 * 4), 0x11111111); // EBX
  assert.equal(i32(L.OFF_REGS + 4 * 4), 0x9000); // ESP
  assert.equal(dv.getUint8(L.OFF_REGS + 1), 0x67, 'AH is byte 1 of EAX');
  assert.equal(dv.getUint32(L.OFF_EIP, true), 0x1013, 'EIP after HLT');
  assert.equal(i32(L.OFF_LZ_OP), cpu.lzOp);
  assert.notEqual(cpu.lzOp, LZ_NONE, 'ADD left lazy flags');
  assert.equal(i32(L.OFF_LZ_RES), cpu.r32[0]);
  assert.equal(i32(L.OFF_SEG_SEL + CS * 4), 0x08);
  assert.equal(i32(L.OFF_SEG_SEL + SS * 4), 0x10);
  assert.equal(dv.getUint32(L.OFF_SEG_LIMIT + CS * 4, true), 0xffffffff);
  assert.equal(i32(L.OFF_SEG_ACCESS + CS * 4), 0xc09b);
  assert.equal(i32(L.OFF_CS32), 1);
  assert.equal(i32(L.OFF_CR0) & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
  assert.equal(i32(L.OFF_CR3), pd);
  assert.equal(i32(L.OFF_HALTED), 1);
  assert.equal(dv.getFloat64(L.OFF_RETIRED, true), 5);
  assert.equal(cpu.instructionsRetired, 5);
  // The TLB entries the accesses filled: code page 0x1000 and data page 0x3000, identity (phys ^ lin = 0).
  const tlb = (lin: number) => dv.getInt32(L.OFF_TLB + (lin >>> 12) * 4, true);
  assert.ok(tlb(0x1000) & 1, 'the code page has a valid entry');
  assert.ok(tlb(0x3000) & 1, 'the data page has a valid entry');
  assert.equal(tlb(0x3000) >>> 12, 0, 'identity mapping: physPage ^ linPage = 0');
  assert.equal(tlb(0x5000), 0, 'an untouched page has none');
  // saveState reads the same bytes.
  const s = vcpu.saveState();
  assert.equal(s.regs[0], i32(L.OFF_REGS));
  assert.equal(s.eip, dv.getUint32(L.OFF_EIP, true));
  assert.equal(s.cr3, i32(L.OFF_CR3));
});

test('a write into the area is what the CPU runs with (fill() reloads the fields the interpreter caches)', () => {
  const { memory, vcpu, cpu, dv } = machineLike();
  cpu.cr0 |= CR0_PE;
  for (let s = 0; s < 6; s++) cpu.setSegmentCache(s, s === CS ? 0x08 : 0x10, 0, 0xffffffff, s === CS ? 0xc09b : 0xc093);
  // inc ecx; hlt
  memory.u8.set([0x41, 0xf4], 0x2000);
  vcpu.run(0);
  dv.setInt32(L.OFF_REGS + 1 * 4, 41, true); // ECX, read in place
  dv.setUint32(L.OFF_EIP, 0x2000, true); // EIP, cached: needs fill()
  cpu.fill();
  assert.equal(vcpu.run(10).kind, 'halt');
  assert.equal(cpu.r32[1], 42);
  assert.equal(dv.getUint32(L.OFF_EIP, true), 0x2002);
});
