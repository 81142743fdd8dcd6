// Decoded blocks: what drops them (a device or the host writing RAM, a store through
// another linear alias of the page) and that a run stops exactly at its budget.
// Stores over code through the ordinary path are compared with the host CPU in
// test/cpu/sequences.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InterpVcpu } from '../../../src/engines/interp/interp-vcpu.ts';
import { GuestMemory } from '../../../src/memory/guest-memory.ts';
import { CR0_PG, CS } from '../../../src/cpu/constants.ts';
import type { Cpu } from '../../../src/cpu/cpu.ts';

const noInterrupts = { hasInterrupt: () => false, acknowledge: () => 0 };

/** Flat 32-bit ring 0 at 0x1000, RAM wired to the vCPU the way the machine wires it. */
function flatVcpu(code: number[]): { vcpu: InterpVcpu; cpu: Cpu; memory: GuestMemory } {
  const memory = new GuestMemory(1 << 20);
  const vcpu = new InterpVcpu({ ram: memory.u8, interrupts: noInterrupts, readTsc: () => 0 });
  memory.onWrite((addr, length) => vcpu.memoryWritten(addr, length));
  memory.u8.set(code, 0x1000);
  const cpu = vcpu.cpu;
  cpu.cr0 |= 1;
  for (let s = 0; s < 6; s++) cpu.setSegmentCache(s, s === CS ? 0x08 : 0x10, 0, 0xffffffff, s === CS ? 0xc09b : 0xc093);
  cpu.eip = 0x1000;
  cpu.r32[4] = 0x8000;
  return { vcpu, cpu, memory };
}

// inc eax; inc eax; jmp short back to the first inc
const LOOP = [0x40, 0x40, 0xeb, 0xfc];

test('a device writing over code (DMA through GuestMemory) drops the decoded blocks', () => {
  const { vcpu, cpu, memory } = flatVcpu(LOOP);
  assert.equal(vcpu.run(300).kind, 'budget');
  assert.equal(cpu.r32[0], 200);
  // dec eax; dec eax — written the way virtio writes a buffer.
  memory.writableSlice(0x1000, 2).set([0x48, 0x48]);
  cpu.r32[0] = 0;
  cpu.eip = 0x1000;
  vcpu.run(300);
  assert.equal(cpu.r32[0], -200);
  memory.writeBytes(0x1000, Uint8Array.of(0x40, 0x40));
  cpu.r32[0] = 0;
  cpu.eip = 0x1000;
  vcpu.run(300);
  assert.equal(cpu.r32[0], 200);
});

test('a store through another linear alias of the page drops its blocks', () => {
  // Paging: identity map of the first 4 MiB, and linear 0x400000 -> physical 0x1000 (the code page), all dirty.
  const code = [
    0x40, //                                  0x1000: inc eax
    0xc6, 0x05, 0x00, 0x00, 0x40, 0x00, 0x48, // 0x1001: mov byte [0x400000], 0x48 (dec eax) through the alias
    0x43, //                                  0x1008: inc ebx
    0x83, 0xfb, 0x03, //                      0x1009: cmp ebx, 3
    0x75, 0xf2, //                            0x100c: jne 0x1000
    0xf4, //                                  0x100e: hlt
  ];
  const { vcpu, cpu, memory } = flatVcpu(code);
  const dv = new DataView(memory.u8.buffer);
  const PD = 0x10000;
  const PT0 = 0x11000;
  const PT1 = 0x12000;
  dv.setUint32(PD, PT0 | 0x63, true);
  dv.setUint32(PD + 4, PT1 | 0x63, true);
  for (let i = 0; i < 256; i++) dv.setUint32(PT0 + i * 4, (i << 12) | 0x63, true);
  dv.setUint32(PT1, 0x1000 | 0x63, true);
  // Start on another page that reads through the alias first, so its TLB entry exists before the page holds code.
  memory.u8.set([0x8b, 0x0d, 0x00, 0x00, 0x40, 0x00, 0xe9, 0xf5, 0xef, 0xff, 0xff], 0x2000); // mov ecx,[0x400000]; jmp 0x1000
  cpu.cr3 = PD;
  cpu.cr0 |= CR0_PG;
  cpu.flushTlb();
  cpu.eip = 0x2000;
  const exit = vcpu.run(1000);
  assert.equal(exit.kind, 'halt');
  assert.equal(cpu.r32[3], 3);
  assert.equal(cpu.r32[0], -1, 'inc, then dec twice: the patched instruction ran');
});

test('run() stops at its budget exactly, inside a block', () => {
  const { vcpu, cpu } = flatVcpu(LOOP);
  for (let i = 1; i <= 20; i++) {
    vcpu.run(1);
    assert.equal(vcpu.instructionsRetired, i);
  }
  assert.equal(cpu.r32[0], 14, 'two incs in every three instructions');
  vcpu.run(7);
  assert.equal(vcpu.instructionsRetired, 27);
  assert.equal(cpu.r32[0], 18);
});
