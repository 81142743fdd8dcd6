// Multi-instruction cases for the differential harness: random straight-line programs
// with forward branches (decoded blocks carry flags, registers and memory from one
// instruction to the next), and self-modifying code (a store over instructions the
// interpreter has already decoded). Assembled with nasm; run on the host CPU and the
// interpreter like the one-instruction cases.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLAGS_ARITH } from '../../src/cpu/constants.ts';
import { CODE_BASE, CODE_ENTRY, DATA_BASE } from './layout.ts';
import type { GenCase } from './generate.ts';
import { Rng } from './rng.ts';

export interface Program {
  name: string;
  source: string;
  regs?: number[];
}

/** Assemble 32-bit programs that start at CODE_ENTRY. Throws with nasm's message on a bad source. */
export function assemble(programs: Program[]): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-seq-'));
  try {
    return programs.map((p, i) => {
      const src = join(dir, `p${i}.asm`);
      const out = join(dir, `p${i}.bin`);
      writeFileSync(src, `bits 32\norg 0x${CODE_ENTRY.toString(16)}\n${p.source}\n`);
      execFileSync('nasm', ['-f', 'bin', '-o', out, src], { stdio: 'pipe' });
      return new Uint8Array(readFileSync(out));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function nasmAvailable(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const ESI_AT = DATA_BASE + 0x1000;
const EBP_AT = DATA_BASE + 0x2000;
const STACK_AT = DATA_BASE + 0x3800;

/**
 * Programs that store over their own instructions. The host CPU runs the new bytes; so
 * must we. Each first stores to a scratch word in its code page, so the page is dirty
 * and later stores take the interpreter's fast path (a clean page's first store is
 * always slow); patched words are aligned for the same reason.
 */
const SMC_PROLOGUE = 'mov [scratch], eax';
const SMC_EPILOGUE = 'align 4, db 0xcc\nscratch: dd 0';
/** Pad so that the label that follows sits at 4n - 1: its immediate (one opcode byte on) is aligned. */
const IMM_ALIGNED = 'align 4, nop\nnop\nnop\nnop';

export const SELF_MODIFYING: Program[] = [
  {
    name: 'smc/next-immediate',
    source: `mov byte [imm + 1], 5
imm: mov eax, 1
add eax, 0x100
int3`,
  },
  {
    name: 'smc/loop-patches-own-block',
    source: `mov ecx, 5
${IMM_ALIGNED}
top: mov eax, 1
add ebx, eax
inc dword [top + 1]
dec ecx
jnz top
int3`,
  },
  {
    name: 'smc/rep-stosb-over-nops',
    source: `mov edi, sled
mov ecx, 8
mov al, 0x40 ; inc eax
cld
rep stosb
sled: times 8 nop
int3`,
  },
  {
    name: 'smc/patch-between-calls',
    source: `call f
mov ebx, eax
mov dword [f + 1], 0x42424242
call f
int3
${IMM_ALIGNED}
f: mov eax, 0x11111111
ret`,
  },
  {
    name: 'smc/patch-opcode-behind',
    source: `xor eax, eax
mov ecx, 3
again: inc eax
mov byte [again], 0x48 ; dec eax from the second pass on
dec ecx
jnz again
int3`,
  },
  {
    name: 'smc/xchg-store-ahead',
    source: `mov edx, 0x90909090
xchg [slot], edx
align 4, nop
slot: add eax, 0x7fffffff
int3`,
  },
  {
    name: 'smc/add-to-immediate-in-loop',
    source: `mov ecx, 4
${IMM_ALIGNED}
top: add eax, 0x10
add dword [top + 1], 0x100
loop top
int3`,
  },
].map((p) => ({ ...p, source: `${SMC_PROLOGUE}\n${p.source}\n${SMC_EPILOGUE}` }));

const DEST = ['eax', 'ebx', 'ecx', 'edx', 'edi'];
const SRC = [...DEST, 'esi', 'ebp'];
const BYTE = ['al', 'bl', 'cl', 'dl', 'ah', 'bh', 'ch', 'dh'];
const ALU = ['add', 'sub', 'adc', 'sbb', 'and', 'or', 'xor', 'cmp'];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** A random straight-line program of hot instruction forms with forward branches and a call. */
export function randomProgram(seed: number, index: number): Program {
  const rng = Rng.forCase(seed, 'sequence', index);
  const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;
  const disp = () => rng.pick([0, 4, 8, 0x10, 0x7c, 0x100, 0x3f8]);
  const mem = () => `[${rng.pick(['esi', 'ebp'])} + ${disp()}]`;
  const imm = () => rng.pick([0, 1, -1, 0x7f, -0x80, 0x7fffffff, -0x80000000, rng.u32()]);
  const lines: string[] = [];
  let labels = 0;
  const pending: number[] = [];
  const n = 8 + (rng.u32() % 40);
  for (let i = 0; i < n; i++) {
    // Close forward branches at random points.
    while (pending.length && rng.chance(0.3)) lines.push(`.l${pending.shift()}:`);
    const d = rng.pick(DEST);
    const s = rng.pick(SRC);
    switch (rng.u32() % 18) {
      case 0: lines.push(`${rng.pick(ALU)} ${d}, ${s}`); break;
      case 1: lines.push(`${rng.pick(ALU)} ${d}, byte ${imm() & 0x7f}`); break;
      case 2: lines.push(`${rng.pick(ALU)} ${d}, dword ${hex(imm())}`); break;
      case 3: lines.push(`${rng.pick(ALU)} ${d}, ${mem()}`); break;
      case 4: lines.push(`${rng.pick(ALU)} ${mem()}, ${s}`); break;
      case 5: lines.push(`${rng.pick(ALU)} dword ${mem()}, ${hex(imm())}`); break;
      case 6: lines.push(`${rng.pick(ALU)} ${rng.pick(BYTE)}, ${rng.pick(BYTE)}`); break;
      case 7: lines.push(`${rng.pick(['inc', 'dec', 'neg', 'not'])} ${d}`); break;
      case 8: lines.push(`mov ${d}, ${rng.chance(0.5) ? s : hex(imm())}`); break;
      case 9: lines.push(rng.chance(0.5) ? `mov ${d}, ${mem()}` : `mov ${mem()}, ${s}`); break;
      case 10: lines.push(`${rng.pick(['movzx', 'movsx'])} ${d}, ${rng.pick(['byte', 'word'])} ${mem()}`); break;
      case 11: lines.push(`lea ${d}, [${s} + ${rng.pick(DEST)} * ${rng.pick([1, 2, 4, 8])} + ${hex(imm())}]`); break;
      case 12: lines.push(`test ${d}, ${rng.chance(0.5) ? s : hex(imm())}`); break;
      case 13: lines.push(`push ${s}`, `pop ${d}`); break;
      case 14: lines.push(`set${rng.pick(CC)} ${rng.pick(BYTE)}`); break;
      case 15: lines.push(`cmov${rng.pick(CC)} ${d}, ${s}`); break;
      case 16: {
        const l = labels++;
        pending.push(l);
        lines.push(`j${rng.pick(CC)} ${rng.chance(0.3) ? 'near ' : ''}.l${l}`);
        break;
      }
      default: lines.push(rng.chance(0.5) ? 'call sub' : `mov byte ${mem()}, ${imm() & 0xff}`); break;
    }
  }
  for (const l of pending) lines.push(`.l${l}:`);
  // Every arithmetic flag defined at the end.
  lines.push('cmp eax, ebx', 'int3', 'sub:', 'add eax, ecx', 'ret');
  return { name: `seq/${index}`, source: lines.join('\n') };
}

/** Turn assembled programs into harness cases (every register and arithmetic flag compared). */
/**
 * Fixed programs for behaviour that held-out tests found wrong, checked against the oracle:
 * results go to memory (FSTP m80), which is compared byte for byte (QEMU's x87 flags are not
 * comparable, docs/cpu.md, so the programs store values only).
 */
export const FINDINGS: Program[] = [
  {
    // The remainder of a finite value by an infinity is the value, normalized: a pseudo-denormal
    // (exponent 0, integer bit set) comes back with exponent 1.
    name: 'x87/fprem-pseudo-denormal-by-infinity',
    source: `fninit
mov ebx, 0
top:
fld tword [inf + ebx]
fld tword [pd]
fprem
fstp tword [esi]
fld tword [pd]
fprem1
fstp tword [esi + 10]
fstp st0
add esi, 20
add ebx, 10
cmp ebx, 20
jne top
fninit
cmp eax, eax
int3
pd: dq 0x8000000000012345
dw 0x8000
inf: dq 0x8000000000000000
dw 0x7fff
dq 0x8000000000000000
dw 0xffff`,
  },
];

export function toCases(programs: Program[], codes: Uint8Array[], seed: number): GenCase[] {
  return programs.map((p, i) => {
    const rng = Rng.forCase(seed, p.name, i);
    const regs = p.regs ?? [rng.u32(), rng.u32(), rng.u32(), rng.u32(), 0, EBP_AT, ESI_AT, rng.u32()].map((v) => v | 0);
    regs[4] = STACK_AT;
    regs[5] = EBP_AT;
    regs[6] = ESI_AT;
    return {
      id: i, key: p.name, group: p.name.split('/')[0], mnemonic: p.name, index: i,
      regs, eflags: 0x202 | (rng.u32() & 0x8d5), memSeed: seed + i,
      codeOffset: CODE_ENTRY - CODE_BASE, code: codes[i], patches: [],
      cmp: { flagsMask: FLAGS_ARITH, regMask: new Array(8).fill(-1), fpu: 'off', memIgnore: [] },
    };
  });
}
