/**
 * Decoded blocks: the interpreter decodes a run of straight-line instructions once
 * and keeps, per instruction, a closure that executes it with its prefixes, ModRM,
 * effective-address recipe and immediates already resolved. The semantics stay in
 * src/cpu/ops (reached through the opcode table); the hottest forms get a
 * specialised closure from ops/fast.ts. docs/cpu.md ("Decoded blocks") explains the
 * cache, its invalidation and what ends a block.
 */
import type { Cpu, Handler } from './cpu.ts';
import type { OpcodeEntry } from './table/types.ts';
import type { DecodeIndex } from './table/decode-index.ts';
import { decodeInstr, MAX_INSTRUCTION_BYTES, type Instr, type MemOperand } from './decoder.ts';
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
  /** Times the block ran, counted while a translator is attached and it has no native code yet. */
  runs: number;
  /** Native code for the block's first instructions (a translator's), NO_NATIVE when it has none. */
  native: NativeBlock;
  /**
   * A block of one instruction across the page end (stepped): its 15 bytes from where it
   * was first run, the next page's read through the TLB then (Cpu.findBlock, with a
   * translator attached); null otherwise. The translator checks the next page's part
   * again each time its code runs.
   */
  cross: Uint8Array | null;
}

/**
 * Generated code for a block: entry `entry` of the page function in slot `fn` of the
 * translator's function table (translate.ts: a physical page's hot blocks in one
 * function), valid while the CPU's mode matches `key` in the bits of `mask`
 * (Cpu.nativeKey() & mask === key: the bits of the segments its code uses). The
 * translator runs it (BlockTranslator.enter).
 */
export interface NativeBlock {
  readonly key: number;
  readonly mask: number;
  readonly entry: number;
  readonly fn: number;
}

/** A block without native code (one shape for every block). */
export const NO_NATIVE: NativeBlock = { key: -1, mask: -1, entry: 0, fn: -1 };

/** What the CPU asks for native code: a translator (src/engines/jit) attaches one. */
export interface BlockTranslator {
  /** Runs of a block before it is translated. */
  readonly threshold: number;
  /** b reached the threshold: give it native code (b.native, with the other blocks of its page), now or later, or leave it without. */
  translate(b: Block): void;
  /** The CPU dropped b (its page was written): forget its native code. */
  dropped(b: Block): void;
  /**
   * Run block b's native code (EIP = eip), going on through native code while it can
   * (code whose key matches the CPU's mode `key`), for at most `budget` instructions.
   * Returns the instructions completed and leaves EIP in the CPU area. An access native
   * code does not do itself (a TLB miss, MMIO, a fault) returns before its instruction,
   * for the CPU's loop to run. A fault or an I/O exit in an instruction it runs through
   * its closure throws, with that instruction's EIP in OFF_JIT_EIP and the instructions
   * completed before it in OFF_JIT_BASE + OFF_JIT_DONE.
   */
  enter(b: Block, eip: number, budget: number, key: number): number;
}

export function makeBlock(phys: number, cs32: boolean, execs: Exec[], ends: number[]): Block {
  const count = execs.length;
  return { phys, cs32, execs: execs.slice(), ends: ends.slice(), bytes: count ? ends[count - 1] : 0, count, slot: -1, runs: 0, native: NO_NATIVE, cross: null };
}

/** Decodes a block from guest RAM: mem[phys .. phys + avail) holds the bytes it may use. */
export type BlockDecoder = (mem: Uint8Array, phys: number, avail: number, cs32: boolean) => Block;

const MAX_INSTRUCTIONS = 64;

/** One decoded instruction, as the fast-form factories see it: the decoder's record and its address recipe. */
export interface Decoded extends Instr {
  /** Segment of the memory operand (override or default); -1 for register forms and no ModRM. */
  seg: number;
  /** Offset of the memory operand; null for register forms and no ModRM. */
  ea: EaFn | null;
  /** The base register of the memory operand is ESP (POP Ev). */
  eaBaseIsEsp: boolean;
  entry: OpcodeEntry;
}

/** Execute the instruction the ordinary way (fetching and decoding its bytes again): a system instruction, or one not decoded here. */
export const stepAgain: Exec = (cpu) => {
  cpu.eip = cpu.instrEip;
  cpu.step();
};

export function makeBlockDecoder(index: DecodeIndex): BlockDecoder {
  return (mem, phys, avail, cs32) => {
    const execs: Exec[] = [];
    const ends: number[] = [];
    let off = 0;
    while (execs.length < MAX_INSTRUCTIONS && off < avail) {
      const r = decodeOne(index, mem, phys + off, Math.min(avail - off, MAX_INSTRUCTION_BYTES), cs32);
      if (r === null) {
        // Runs past the window (over the page's end, or the CS limit). As the first
        // instruction, a block of its own that steps it (the jit runs it from native code).
        if (execs.length === 0) {
          execs.push(stepAgain);
          ends.push(0);
        }
        break;
      }
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
  const instr = decodeInstr(index, mem, at, room, cs32);
  if (instr === null) return null; // runs past the window
  const entry = instr.entry;
  if (instr.lock || !entry || entry.system || entry.prefix) return 'step';
  if (entry.modrmForm && (instr.modrm >= 0xc0) !== (entry.modrmForm === 'reg')) return 'step';
  const m = instr.mem;
  // Written out rather than spread: a spread that sets a key again (entry) makes a dictionary-mode
  // object, slow to make and to read (3.3 us an instruction against 0.2 us, decoding the kernel's text).
  const d: Decoded = {
    o32: instr.o32, a32: instr.a32, segOverride: instr.segOverride, rep: instr.rep, lock: instr.lock,
    opcode: instr.opcode, modrm: instr.modrm, mem: m, trailOff: instr.trailOff, imm: instr.imm, imm2: instr.imm2, length: instr.length,
    entry, seg: m ? m.seg : -1, ea: m ? eaFn(m) : null, eaBaseIsEsp: m ? m.baseIsEsp : false,
  };
  const exec = fastForm(d) ?? generic(d);
  return { exec, length: instr.length, last: entry.blockEnd === true };
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

/** Effective-address closures are shared between instructions that address alike (fewer objects for the cache to hold). */
const EA_FNS = new Map<string, EaFn>();

function eaFn(m: MemOperand): EaFn {
  const key = `${m.a16 ? 16 : 32},${m.base},${m.index},${m.scale},${m.disp}`;
  let f = EA_FNS.get(key);
  if (f === undefined) EA_FNS.set(key, (f = m.a16 ? makeEa16(m.base, m.index, m.disp) : makeEa32(m.base, m.index, m.scale, m.disp)));
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

/** 16-bit forms: base and index are 16-bit register numbers (r16 view index reg << 1). */
function makeEa16(base: number, index: number, disp: number): EaFn {
  const x = base << 1;
  const y = index << 1;
  if (index >= 0) return (c) => (c.r16[x] + c.r16[y] + disp) & 0xffff;
  if (base >= 0) return (c) => (c.r16[x] + disp) & 0xffff;
  return () => disp & 0xffff;
}
