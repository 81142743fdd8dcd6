/**
 * The IA-32 instruction decoder: prefixes, opcode, ModRM/SIB/displacement and the
 * trailing immediates, as plain data. It is the one place that knows the encoding.
 * The interpreter's step() reads prefixes and memory operands with it from the CPU's
 * own (faulting) fetch; decoded blocks and the translator decode whole instructions
 * from a window of RAM with decodeInstr(). What an instruction does is in the opcode
 * table (src/cpu/table), which decodeInstr() consults for ModRM and operand shapes.
 */
import { CS, DS, ES, FS, GS, SS } from './constants.ts';
import type { OpcodeEntry } from './table/types.ts';
import type { DecodeIndex } from './table/decode-index.ts';

/** Where the bytes come from: the CPU's fetch (which can fault), or a window of RAM. */
export interface ByteStream {
  fetch8(): number;
  fetch16(): number;
  /** As a signed int32. */
  fetch32(): number;
}

/** Maximum instruction length (SDM Vol. 2 2.3.11); longer is #GP. */
export const MAX_INSTRUCTION_BYTES = 15;

// ---------------------------------------------------------------- prefixes

/** The legacy prefixes of one instruction. */
export interface Prefixes {
  o32: boolean;
  a32: boolean;
  /** Segment override (ES..GS), or -1. */
  segOverride: number;
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  rep: number;
  lock: boolean;
}

/** Returned by readPrefixes when prefixes alone fill MAX_INSTRUCTION_BYTES: the instruction is #GP. */
export const TOO_LONG = -1;

/**
 * Read prefixes and the opcode (0F xx as 0x0Fxx) into out. `used` is how many bytes
 * of the instruction have been read when a prefix asks for one more; reaching
 * MAX_INSTRUCTION_BYTES returns TOO_LONG.
 */
export function readPrefixes(s: ByteStream, cs32: boolean, out: Prefixes, used: () => number): number {
  out.o32 = out.a32 = cs32;
  out.segOverride = -1;
  out.rep = 0;
  out.lock = false;
  for (;;) {
    const b = s.fetch8();
    switch (b) {
      case 0x66: out.o32 = !cs32; break;
      case 0x67: out.a32 = !cs32; break;
      case 0x26: out.segOverride = ES; break;
      case 0x2e: out.segOverride = CS; break;
      case 0x36: out.segOverride = SS; break;
      case 0x3e: out.segOverride = DS; break;
      case 0x64: out.segOverride = FS; break;
      case 0x65: out.segOverride = GS; break;
      case 0xf0: out.lock = true; break;
      case 0xf2: out.rep = 2; break;
      case 0xf3: out.rep = 1; break;
      case 0x0f: return 0x0f00 | s.fetch8();
      default: return b;
    }
    if (used() >= MAX_INSTRUCTION_BYTES) return TOO_LONG;
  }
}

// ---------------------------------------------------------------- memory operands

/**
 * A ModRM memory operand: offset = base + (index << scale) + disp, wrapped to 32 bits,
 * or to 16 bits for 16-bit addressing (where base and index name 16-bit registers:
 * BX 3, BP 5, SI 6, DI 7). seg is the default segment (SS for BP/ESP/EBP bases),
 * before any override.
 */
export interface MemOperand {
  a16: boolean;
  /** Register number, or -1. */
  base: number;
  /** Register number, or -1. */
  index: number;
  scale: number;
  disp: number;
  seg: number;
  /** The base is ESP (POP Ev computes the address after the pop). */
  baseIsEsp: boolean;
}

export function newMemOperand(): MemOperand {
  return { a16: false, base: -1, index: -1, scale: 0, disp: 0, seg: DS, baseIsEsp: false };
}

/** 16-bit forms by ModRM.rm: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (disp16 with mod 0), BX. */
const EA16_BASE = [3, 3, 5, 5, 6, 7, 5, 3];
const EA16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1];

/** Decode the memory operand of a ModRM byte below 0xC0 (SIB and displacement follow it in s). */
export function decodeMem(s: ByteStream, modrm: number, a32: boolean, out: MemOperand): void {
  const mod = modrm >> 6;
  const rm = modrm & 7;
  out.scale = 0;
  out.baseIsEsp = false;
  out.seg = DS;
  if (!a32) {
    out.a16 = true;
    out.index = EA16_INDEX[rm];
    if (rm === 6 && mod === 0) {
      out.base = -1;
      out.disp = s.fetch16();
      return;
    }
    out.base = EA16_BASE[rm];
    if (out.base === 5) out.seg = SS;
    out.disp = mod === 1 ? (s.fetch8() << 24) >> 24 : mod === 2 ? s.fetch16() : 0;
    return;
  }
  out.a16 = false;
  out.index = -1;
  if (rm === 4) {
    const sib = s.fetch8();
    const b = sib & 7;
    const i = (sib >> 3) & 7;
    if (i !== 4) {
      out.index = i;
      out.scale = sib >> 6;
    }
    if (b === 5 && mod === 0) {
      out.base = -1;
      out.disp = s.fetch32();
      return;
    }
    out.base = b;
    out.baseIsEsp = b === 4;
    if (b === 4 || b === 5) out.seg = SS;
  } else if (rm === 5 && mod === 0) {
    out.base = -1;
    out.disp = s.fetch32();
    return;
  } else {
    out.base = rm;
    if (rm === 5) out.seg = SS;
  }
  out.disp = mod === 1 ? (s.fetch8() << 24) >> 24 : mod === 2 ? s.fetch32() : 0;
}

/** The offset a memory operand addresses, from the general registers (r32 and its 16-bit view r16). */
export function memOffset(m: MemOperand, r32: Int32Array, r16: Uint16Array): number {
  if (m.a16) {
    let off = m.disp;
    if (m.base >= 0) off += r16[m.base << 1];
    if (m.index >= 0) off += r16[m.index << 1];
    return off & 0xffff;
  }
  let off = m.disp;
  if (m.base >= 0) off += r32[m.base];
  if (m.index >= 0) off += r32[m.index] << m.scale;
  return off | 0;
}

// ---------------------------------------------------------------- whole instructions

/** One decoded instruction. */
export interface Instr extends Prefixes {
  /** 0x00..0xFF, or 0x0F00..0x0FFF for the 0F map. */
  opcode: number;
  /** -1 without a ModRM byte. */
  modrm: number;
  /** The memory operand (ModRM below 0xC0), its seg with the override applied; null otherwise. */
  mem: MemOperand | null;
  /** Offset, from the instruction's first byte, of the byte after ModRM/SIB/displacement. */
  trailOff: number;
  /**
   * The trailing operands: imm is the first (Ib, Iw, Iz, moffs, a far pointer's offset;
   * J operands sign-extended, the others as encoded: Ib 0..255, Iw 0..65535, a 32-bit
   * value as int32), imm2 the second (ENTER's Ib, a far pointer's selector).
   */
  imm: number;
  imm2: number;
  length: number;
  /** The table row; undefined for an undefined opcode (#UD). */
  entry: OpcodeEntry | undefined;
}

/** A window of guest RAM as a ByteStream: mem[at .. at + room). Reading past it throws TRUNCATED. */
export class RamWindow implements ByteStream {
  pos = 0;
  constructor(private readonly mem: Uint8Array, private readonly at: number, private readonly room: number) {}
  fetch8(): number {
    if (this.pos >= this.room) throw TRUNCATED;
    return this.mem[this.at + this.pos++];
  }
  fetch16(): number {
    const lo = this.fetch8();
    return lo | (this.fetch8() << 8);
  }
  fetch32(): number {
    const lo = this.fetch16();
    return lo | (this.fetch16() << 16);
  }
}

/** The instruction does not fit in the window it was decoded from. */
const TRUNCATED = { truncated: true };

/**
 * Decode the instruction at mem[at], using at most room bytes. Returns null when it
 * does not fit (the caller executes it the ordinary way, which fetches across pages).
 */
export function decodeInstr(index: DecodeIndex, mem: Uint8Array, at: number, room: number, cs32: boolean): Instr | null {
  const w = new RamWindow(mem, at, Math.min(room, MAX_INSTRUCTION_BYTES));
  const d: Instr = {
    o32: cs32, a32: cs32, segOverride: -1, rep: 0, lock: false,
    opcode: -1, modrm: -1, mem: null, trailOff: 0, imm: 0, imm2: 0, length: 0, entry: undefined,
  };
  try {
    const opcode = readPrefixes(w, cs32, d, () => w.pos);
    if (opcode === TOO_LONG) return null;
    d.opcode = opcode;
    if (index.hasModrm(opcode)) {
      d.modrm = w.fetch8();
      if (d.modrm < 0xc0) {
        const m = newMemOperand();
        decodeMem(w, d.modrm, d.a32, m);
        if (d.segOverride >= 0) m.seg = d.segOverride;
        d.mem = m;
      }
    }
    d.entry = index.entry(opcode, d.modrm < 0 ? 0 : d.modrm);
    d.trailOff = w.pos;
    if (d.entry) readTrailing(w, trailingKinds(d.entry), d);
    d.length = w.pos;
    return d;
  } catch (e) {
    if (e === TRUNCATED) return null;
    throw e;
  }
}

/** Trailing operand kinds of a row, from its operand string (once per row). */
type Trailing = 'Ib' | 'Jb' | 'Iw' | 'Iz' | 'Jz' | 'Ap' | 'O';
const TRAILING = new WeakMap<OpcodeEntry, Trailing[]>();

function trailingKinds(e: OpcodeEntry): Trailing[] {
  let kinds = TRAILING.get(e);
  if (kinds === undefined) {
    kinds = [];
    for (const raw of e.operands.split(',')) {
      const op = raw.trim();
      switch (op) {
        case 'Ib': case 'Jb': case 'Iw': case 'Ap': kinds.push(op); break;
        case 'Iz': case 'Iv': kinds.push('Iz'); break;
        case 'Jz': kinds.push('Jz'); break;
        case 'Ob': case 'Ov': kinds.push('O'); break;
        default: break;
      }
    }
    TRAILING.set(e, kinds);
  }
  return kinds;
}

function readTrailing(s: ByteStream, kinds: Trailing[], d: Instr): void {
  for (let i = 0; i < kinds.length; i++) {
    let v: number;
    let v2 = 0;
    switch (kinds[i]) {
      case 'Ib': v = s.fetch8(); break;
      case 'Jb': v = (s.fetch8() << 24) >> 24; break;
      case 'Iw': v = s.fetch16(); break;
      case 'Iz': v = d.o32 ? s.fetch32() : s.fetch16(); break;
      case 'Jz': v = d.o32 ? s.fetch32() : (s.fetch16() << 16) >> 16; break;
      case 'Ap': v = d.o32 ? s.fetch32() : s.fetch16(); v2 = s.fetch16(); break;
      default: v = d.a32 ? s.fetch32() : s.fetch16(); break;
    }
    if (i === 0) {
      d.imm = v;
      d.imm2 = v2;
    } else {
      d.imm2 = v;
    }
  }
}
