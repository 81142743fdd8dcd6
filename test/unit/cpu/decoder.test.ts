// The decoder (src/cpu/decoder.ts) against an independent one: GNU objdump. For every row
// of the opcode table, random prefixes, ModRM, SIB, displacements and immediates are
// decoded by decodeInstr(); each instruction goes into its own slot padded with NOPs,
// and objdump must find the same instruction boundaries, in 32-bit and 16-bit code.
// Decoded memory operands and immediates are checked against objdump's text for the
// common forms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCODE_TABLE } from '../../../src/cpu/table/index.ts';
import { buildDecodeIndex, needsModrm } from '../../../src/cpu/table/decode-index.ts';
import { decodeInstr, memOffset, newMemOperand, decodeMem, RamWindow } from '../../../src/cpu/decoder.ts';

const objdump = spawnSync('objdump', ['--version']).status === 0;
const skip = !objdump && 'objdump (binutils) is not installed';
const index = buildDecodeIndex(OPCODE_TABLE);
const SLOT = 32;
const PREFIX_WORDS = new Set(['cs', 'ds', 'es', 'ss', 'fs', 'gs', 'data16', 'data32', 'addr16', 'addr32', 'rep', 'repz', 'repnz', 'repe', 'repne', 'lock']);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** objdump's lines: offset, byte count, text. */
function disassemble(bytes: Uint8Array, bits: 16 | 32): { at: number; length: number; text: string }[] {
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-decoder-'));
  const file = join(dir, 'code.bin');
  writeFileSync(file, bytes);
  const r = spawnSync('objdump', ['-D', '-b', 'binary', '-m', bits === 32 ? 'i386' : 'i8086', '--insn-width=16', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const lines: { at: number; length: number; text: string }[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$/.exec(line);
    if (m) lines.push({ at: parseInt(m[1], 16), length: m[2].trim().split(' ').length, text: m[3].trim() });
  }
  return lines;
}

for (const bits of [32, 16] as const) {
  test(`decodeInstr finds the instruction boundaries objdump finds, for every table row (${bits}-bit code)`, { skip }, () => {
    const rand = rng(bits);
    const byte = () => Math.floor(rand() * 256);
    const cases: { bytes: number[]; length: number; mnemonic: string }[] = [];
    for (const e of OPCODE_TABLE) {
      if (e.prefix) continue;
      for (let v = 0; v < 12; v++) {
        const bytes: number[] = [];
        // Prefixes that keep the opcode's meaning: operand and address size, a segment, REP on string-free rows too.
        if (rand() < 0.3) bytes.push(0x66);
        if (rand() < 0.3) bytes.push(0x67);
        if (rand() < 0.2) bytes.push([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65][Math.floor(rand() * 6)]);
        if (e.opcode < 0x100 && rand() < 0.15) bytes.push(0xf3);
        if (e.opcode >= 0x100) bytes.push(0x0f);
        bytes.push(e.opcode & 0xff);
        if (needsModrm(e)) {
          let mod = Math.floor(rand() * 4);
          if (e.modrmForm === 'reg') mod = 3;
          if (e.modrmForm === 'mem' && mod === 3) mod = Math.floor(rand() * 3);
          const reg = e.ext ?? Math.floor(rand() * 8);
          bytes.push((mod << 6) | (reg << 3) | Math.floor(rand() * 8));
        }
        for (let i = 0; i < 14; i++) bytes.push(byte());
        const mem = Uint8Array.from(bytes);
        const d = decodeInstr(index, mem, 0, mem.length, bits === 32);
        assert.ok(d, `${e.mnemonic} ${e.operands}: decoded`);
        if (d.length > 15) continue; // #GP on the CPU; objdump decodes it anyway
        // objdump reads 0F 1A / 0F 1B as MPX (BNDLDX, BNDSTX, BNDMOV), which has no 16-bit addressing,
        // and prints "(bad)" without the displacement; on a CPU without MPX they are hint NOPs with an Ev.
        if ((e.opcode === 0x0f1a || e.opcode === 0x0f1b) && d.mem?.a16) continue;
        cases.push({ bytes: bytes.slice(0, d.length), length: d.length, mnemonic: `${e.mnemonic} ${e.operands} (${e.opcode.toString(16)})` });
      }
    }
    const image = new Uint8Array(cases.length * SLOT).fill(0x90);
    cases.forEach((c, i) => image.set(c.bytes, i * SLOT));
    const lines = disassemble(image, bits);
    const byStart = new Map(lines.map((l) => [l.at, l]));
    const wrong: string[] = [];
    cases.forEach((c, i) => {
      let at = i * SLOT;
      const end = at + c.length;
      const texts: string[] = [];
      while (at < end) {
        const l = byStart.get(at);
        if (!l) break;
        texts.push(l.text);
        at += l.length;
        // Only prefixes objdump prints on their own line may come before the instruction.
        if (at < end && !PREFIX_WORDS.has(l.text.split(/\s+/)[0])) break;
      }
      if (at !== end) wrong.push(`${c.mnemonic}: ${c.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ')}: we decode ${c.length} bytes, objdump: ${texts.join(' | ')}`);
    });
    assert.ok(cases.length > 3000, `${cases.length} cases`);
    assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} of ${cases.length} disagree`);
  });
}

test('memory operands and immediates: the values objdump prints', { skip }, () => {
  // add dword [eax+ecx*4+0x44332211], 0x55 (83 /0 ib), in 32-bit code
  const a = Uint8Array.from([0x83, 0x84, 0x88, 0x11, 0x22, 0x33, 0x44, 0x55]);
  const d = decodeInstr(index, a, 0, a.length, true)!;
  assert.deepEqual([d.length, d.mem!.base, d.mem!.index, d.mem!.scale, d.mem!.disp, d.imm], [8, 0, 1, 2, 0x44332211, 0x55]);
  assert.match(disassemble(a, 32)[0].text, /addl\s+\$0x55,0x44332211\(%eax,%ecx,4\)/);
  // jmp rel32 backwards, call far 0x1234:0x56789abc, enter 0x208, 3
  const j = Uint8Array.from([0xe9, 0xfb, 0xff, 0xff, 0xff]);
  assert.equal(decodeInstr(index, j, 0, j.length, true)!.imm, -5);
  const far = Uint8Array.from([0x9a, 0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12]);
  const f = decodeInstr(index, far, 0, far.length, true)!;
  assert.deepEqual([f.imm >>> 0, f.imm2], [0x56789abc, 0x1234]);
  const en = Uint8Array.from([0xc8, 0x08, 0x02, 0x03]);
  const g = decodeInstr(index, en, 0, en.length, true)!;
  assert.deepEqual([g.imm, g.imm2], [0x208, 3]);
  // 16-bit [bp+di-2] defaults to SS; its offset wraps at 64 KiB
  const m = newMemOperand();
  decodeMem(new RamWindow(Uint8Array.from([0xfe]), 0, 1), 0x43, false, m);
  const r32 = new Int32Array(8);
  r32[5] = 0x1; // BP
  r32[7] = 0x0; // DI
  assert.deepEqual([m.a16, m.base, m.index, m.disp, m.seg], [true, 5, 7, -2, 2]);
  assert.equal(memOffset(m, r32, new Uint16Array(r32.buffer)), 0xffff);
  // A window too short for the instruction: null, never a read past it.
  assert.equal(decodeInstr(index, a, 0, 5, true), null);
});
