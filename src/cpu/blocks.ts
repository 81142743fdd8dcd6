/**
 * Decoded blocks: the interpreter decodes a run of straight-line instructions once
 * and keeps, per instruction, a closure that executes it with its prefixes, ModRM,
 * effective-address recipe and immediates already resolved. The semantics stay in
 * src/cpu/ops (reached through the opcode table); the hottest forms get a
 * specialised closure from ops/fast.ts. docs/cpu.md ("Decoded blocks") explains the
 * cache, its invalidation and what ends a block.
 */
import type { Cpu, Handler } from './cpu.ts';
import { CS, DS, ES, FS, GS, SS } from './constants.ts';
import type { OpcodeEntry } from './table/types.ts';
import type { DecodeIndex } from './table/decode-index.ts';
import { trailingBytes } from './table/decode-index.ts';
import { fastForm } from './ops/fast.ts';

export type Exec = (cpu: Cpu) => void;
/** Offset of a memory operand, computed from the registers at execution time. */
export type EaFn = (cpu: Cpu) => number;

/**
 * A decoded block. All blocks are created by makeBlock so they share one shape.
 * It lies within one physical page and within the fetch window it was decoded
 * from; ends[i] is the offset of the end of instruction i from the block start.
 */
export interface Block {
  readonly phys: number;
  readonly cs32: boolean;
  readonly execs: Exec[];
  readonly ends: readonly number[];
  readonly bytes: number;
  readonly count: number;
  /** Slot in the CPU's direct-mapped block cache. */
  slot: number;
}

export function makeBlock(phys: number, cs32: boolean, execs: Exec[], ends: number[]): Block {
  const count = execs.length;
  return { phys, cs32, execs: execs.slice(), ends: ends.slice(), bytes: count ? ends[count - 1] : 0, count, slot: -1 };
}

/** Decodes a block from guest RAM: mem[phys .. phys + avail) holds the bytes it may use. */
export type BlockDecoder = (mem: Uint8Array, phys: number, avail: number, cs32: boolean) => Block;

const MAX_INSTRUCTIONS = 64;
const MAX_LENGTH = 15;

/** One decoded instruction, as the fast-form factories see it. */
export interface Decoded {
  opcode: number;
  /** -1 without a ModRM byte. */
  modrm: number;
  o32: boolean;
  a32: boolean;
  /** Segment override prefix, or -1. */
  segOverride: number;
  /** 0, 1 (F3) or 2 (F2). */
  rep: number;
  /** Segment of the memory operand (override or default); -1 for register forms and no ModRM. */
  seg: number;
  /** Offset of the memory operand; null for register forms and no ModRM. */
  ea: EaFn | null;
  /** The base register of the memory operand is ESP (POP Ev). */
  eaBaseIsEsp: boolean;
  /** Index in mem of the first byte after ModRM/SIB/displacement (immediates, rel, moffs). */
  trailAt: number;
  /** Offset of that byte from the instruction start. */
  trailOff: number;
  length: number;
  entry: OpcodeEntry;
}

/** Execute the instruction the ordinary way (fetching and decoding its bytes again). */
const stepAgain: Exec = (cpu) => {
  cpu.eip = cpu.instrEip;
  cpu.step();
};

export function makeBlockDecoder(index: DecodeIndex): BlockDecoder {
  return (mem, phys, avail, cs32) => {
    const execs: Exec[] = [];
    const ends: number[] = [];
    let off = 0;
    while (execs.length < MAX_INSTRUCTIONS && off < avail) {
      const r = decodeOne(index, mem, phys + off, Math.min(avail - off, MAX_LENGTH), cs32);
      if (r === null) break; // runs past the window: left to the ordinary path
      if (r === 'step') {
        // Not decoded here (#UD, LOCK, system): run it the ordinary way, as the block's last instruction.
        execs.push(stepAgain);
        ends.push(off);
        break;
      }
      execs.push(r.exec);
      off += r.length;
      ends.push(off);
      if (r.last) break;
    }
    return makeBlock(phys, cs32, execs, ends);
  };
}

function decodeOne(
  index: DecodeIndex, mem: Uint8Array, at: number, room: number, cs32: boolean,
): { exec: Exec; length: number; last: boolean } | 'step' | null {
  let p = 0;
  let o32 = cs32;
  let a32 = cs32;
  let segOverride = -1;
  let rep = 0;
  let lock = false;
  let opcode = -1;
  while (p < room) {
    const b = mem[at + p++];
    switch (b) {
      case 0x66: o32 = !cs32; continue;
      case 0x67: a32 = !cs32; continue;
      case 0x26: segOverride = ES; continue;
      case 0x2e: segOverride = CS; continue;
      case 0x36: segOverride = SS; continue;
      case 0x3e: segOverride = DS; continue;
      case 0x64: segOverride = FS; continue;
      case 0x65: segOverride = GS; continue;
      case 0xf0: lock = true; continue;
      case 0xf2: rep = 2; continue;
      case 0xf3: rep = 1; continue;
      case 0x0f:
        if (p >= room) return null;
        opcode = 0x0f00 | mem[at + p++];
        break;
      default:
        opcode = b;
    }
    break;
  }
  if (opcode < 0) return null;
  let modrm = -1;
  let ea: EaFn | null = null;
  let seg = -1;
  let eaBaseIsEsp = false;
  if (index.hasModrm(opcode)) {
    if (p >= room) return null;
    modrm = mem[at + p++];
    if (modrm < 0xc0) {
      const r = a32 ? decodeEa32(mem, at, p, room, modrm) : decodeEa16(mem, at, p, room, modrm);
      if (r === null) return null;
      p = r.p;
      ea = r.ea;
      seg = segOverride >= 0 ? segOverride : r.seg;
      eaBaseIsEsp = r.baseIsEsp;
    }
  }
  const entry = index.entry(opcode, modrm < 0 ? 0 : modrm);
  if (lock || !entry || entry.system || entry.prefix) return 'step';
  if (entry.modrmForm && (modrm >= 0xc0) !== (entry.modrmForm === 'reg')) return 'step';
  const trailOff = p;
  const length = p + trailingBytes(entry, o32, a32);
  if (length > room) return null;
  const d: Decoded = {
    opcode, modrm, o32, a32, segOverride, rep, seg, ea, eaBaseIsEsp,
    trailAt: at + trailOff, trailOff, length, entry,
  };
  const exec = fastForm(d, mem) ?? generic(d);
  return { exec, length, last: entry.blockEnd === true };
}

/**
 * The table's handler with the decode state it expects (what step() and the ModRM
 * dispatch would set). Two closures, so register forms and forms without ModRM skip
 * the effective-address work.
 */
function generic(d: Decoded): Exec {
  const { o32, a32, segOverride, rep, modrm, ea, seg, eaBaseIsEsp, trailOff } = d;
  const exec: Handler = d.entry.exec;
  if (ea !== null) {
    return (cpu) => {
      cpu.o32 = o32;
      cpu.a32 = a32;
      cpu.segOverride = segOverride;
      cpu.rep = rep;
      cpu.lock = false;
      cpu.modrm = modrm;
      cpu.eaOff = ea(cpu);
      cpu.eaSeg = seg;
      cpu.eaBaseIsEsp = eaBaseIsEsp;
      cpu.eip = cpu.instrEip + trailOff;
      exec(cpu);
    };
  }
  return (cpu) => {
    cpu.o32 = o32;
    cpu.a32 = a32;
    cpu.segOverride = segOverride;
    cpu.rep = rep;
    cpu.lock = false;
    if (modrm >= 0) cpu.modrm = modrm;
    cpu.eip = cpu.instrEip + trailOff;
    exec(cpu);
  };
}

interface EaDecode { p: number; ea: EaFn; seg: number; baseIsEsp: boolean }

function disp32(mem: Uint8Array, i: number): number {
  return mem[i] | (mem[i + 1] << 8) | (mem[i + 2] << 16) | (mem[i + 3] << 24);
}

function decodeEa32(mem: Uint8Array, at: number, p: number, room: number, modrm: number): EaDecode | null {
  const mod = modrm >> 6;
  const rm = modrm & 7;
  let base = -1;
  let index = -1;
  let scale = 0;
  let seg = DS;
  let baseIsEsp = false;
  let disp = 0;
  if (rm === 4) {
    if (p >= room) return null;
    const sib = mem[at + p++];
    const b = sib & 7;
    const i = (sib >> 3) & 7;
    if (i !== 4) {
      index = i;
      scale = sib >> 6;
    }
    if (b === 5 && mod === 0) {
      if (p + 4 > room) return null;
      disp = disp32(mem, at + p);
      p += 4;
    } else {
      base = b;
      baseIsEsp = b === 4;
      if (b === 4 || b === 5) seg = SS;
    }
  } else if (rm === 5 && mod === 0) {
    if (p + 4 > room) return null;
    disp = disp32(mem, at + p);
    p += 4;
  } else {
    base = rm;
    if (rm === 5) seg = SS;
  }
  if (mod === 1) {
    if (p + 1 > room) return null;
    disp = (mem[at + p++] << 24) >> 24;
  } else if (mod === 2) {
    if (p + 4 > room) return null;
    disp = disp32(mem, at + p);
    p += 4;
  }
  return { p, ea: ea32(base, index, scale, disp), seg, baseIsEsp };
}

/** Effective-address closures are shared between instructions that address alike (fewer objects for the cache to hold). */
const EA32 = new Map<string, EaFn>();

function ea32(base: number, index: number, scale: number, disp: number): EaFn {
  const key = `${base},${index},${scale},${disp}`;
  let f = EA32.get(key);
  if (f === undefined) EA32.set(key, (f = makeEa32(base, index, scale, disp)));
  return f;
}

function makeEa32(base: number, index: number, scale: number, disp: number): EaFn {
  if (index < 0) {
    if (base < 0) return () => disp;
    if (disp === 0) return (c) => c.r32[base];
    return (c) => (c.r32[base] + disp) | 0;
  }
  if (base < 0) return (c) => ((c.r32[index] << scale) + disp) | 0;
  if (disp === 0) return (c) => (c.r32[base] + (c.r32[index] << scale)) | 0;
  return (c) => (c.r32[base] + (c.r32[index] << scale) + disp) | 0;
}

/** 16-bit forms: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (or disp16), BX (r16 indexes 6, 10, 12, 14). */
const EA16_REGS: readonly (readonly number[])[] = [[6, 12], [6, 14], [10, 12], [10, 14], [12], [14], [10], [6]];

function decodeEa16(mem: Uint8Array, at: number, p: number, room: number, modrm: number): EaDecode | null {
  const mod = modrm >> 6;
  const rm = modrm & 7;
  let regs = EA16_REGS[rm];
  let disp = 0;
  const seg = rm === 2 || rm === 3 || (rm === 6 && mod !== 0) ? SS : DS;
  if (rm === 6 && mod === 0) {
    if (p + 2 > room) return null;
    disp = mem[at + p] | (mem[at + p + 1] << 8);
    p += 2;
    regs = [];
  } else if (mod === 1) {
    if (p + 1 > room) return null;
    disp = (mem[at + p++] << 24) >> 24;
  } else if (mod === 2) {
    if (p + 2 > room) return null;
    disp = mem[at + p] | (mem[at + p + 1] << 8);
    p += 2;
  }
  let ea: EaFn;
  if (regs.length === 2) {
    const [x, y] = regs;
    ea = (c) => (c.r16[x] + c.r16[y] + disp) & 0xffff;
  } else if (regs.length === 1) {
    const [x] = regs;
    ea = (c) => (c.r16[x] + disp) & 0xffff;
  } else {
    ea = () => disp;
  }
  return { p, ea, seg, baseIsEsp: false };
}
