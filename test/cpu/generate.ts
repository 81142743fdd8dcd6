import {
  FLAG_AC, FLAG_AF, FLAG_CF, FLAG_DF, FLAG_FIXED, FLAG_ID, FLAG_IF, FLAG_IOPL, FLAG_NT, FLAG_OF, FLAG_PF, FLAG_SF,
  FLAG_TF, FLAG_ZF, FLAGS_ARITH,
} from '../../src/cpu/constants.ts';
import { OPCODE_TABLE, needsModrm } from '../../src/cpu/table/index.ts';
import type { OpcodeEntry } from '../../src/cpu/table/types.ts';
import { generateX87 } from './gen-x87.ts';
import { CODE_BASE, CODE_ENTRY, CODE_SIZE, DATA_BASE, DATA_SIZE, LOW_BASE, LOW_SIZE } from './layout.ts';
import type { CaseInput } from './native.ts';
import { Rng } from './rng.ts';

/** EFLAGS bits compared after a case (RF is left out: the CPU sets it in the frame of a fault). */
export const FLAGS_COMPARED =
  FLAGS_ARITH | FLAG_TF | FLAG_IF | FLAG_DF | FLAG_IOPL | FLAG_NT | FLAG_AC | FLAG_ID;

/**
 * exact: FCW, FSW, tags and every non-empty ST(i); inexact: the same without ST values, C1 and PE (results within
 * one ulp); stack: FCW, tags and TOP only (results undefined).
 */
export type FpuCompare = 'off' | 'exact' | 'inexact' | 'stack';

export interface CompareSpec {
  flagsMask: number;
  /** Bits compared per GPR (EAX..EDI). */
  regMask: number[];
  fpu: FpuCompare;
  /** Data bytes whose value is architecturally undefined. */
  memIgnore: { addr: number; len: number }[];
  /** Page-fault error code bits not compared (an oracle's limits). */
  pfErrIgnore?: number;
  /** FSW bits not compared (an oracle's limits). */
  swIgnore?: number;
  /** Do not compare the x87 tag word (an oracle's limits); ST(i) is compared where both sides hold a value. */
  ignoreTags?: boolean;
  /**
   * A multi-part operand (x87 m64/m80/environment, FXSAVE area) whose faulting byte is implementation-specific:
   * CR2 agrees when both sides report an address inside it.
   */
  cr2Within?: { addr: number; len: number };
}

export interface GenCase extends CaseInput {
  /** The opcode table row, as rowKey() names it. */
  key: string;
  /** What the case is reported under: the row key, or a cross-cutting feature such as '#AC' (EFLAGS.AC set). */
  group: string;
  mnemonic: string;
  /** Index of the case within its row (with the seed, it regenerates the case). */
  index: number;
  cmp: CompareSpec;
  /**
   * Facts about the input that an oracle's limits are stated in (oracle-limits.ts): 'lock-ud' (a LOCK
   * prefix that must raise #UD), 'cs-override', 'x87' (an x87 escape), 'fnstenv'/'fnsave' with envAt.
   */
  traits?: string[];
  /** Where an FNSTENV/FNSAVE stores its environment, and whether in the 16-bit layout. */
  envAt?: { addr: number; o16: boolean };
}

export const DEFAULT_SEED = 20240601;
/** Cases per opcode-table row in CI (rows with many forms get a multiple, see casesFor) and with --long. */
export const CI_CASES_PER_ROW = 48;
export const LONG_CASES_PER_ROW = 1000;
/** Cases that run with EFLAGS.AC set (alignment checking, with CR0.AM on as Linux sets it) are reported together. */
export const ALIGNMENT_GROUP = '#AC';

/** The row's identity: opcode, /digit and ModRM form, as the dispatcher keys them. */
export function rowKey(e: OpcodeEntry): string {
  const op = e.opcode >= 0x100 ? e.opcode.toString(16).padStart(4, '0') : e.opcode.toString(16).padStart(2, '0');
  return op + (e.ext !== undefined ? `/${e.ext}` : '') + (e.modrmForm ? `.${e.modrmForm}` : '');
}

/**
 * Rows flagged `system` that a ring-3 process still executes with a defined result
 * under Linux (flat segments, IOPL 0): they get cases too.
 */
const RING3_SYSTEM_ROWS = new Set(['06', '0e', '16', '1e', '8c', '63', 'cc', 'cd', 'ce', '9c', '9d']);

/**
 * Rows the ring-3 comparison cannot judge, with the reason. Everything else that is
 * not `system` or a prefix gets cases.
 */
export function exclusionReason(e: OpcodeEntry): string | undefined {
  if (e.system && !RING3_SYSTEM_ROWS.has(rowKey(e))) return 'system';
  if (e.prefix) return 'prefix';
  const mn = e.mnemonic.toLowerCase();
  const ops = e.operands.replace(/\s/g, '');
  if (/^(cpuid|rdtsc|rdtscp|rdpmc|rdrand|rdseed|xgetbv)$/.test(mn)) return 'host-specific result';
  if (/^(syscall|sysenter|sysexit|sysret|int1|icebp)$/.test(mn)) return 'enters the host kernel';
  if (/^(lar|lsl|verr|verw|sgdt|sidt|sldt|str|smsw)$/.test(mn)) return 'reads host descriptor tables';
  if (/^(lds|les|lss|lfs|lgs|retf|iret|iretd|iretw)$/.test(mn)) return 'segment load / far transfer';
  if (/(^|,)A[a-z]?($|,)/.test(ops) || /(^|,)M?p($|,)/.test(ops) || /^(call|jmp)f/.test(mn)) return 'far transfer';
  if (e.opcode === 0xff && (e.ext === 3 || e.ext === 5)) return 'far transfer';
  if (mn === 'mov' && /^S/.test(ops)) return 'segment load';
  if (mn === 'pop' && /^(ES|SS|DS|FS|GS|CS)$/.test(ops)) return 'segment load';
  if (/(^|,)(FS|GS)($|,)/.test(ops)) return 'FS/GS differ (host TLS)';
  if (/^(in|out|ins|outs|insb|insw|insd|outsb|outsw|outsd|cli|sti|hlt)$/.test(mn)) return 'I/O or privileged';
  return undefined;
}

// ---------------------------------------------------------------- operands

type Size = 'b' | 'w' | 'd' | 'v' | 'z' | 'q' | 'a' | '';
interface Operand {
  kind: 'E' | 'G' | 'M' | 'R' | 'S' | 'I' | 'J' | 'O' | 'X' | 'Y' | 'reg' | 'one' | 'other';
  size: Size;
  text: string;
}

export function parseOperands(s: string): Operand[] {
  const out: Operand[] = [];
  for (const raw of s.split(',')) {
    const t = raw.trim();
    if (!t) continue;
    if (t === '1') {
      out.push({ kind: 'one', size: '', text: t });
      continue;
    }
    const m = /^([EGMRSIJOXY])([a-z]*)$/.exec(t);
    if (m) {
      const size = (['b', 'w', 'd', 'v', 'z', 'q', 'a'].includes(m[2]) ? m[2] : '') as Size;
      out.push({ kind: m[1] as Operand['kind'], size, text: t });
      continue;
    }
    if (/^(e?[A-D]X|e?(SP|BP|SI|DI)|[A-D][LH]|DX|CL|AL|AX)$/.test(t)) out.push({ kind: 'reg', size: '', text: t });
    else out.push({ kind: 'other', size: '', text: t });
  }
  return out;
}

// ---------------------------------------------------------------- values

const EDGE: Record<number, number[]> = {
  8: [0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x0f, 0x10],
  16: [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff],
  32: [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0x80000001,
    0xfffffffe, 0xffffffff, 0x12345678, 0xdeadbeef],
};

function mask(bits: number): number {
  return bits === 32 ? 0xffffffff : (1 << bits) - 1;
}

export function edgeValue(rng: Rng, bits: number): number {
  const r = rng.int(10);
  let v: number;
  if (r < 4) v = rng.pick(EDGE[bits] ?? EDGE[32]);
  else if (r < 6) v = rng.range(-3, 3);
  else if (r < 7) v = 2 ** rng.int(bits) + rng.range(-1, 1);
  else v = rng.u32();
  return (v & mask(bits)) >>> 0;
}

function randomReg(rng: Rng): number {
  const r = rng.int(10);
  if (r < 3) return rng.pick(EDGE[32]);
  if (r < 4) return rng.range(0, 16);
  return rng.u32();
}

// ---------------------------------------------------------------- builder

const ESP_REG = 4;
const SEG_PREFIXES = [0x26, 0x2e, 0x36, 0x3e];
/** Addresses no 32-bit host process here maps (below the low window, and between the windows). */
const UNMAPPED = [0x00002000, 0x00001ff8, 0x30000000, 0x10002000, 0x1ffff000, 0x7ff00000];

export class Builder {
  /** GenCase.traits gathered by hooks. */
  traits: string[] = [];
  regs: number[] = [];
  locked = [false, false, false, false, false, false, false, false];
  eflags = FLAG_FIXED | FLAG_IF;
  prefixes: number[] = [];
  body: number[] = [];
  o16 = false;
  a16 = false;
  seg = -1;
  rep = 0;
  lock = false;
  patches: { addr: number; bytes: Uint8Array }[] = [];
  memTarget = -1;
  /** Operand value for E/M chosen by a hook. */
  eValue: number | undefined;
  gValue: number | undefined;
  immValues: (number | undefined)[] = [];
  extraUndef = 0;
  /** When set, replaces the row's flagsUndefined (count-dependent shifts). */
  undefOverride: number | undefined;
  regMask = [-1, -1, -1, -1, -1, -1, -1, -1].map((v) => v >>> 0);
  memIgnore: { addr: number; len: number }[] = [];
  fpu: FpuCompare = 'off';
  memSeed: number;
  cr2Within: { addr: number; len: number } | undefined;
  /** Memory operands are aligned to this many bytes in most cases (FXSAVE needs 16). */
  align = 0;
  /** Index of the ModRM byte in body. */
  modrmAt = 1;

  constructor(readonly rng: Rng, readonly lowMapped: boolean, readonly index = 0) {
    for (let i = 0; i < 8; i++) this.regs.push(randomReg(rng));
    this.regs[ESP_REG] = (DATA_BASE + 0x3000 + rng.int(0x200) * 4 + (rng.chance(0.05) ? rng.range(1, 3) : 0)) >>> 0;
    this.memSeed = rng.chance(0.05) ? 0 : rng.pick([0x1234567, 0x89abcdef, 0x5a5a5a5, 0xfedcba9, 0x1, 0x7777777]);
    const arith = rng.u32() & FLAGS_ARITH;
    this.eflags |= arith;
    if (rng.chance(0.08)) this.eflags |= FLAG_DF;
    if (rng.chance(0.02)) this.eflags |= FLAG_NT;
    if (rng.chance(0.02)) this.eflags |= FLAG_ID;
  }

  get opBits(): number {
    return this.o16 ? 16 : 32;
  }

  setReg(n: number, v: number, lock = true): void {
    this.regs[n] = v >>> 0;
    if (lock) this.locked[n] = true;
  }

  /** Set an 8/16/32-bit register operand (8-bit numbering AL,CL,DL,BL,AH,CH,DH,BH). */
  setRegOperand(n: number, bits: number, v: number): void {
    if (bits === 8) {
      const r = n & 3;
      if (this.locked[r]) return;
      const sh = n >= 4 ? 8 : 0;
      this.regs[r] = ((this.regs[r] & ~(0xff << sh)) | ((v & 0xff) << sh)) >>> 0;
    } else {
      if (this.locked[n]) return;
      this.regs[n] = ((this.regs[n] & ~mask(bits)) | (v & mask(bits))) >>> 0;
    }
  }

  getRegOperand(n: number, bits: number): number {
    if (bits === 8) return (this.regs[n & 3] >>> (n >= 4 ? 8 : 0)) & 0xff;
    return (this.regs[n] & mask(bits)) >>> 0;
  }

  patch(addr: number, value: number | bigint, len: number): void {
    const bytes = new Uint8Array(len);
    let v = BigInt.asUintN(len * 8, BigInt(value));
    for (let i = 0; i < len; i++) {
      bytes[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    this.patchBytes(addr, bytes);
  }

  /** Write bytes into whichever window holds them; bytes outside every window are dropped. */
  patchBytes(addr: number, bytes: Uint8Array): void {
    const inWin = (a: number) =>
      (a >= DATA_BASE && a < DATA_BASE + DATA_SIZE) || (a >= LOW_BASE && a < LOW_BASE + LOW_SIZE);
    let start = -1;
    for (let i = 0; i <= bytes.length; i++) {
      const ok = i < bytes.length && inWin((addr + i) >>> 0);
      if (ok && start < 0) start = i;
      if (!ok && start >= 0) {
        this.patches.push({ addr: (addr + start) >>> 0, bytes: bytes.slice(start, i) });
        start = -1;
      }
    }
  }

  /** A linear address for a memory operand of len bytes: mostly inside the data window, sometimes at its edges. */
  pickTarget(len: number): number {
    const rng = this.rng;
    if (this.a16) {
      if (!this.lowMapped) return rng.range(0x1000, 0x3f00);
      const r = rng.int(20);
      if (r === 0) return LOW_BASE + LOW_SIZE - rng.range(1, Math.max(1, len));
      if (r === 1) return rng.range(0x6000, 0xfff0);
      return LOW_BASE + rng.int(LOW_SIZE - Math.max(len, 1) + 1);
    }
    const r = rng.int(50);
    if (this.align && rng.chance(0.8)) return (DATA_BASE + 0x400 + rng.int(0x2000)) & ~(this.align - 1);
    if (r < 2) return DATA_BASE + DATA_SIZE - rng.range(1, Math.max(1, len));
    if (r < 4) return DATA_BASE - rng.range(1, Math.max(1, len));
    if (r < 8 && len > 1) return DATA_BASE + 0x1000 * rng.range(1, 3) - rng.range(1, len - 1);
    const off = 0x400 + rng.int(0x2800);
    return DATA_BASE + (rng.chance(0.6) && len > 1 ? off & ~(Math.min(len, 8) - 1) : off);
  }

  /** Encode a memory ModRM (with SIB/displacement) whose effective address is target; returns the actual address. */
  encodeMem(reg: number, target: number): number {
    return this.a16 ? this.encodeMem16(reg, target) : this.encodeMem32(reg, target);
  }

  private encodeMem32(reg: number, target: number): number {
    const rng = this.rng;
    const mod = rng.int(3);
    let rm = rng.int(8);
    if (rm === 4 && rng.chance(0.3)) rm = rng.int(8);
    const bytes: number[] = [];
    let disp = 0;
    let dispLen = mod === 1 ? 1 : mod === 2 ? 4 : 0;
    let base = -1;
    let index = -1;
    let scale = 0;
    if (rm === 4) {
      scale = rng.int(4);
      index = rng.int(8);
      base = rng.int(8);
      if (base === 5 && mod === 0) {
        base = -1;
        dispLen = 4;
      }
      bytes.push((scale << 6) | (index << 3) | (base < 0 ? 5 : base));
      if (index === 4) index = -1;
    } else if (rm === 5 && mod === 0) {
      dispLen = 4;
    } else {
      base = rm;
    }
    if (dispLen === 1) disp = rng.range(-128, 127);
    else if (dispLen === 4) {
      if (base < 0 && index < 0) disp = target;
      else disp = rng.chance(0.7) ? rng.range(-0x1000, 0x1000) : rng.u32() | 0;
    }
    let actual = target >>> 0;
    const m = 2 ** scale;
    if (base < 0 && index >= 0) {
      // [index*scale + disp32]: pick the index, solve for the displacement.
      const iv = this.locked[index] ? this.regs[index] : rng.chance(0.7) ? rng.range(-0x80, 0x80) : rng.u32();
      this.setReg(index, iv);
      disp = (target - Math.imul(this.regs[index], m)) | 0;
    } else if (index >= 0 && index === base) {
      const x = (target - disp) >>> 0;
      const v = Math.floor(x / (m + 1));
      this.setReg(index, v);
      actual = (v * (m + 1) + disp) >>> 0;
    } else {
      let known = disp;
      if (index >= 0) {
        const iv = this.locked[index] && index !== base ? this.regs[index] : rng.chance(0.7) ? rng.range(-0x80, 0x80) : rng.u32();
        this.setReg(index, iv);
        known += Math.imul(this.regs[index], m);
      }
      if (base >= 0) this.setReg(base, (target - known) >>> 0);
      else actual = (known >>> 0);
    }
    this.body.push((mod << 6) | (reg << 3) | rm, ...bytes);
    for (let i = 0; i < dispLen; i++) this.body.push((disp >>> (8 * i)) & 0xff);
    return actual;
  }

  private encodeMem16(reg: number, target: number): number {
    const rng = this.rng;
    const mod = rng.int(3);
    const rm = rng.int(8);
    const pairs: number[][] = [[3, 6], [3, 7], [5, 6], [5, 7], [6], [7], [5], [3]];
    let regsUsed = pairs[rm];
    let disp = 0;
    let dispLen = mod === 1 ? 1 : mod === 2 ? 2 : 0;
    if (mod === 0 && rm === 6) {
      regsUsed = [];
      dispLen = 2;
      disp = target & 0xffff;
    } else if (dispLen === 1) disp = rng.range(-128, 127);
    else if (dispLen === 2) disp = rng.u32() & 0xffff;
    const t = target & 0xffff;
    if (regsUsed.length === 2) {
      const a = rng.u32() & 0xffff;
      const b = (t - disp - a) & 0xffff;
      this.setReg(regsUsed[0], (rng.u32() & 0xffff0000) | a);
      this.setReg(regsUsed[1], (rng.u32() & 0xffff0000) | b);
    } else if (regsUsed.length === 1) {
      this.setReg(regsUsed[0], (rng.u32() & 0xffff0000) | ((t - disp) & 0xffff));
    }
    this.body.push((mod << 6) | (reg << 3) | rm);
    for (let i = 0; i < dispLen; i++) this.body.push((disp >>> (8 * i)) & 0xff);
    return t;
  }

  imm(len: number, v: number): void {
    for (let i = 0; i < len; i++) this.body.push((v >>> (8 * i)) & 0xff);
  }

  code(): Uint8Array {
    return Uint8Array.from([...this.prefixes, ...this.body]);
  }
}

function sizeBits(size: Size, b: Builder): number {
  switch (size) {
    case 'b': return 8;
    case 'w': return 16;
    case 'd': return 32;
    case 'q': return 64;
    case 'a': return b.opBits * 2;
    case 'v': case 'z': return b.opBits;
    default: return b.opBits;
  }
}

function immLen(size: Size, b: Builder): number {
  switch (size) {
    case 'b': return 1;
    case 'w': return 2;
    case 'd': return 4;
    default: return b.o16 ? 2 : 4;
  }
}

// ---------------------------------------------------------------- per-mnemonic knowledge

const STRING_OPS = /^(movs|cmps|stos|lods|scas)[bwd]?$/;
const SHIFTS = /^(rol|ror|rcl|rcr|shl|sal|shr|sar)$/;

interface Hooks {
  /** Before encoding: registers, flags and prefix choices. */
  pre?(b: Builder, e: OpcodeEntry, ops: Operand[]): void;
  /** After encoding (memTarget and immediates known). */
  post?(b: Builder, e: OpcodeEntry, ops: Operand[]): void;
}

function stringElemBits(mn: string, e: OpcodeEntry, b: Builder): number {
  const last = mn[mn.length - 1];
  if (last === 'b') return 8;
  if (/b/.test(e.operands.replace(/[^a-z]/g, '')) || (e.opcode & 1) === 0) return 8;
  return b.opBits;
}

function codeTarget(b: Builder): number {
  const rng = b.rng;
  if (rng.chance(0.1)) return rng.pick(UNMAPPED);
  return CODE_BASE + rng.int(CODE_SIZE);
}

function shiftCount(rng: Rng): number {
  return rng.chance(0.75) ? rng.int(34) : rng.int(256);
}

/** Undefined flags of a shift or rotate by masked count c of a bits-wide operand (SDM SAL/SHL/SHR/SAR, RCL/RCR/ROL/ROR). */
function shiftUndef(mn: string, c: number, bits: number): number {
  if (c === 0) return 0;
  const rotate = /^r/.test(mn);
  let u = 0;
  if (!rotate) u |= FLAG_AF;
  if (c !== 1) u |= FLAG_OF;
  if (/^(shl|sal|shr)$/.test(mn) && c >= bits) u |= FLAG_CF;
  return u;
}

const HOOKS: Record<string, Hooks> = {};

function hook(names: string[], h: Hooks): void {
  for (const n of names) HOOKS[n] = h;
}

function stringPre(b: Builder, e: OpcodeEntry): void {
  const rng = b.rng;
  const mn = e.mnemonic.toLowerCase();
  const elem = stringElemBits(mn, e, b) / 8;
  if (rng.chance(0.4)) b.eflags |= FLAG_DF;
  else b.eflags &= ~FLAG_DF;
  const place = (lo: number) => {
    if (b.a16) {
      const off = b.lowMapped ? LOW_BASE + 0x400 + rng.int(0x1800) : rng.range(0x1000, 0x3000);
      return ((rng.u32() & 0xffff0000) | (off & ~(rng.chance(0.7) ? elem - 1 : 0))) >>> 0;
    }
    return (DATA_BASE + lo + rng.int(0x800) * (rng.chance(0.7) ? elem : 1)) >>> 0;
  };
  b.setReg(6, place(0x400));
  b.setReg(7, place(0x1800));
  if (b.rep) {
    const n = rng.pick([0, 1, 2, 3, 4, 7, 8, 16, 33]);
    b.setReg(1, b.a16 ? ((rng.u32() & 0xffff0000) | n) >>> 0 : n);
  }
}

function stringPost(b: Builder, e: OpcodeEntry): void {
  const rng = b.rng;
  const mn = e.mnemonic.toLowerCase();
  const elem = stringElemBits(mn, e, b) / 8;
  const count = b.rep ? (b.a16 ? b.regs[1] & 0xffff : b.regs[1]) : 1;
  const step = b.eflags & FLAG_DF ? -elem : elem;
  const si = b.a16 ? b.regs[6] & 0xffff : b.regs[6];
  const di = b.a16 ? b.regs[7] & 0xffff : b.regs[7];
  const equalRun = rng.chance(0.6) ? rng.int(count + 1) : 0;
  for (let i = 0; i < Math.min(count, 40); i++) {
    const v = rng.u32();
    if (/^cmps/.test(mn) && i < equalRun) {
      b.patch(si + i * step, v, elem);
      b.patch(di + i * step, v, elem);
    }
    if (/^scas/.test(mn) && i < equalRun) {
      const acc = b.regs[0] & mask(elem * 8);
      b.patch(di + i * step, b.rep === 2 ? acc ^ 1 : acc, elem);
    }
  }
}

hook(['movs', 'movsb', 'movsw', 'movsd', 'cmps', 'cmpsb', 'cmpsw', 'cmpsd', 'stos', 'stosb', 'stosw', 'stosd',
  'lods', 'lodsb', 'lodsw', 'lodsd', 'scas', 'scasb', 'scasw', 'scasd'], { pre: stringPre, post: stringPost });

hook(['loop', 'loope', 'loopne', 'loopz', 'loopnz', 'jcxz', 'jecxz'], {
  pre(b) {
    const n = b.rng.pick([0, 1, 2, 3, 0x10000, 0x10001, 0x1ffff]);
    b.setReg(1, b.rng.chance(0.5) ? n : ((b.rng.u32() & 0xffff0000) | (n & 0xffff)) >>> 0);
  },
});

hook(['xlat', 'xlatb'], {
  pre(b) {
    const base = b.a16 ? (b.lowMapped ? LOW_BASE + b.rng.int(0x1e00) : 0x2000) : DATA_BASE + 0x800 + b.rng.int(0x2000);
    b.setReg(3, ((b.a16 ? b.rng.u32() & 0xffff0000 : 0) | base) >>> 0);
  },
});

hook(['leave'], {
  pre(b) {
    b.setReg(5, DATA_BASE + 0x2800 + b.rng.int(0x400) * 4 + (b.rng.chance(0.1) ? 1 : 0));
  },
});

hook(['enter'], {
  pre(b) {
    b.setReg(5, DATA_BASE + 0x2800 + b.rng.int(0x100) * 4);
    b.immValues = [b.rng.pick([0, 4, 8, 16, 0x100, b.rng.int(0x400)]), b.rng.pick([0, 0, 1, 2, 3, 5, 32, 33])];
  },
});

hook(['ret', 'retn'], {
  pre(b) {
    b.immValues = [b.rng.pick([0, 2, 4, 8, 0x10, b.rng.int(0x100) & ~1, 0xfffc])];
  },
  post(b) {
    const t = b.o16 ? b.rng.range(0x1000, 0x3f00) : codeTarget(b);
    b.patch(b.regs[ESP_REG], t, b.o16 ? 2 : 4);
  },
});

hook(['call', 'jmp'], {
  pre(b, e) {
    if (e.opcode === 0xff) b.eValue = b.o16 ? b.rng.range(0x1000, 0x3f00) : codeTarget(b);
  },
});

hook(['div', 'idiv'], {
  pre(b, e, ops) {
    const rng = b.rng;
    const bits = ops[0]?.kind === 'E' || ops[0]?.kind === 'M' ? sizeBits(ops[0].size, b) : sizeBits(/b/.test(e.operands) ? 'b' : 'v', b);
    let d = rng.chance(0.1) ? 0 : edgeValue(rng, bits);
    if (d === 0 && rng.chance(0.5)) d = 1;
    b.eValue = d;
    const signed = e.mnemonic.toLowerCase() === 'idiv';
    if (rng.chance(0.65) && d !== 0) {
      const lo = edgeValue(rng, bits);
      let hi: number;
      if (signed) hi = (lo & (1 << (bits - 1))) !== 0 ? mask(bits) : 0;
      else hi = rng.int(Math.min(d, 2 ** 31));
      if (bits === 8) b.setReg(0, ((b.regs[0] & 0xffff0000) | (hi << 8) | lo) >>> 0);
      else {
        b.setReg(0, ((b.regs[0] & ~mask(bits)) | lo) >>> 0);
        b.setReg(2, ((b.regs[2] & ~mask(bits)) | hi) >>> 0);
      }
    }
  },
});

hook(['bt', 'bts', 'btr', 'btc'], {
  pre(b, e, ops) {
    if (ops[1]?.kind === 'G') b.gValue = (b.rng.range(-0x200, 0x200) >>> 0) & mask(b.opBits);
  },
});

hook(['bsf', 'bsr'], {
  pre(b) {
    if (b.rng.chance(0.25)) b.eValue = 0;
  },
  post(b, e) {
    if (b.eValue === 0) {
      b.regMask[(b.body[b.modrmAt] >> 3) & 7] = 0;
    }
  },
});

hook(['bswap'], {
  post(b, e) {
    if (b.o16) b.regMask[e.opcode & 7] = 0xffff0000;
  },
});

hook(['cmpxchg'], {
  post(b, e, ops) {
    if (b.rng.chance(0.5)) {
      const bits = sizeBits(ops[0].size, b);
      if (b.memTarget >= 0) b.patch(b.memTarget, b.getRegOperand(0, bits), bits / 8);
      else b.setRegOperand(0, bits, b.getRegOperand(b.body[b.modrmAt] & 7, bits));
    }
  },
});

hook(['cmpxchg8b'], {
  pre(b) {
    if (b.rng.chance(0.5)) {
      b.locked[0] = b.locked[2] = true;
      b.eValue = -1;
    }
  },
  post(b) {
    if (b.eValue === -1 && b.memTarget >= 0) b.patch(b.memTarget, (BigInt(b.regs[2]) << 32n) | BigInt(b.regs[0]), 8);
  },
});

hook(['aam', 'aad'], {
  pre(b) {
    b.immValues = [b.rng.pick([10, 10, 10, 0, 16, 7, 1, 0xff, b.rng.int(256)])];
  },
});

hook(['int'], {
  pre(b) {
    let v = b.rng.pick([3, 4, 0x21, 1, 0, 5, 6, 0x81, 0xff, b.rng.int(256)]);
    if (v === 0x80) v = 0x81;
    b.immValues = [v];
  },
});

hook(['into'], {
  pre(b) {
    if (b.rng.chance(0.5)) b.eflags |= FLAG_OF;
  },
});

hook(['popf', 'popfd', 'popfw'], {
  post(b) {
    const v = (b.rng.u32() & ~(FLAG_TF | 0x10000)) >>> 0;
    b.patch(b.regs[ESP_REG], v, b.o16 ? 2 : 4);
  },
});

hook(['shld', 'shrd'], {
  pre(b, e, ops) {
    const c = b.index < 34 ? b.index : shiftCount(b.rng);
    if (ops.some((o) => o.kind === 'I')) b.immValues = [c];
    else b.setReg(1, ((b.regs[1] & ~0xff) | c) >>> 0);
  },
  post(b, e, ops) {
    const bits = b.opBits;
    const c = (ops.some((o) => o.kind === 'I') ? b.body[b.body.length - 1] : b.regs[1]) & 31;
    if (c === 0) b.undefOverride = 0;
    else {
      b.undefOverride = FLAG_AF | (c === 1 ? 0 : FLAG_OF);
      if (c > bits) {
        b.undefOverride = FLAGS_ARITH;
        const modrm = b.body[b.modrmAt];
        if (modrm >= 0xc0) b.regMask[modrm & 7] = 0;
        else if (b.memTarget >= 0) b.memIgnore.push({ addr: b.memTarget, len: bits / 8 });
      }
    }
  },
});

hook(['bound'], {
  post(b, e) {
    if (b.memTarget < 0) return;
    const bits = b.opBits;
    const rng = b.rng;
    const lo = edgeValue(rng, bits);
    const hi = rng.chance(0.8) ? (lo + rng.int(100)) & mask(bits) : edgeValue(rng, bits);
    b.patch(b.memTarget, lo, bits / 8);
    b.patch(b.memTarget + bits / 8, hi, bits / 8);
    const reg = (b.body[b.modrmAt] >> 3) & 7;
    if (!b.locked[reg]) b.setRegOperand(reg, bits, rng.chance(0.7) ? (lo + rng.range(-2, 102)) & mask(bits) : edgeValue(rng, bits));
  },
});

/** With EFLAGS.AC set, a misaligned FXSAVE/FXRSTOR area raises #AC or #GP depending on the processor (SDM FXSAVE). */
function fxAlign(b: Builder): void {
  b.align = 16;
  b.eflags &= ~FLAG_AC;
}

hook(['fxsave'], {
  pre: fxAlign,
  post(b) {
    b.cr2Within = { addr: b.memTarget, len: 512 };
    // AMD stores FOP/FIP/FDP only while FSW.ES is set (docs/fpu.md); MXCSR_MASK is model-specific; the XMM and
    // reserved areas hold SSE state this CPU does not implement.
    const t = b.memTarget;
    b.memIgnore.push({ addr: t + 6, len: 2 }, { addr: t + 8, len: 8 }, { addr: t + 16, len: 8 },
      { addr: t + 28, len: 4 }, { addr: t + 160, len: 352 });
  },
});

hook(['fxrstor'], {
  pre: fxAlign,
  post(b) {
    b.cr2Within = { addr: b.memTarget, len: 512 };
    const rng = b.rng;
    const t = b.memTarget;
    b.patch(t, 0x40 | (rng.u32() & 0x1f3f), 2);
    b.patch(t + 2, rng.u32() & 0xffff, 2);
    b.patch(t + 4, rng.u32() & 0xff, 1);
    const mxcsr = rng.chance(0.9) ? 0x1f80 | (rng.u32() & 0x7f) : rng.u32();
    b.patch(t + 24, mxcsr, 4);
    if (mxcsr >>> 16) b.traits.push('mxcsr-reserved');
    for (let i = 0; i < 8; i++) {
      b.patch(t + 32 + 16 * i, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()), 8);
      b.patch(t + 40 + 16 * i, rng.pick([0x3fff, 0x4000, 0xbfff, 0x7fff, 0, rng.u32() & 0xffff]), 2);
    }
    b.fpu = 'exact';
  },
});

/** 32-bit PUSH of a segment register writes only 16 bits on some CPUs (SDM PUSH: the upper half may be unmodified). */
function pushSegPost(b: Builder): void {
  if (!b.o16) b.memIgnore.push({ addr: (b.regs[ESP_REG] - 2) >>> 0, len: 2 });
}

// ---------------------------------------------------------------- one case

export interface GenOptions {
  seed: number;
  lowMapped: boolean;
}

function isShiftRow(e: OpcodeEntry): boolean {
  return SHIFTS.test(e.mnemonic.toLowerCase());
}

/** Build case `index` for row e, or undefined when the row is not generated. */
export function generateCase(e: OpcodeEntry, index: number, opts: GenOptions): GenCase | undefined {
  if (exclusionReason(e)) return undefined;
  const key = rowKey(e);
  const rng = Rng.forCase(opts.seed, key, index);
  if (e.opcode >= 0xd8 && e.opcode <= 0xdf) return generateX87(e, key, index, rng, opts.lowMapped);
  const b = new Builder(rng, opts.lowMapped, index);
  const mn = e.mnemonic.toLowerCase();
  const ops = parseOperands(e.operands);
  const twoByte = e.opcode >= 0x100;
  const hasModrm = needsModrm(e);
  const isString = STRING_OPS.test(mn);
  const hasMemOperand = ops.some((o) => o.kind === 'M' || o.kind === 'O');
  let memForm = false;
  if (hasModrm) {
    if (e.modrmForm) memForm = e.modrmForm === 'mem';
    else if (ops.some((o) => o.kind === 'M')) memForm = true;
    else if (ops.some((o) => o.kind === 'R')) memForm = false;
    else memForm = rng.chance(0.55);
    if (rng.chance(0.02)) memForm = !memForm;
  }
  b.eflags = (b.eflags & ~FLAG_CF) | (index & 1 ? FLAG_CF : 0);
  if (rng.chance(0.03)) b.eflags |= FLAG_AC;

  // Prefixes.
  const vSized = /[vz]|^e[A-Z]/.test(e.operands) || /^(push|pop|ret|call|jmp|pushf|popf|cwde|cbw|cdq|cwd|iret|enter|leave|pusha|popa|in|out)/.test(mn) || isString;
  // On 0F-map rows without a v/z operand, 66 selects a different (SSE-era) instruction on current CPUs.
  b.o16 = rng.chance(vSized ? 0.35 : twoByte ? 0 : 0.04);
  const addrSensitive = memForm || isString || hasMemOperand || /^(loop|jcxz|jecxz|xlat)/.test(mn);
  b.a16 = addrSensitive && rng.chance(memForm ? 0.15 : 0.25);
  if ((memForm || isString || hasMemOperand || /^xlat/.test(mn)) && rng.chance(0.2)) b.seg = rng.pick(SEG_PREFIXES);
  if (isString) b.rep = rng.chance(0.65) ? (rng.chance(0.5) ? 1 : 2) : 0;
  b.lock = e.lockable ? rng.chance(memForm ? 0.25 : 0.03) : rng.chance(0.01);
  const pre: number[] = [];
  if (b.o16) pre.push(0x66);
  if (b.a16) pre.push(0x67);
  if (b.seg >= 0) pre.push(b.seg);
  if (b.rep) pre.push(b.rep === 1 ? 0xf3 : 0xf2);
  if (b.lock) pre.push(0xf0);
  for (let i = pre.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [pre[i], pre[j]] = [pre[j], pre[i]];
  }
  b.prefixes = pre;

  const h = HOOKS[mn];
  h?.pre?.(b, e, ops);
  if (isShiftRow(e)) {
    // Every count 0..33 comes first, then random ones.
    const c = index < 34 ? index : shiftCount(rng);
    if (ops.some((o) => o.text === 'CL')) b.setReg(1, ((b.regs[1] & ~0xff) | c) >>> 0);
    else if (ops.some((o) => o.kind === 'I')) b.immValues = [c];
  }

  // Opcode, ModRM and the memory operand.
  if (twoByte) b.body.push(0x0f, e.opcode & 0xff);
  else b.body.push(e.opcode);
  b.modrmAt = b.body.length;
  const eOp = ops.find((o) => o.kind === 'E' || o.kind === 'M' || o.kind === 'R');
  const eBits = eOp ? sizeBits(eOp.size, b) : b.opBits;
  if (hasModrm) {
    let reg = e.ext ?? rng.int(8);
    if (ops.some((o) => o.kind === 'S')) reg = rng.int(4);
    if (memForm) {
      const len = Math.max(1, eBits / 8);
      b.memTarget = b.encodeMem(reg, b.pickTarget(len));
    } else {
      b.body.push(0xc0 | (reg << 3) | rng.int(8));
    }
  }
  const modrmAt = b.modrmAt;

  // Immediates, relative targets and moffs, in operand order.
  let immIndex = 0;
  let relLen = 0;
  for (const o of ops) {
    if (o.kind === 'I') {
      const len = immLen(o.size, b);
      const v = b.immValues[immIndex] ?? edgeValue(rng, len * 8);
      b.imm(len, v);
      immIndex++;
    } else if (o.kind === 'J') {
      relLen = o.size === 'b' ? 1 : b.o16 ? 2 : 4;
      b.imm(relLen, 0);
    } else if (o.kind === 'O') {
      const len = Math.max(1, sizeBits(o.size, b) / 8);
      const t = b.pickTarget(len);
      b.memTarget = t;
      b.imm(b.a16 ? 2 : 4, t);
    }
  }
  if (relLen) {
    const end = CODE_ENTRY + b.prefixes.length + b.body.length;
    let rel: number;
    if (relLen === 1) rel = rng.pick([0, 1, 2, 3, -3, -4, rng.range(-128, -3), rng.range(0, 127), rng.range(-16, 16)]);
    else if (relLen === 2) rel = (rng.range(0x1000, 0x3f00) - (end & 0xffff)) & 0xffff;
    else rel = rng.chance(0.85) ? rng.range(-0x7f0, 0x17f0) : (rng.pick(UNMAPPED) - end) | 0;
    const at = b.body.length - relLen;
    for (let i = 0; i < relLen; i++) b.body[at + i] = (rel >>> (8 * i)) & 0xff;
  }

  // Operand values.
  for (const o of ops) {
    if (o.kind === 'E' || o.kind === 'M' || o.kind === 'R') {
      const bits = sizeBits(o.size, b);
      if (o.kind === 'M' && !o.size) continue;
      const v = b.eValue ?? edgeValue(rng, Math.min(bits, 32));
      if (b.memTarget >= 0 && memForm) {
        const len = bits / 8;
        if (bits === 64) b.patch(b.memTarget, (BigInt(edgeValue(rng, 32)) << 32n) | BigInt(v >>> 0), 8);
        else b.patch(b.memTarget, v, len);
      } else if (!memForm && hasModrm) {
        b.setRegOperand(b.body[modrmAt] & 7, bits, v);
      }
    } else if (o.kind === 'G') {
      const bits = sizeBits(o.size, b);
      b.setRegOperand((b.body[modrmAt] >> 3) & 7, bits, b.gValue ?? edgeValue(rng, Math.min(bits, 32)));
    } else if (o.kind === 'O' && b.memTarget >= 0) {
      const bits = sizeBits(o.size, b);
      b.patch(b.memTarget, edgeValue(rng, bits), bits / 8);
    }
  }
  h?.post?.(b, e, ops);
  if (/^push$/.test(mn) && /^(ES|CS|SS|DS)$/.test(e.operands.trim())) pushSegPost(b);

  let undef = b.undefOverride ?? e.flagsUndefined ?? 0;
  if (isShiftRow(e)) {
    const countOp = ops[1];
    let c = 1;
    if (countOp?.text === 'CL') c = b.regs[1] & 0xff;
    else if (countOp?.kind === 'I') c = b.body[b.body.length - 1];
    c &= 31;
    undef = shiftUndef(mn, c, eBits);
  }
  undef |= b.extraUndef;
  return {
    id: 0,
    key,
    group: b.eflags & FLAG_AC ? ALIGNMENT_GROUP : key,
    mnemonic: e.mnemonic,
    index,
    regs: b.regs,
    eflags: b.eflags,
    memSeed: b.memSeed,
    codeOffset: CODE_ENTRY - CODE_BASE,
    code: b.code(),
    patches: b.patches,
    cmp: { flagsMask: FLAGS_COMPARED & ~undef, regMask: b.regMask, fpu: b.fpu, memIgnore: b.memIgnore, cr2Within: b.cr2Within },
    traits: [
      ...b.traits,
      ...(b.lock && !(e.lockable && b.memTarget >= 0) ? ['lock-ud'] : []),
      ...(b.seg === 0x2e ? ['cs-override'] : []),
    ],
  };
}

export interface Suite {
  cases: GenCase[];
  rows: OpcodeEntry[];
  skipped: { key: string; mnemonic: string; reason: string }[];
}

/** Cases per row: more for rows with many forms. */
function casesFor(e: OpcodeEntry, perRow: number): number {
  if (e.opcode >= 0xd8 && e.opcode <= 0xdf) return perRow * 4;
  if (isShiftRow(e) || /^sh[lr]d$/.test(e.mnemonic) || STRING_OPS.test(e.mnemonic.toLowerCase())) return Math.max(perRow * 2, 34);
  return perRow;
}

export function generateSuite(opts: GenOptions & { perRow: number; filter?: (e: OpcodeEntry) => boolean; table?: readonly OpcodeEntry[] }): Suite {
  const cases: GenCase[] = [];
  const rows: OpcodeEntry[] = [];
  const skipped: Suite['skipped'] = [];
  for (const e of opts.table ?? OPCODE_TABLE) {
    if (opts.filter && !opts.filter(e)) continue;
    const why = exclusionReason(e);
    if (why) {
      if (why !== 'prefix') skipped.push({ key: rowKey(e), mnemonic: e.mnemonic, reason: why });
      continue;
    }
    rows.push(e);
    const n = casesFor(e, opts.perRow);
    for (let i = 0; i < n; i++) {
      const c = generateCase(e, i, opts);
      if (c) {
        c.id = cases.length;
        cases.push(c);
      }
    }
  }
  return { cases, rows, skipped };
}
