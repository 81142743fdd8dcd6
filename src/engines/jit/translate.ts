// Guest code to WebAssembly: the hot decoded blocks of one physical page become one
// function over the machine's linear memory. It enters at any of its blocks (a br_table
// over the entry index) and goes on from block to block while a branch's target is a
// block of the same page and the instruction budget lasts, so control stays in
// generated code around a loop; it returns to the CPU's block loop for any other target.
//
// Registers and the lazy-flag record are read and written in the CPU area
// (src/cpu/layout.ts); guest memory is reached through the software TLB inline. On a
// miss, an MMIO page, a page over code or an access across a page end (which is where
// faults come from) the code leaves before the instruction, none of which has been
// done, and the CPU's loop runs it in the interpreter. The instructions come from the
// shared decoder (src/cpu/decoder.ts). Generated code records the same lazy flag state
// (op, operands, result, width) that alu.ts records; a Jcc, or the CF that INC/DEC keep,
// is evaluated inline by the flag rules of src/cpu/flag-rules.ts (the description the
// interpreter's getters are built from) when the block itself wrote the record, and by
// the module's flag functions (the same rules, switching on the record) otherwise.
//
// Generated directly, in 32-bit code with 32-bit addresses and segments that are flat or
// 4 GiB with a base: the common integer instructions (docs/jit.md lists them) and, at a
// block's end, Jcc, JMP, CALL and RET. Any other instruction of the block calls its
// decoded closure (the interpreter's, through Cpu.nativeExec). A system instruction (one
// the block decoder leaves to step()) runs through step() the same way when it is one of
// STEPPED, and otherwise ends the native code, and the interpreter runs it.
import { CS, DS, EAX, EBP, ECX, EDI, ES, ESI, ESP, SS } from '../../cpu/constants.ts';
import { LZ_ADC, LZ_ADD, LZ_DEC, LZ_INC, LZ_LOGIC, LZ_SBB, LZ_SUB, NATIVE_KEY_ALWAYS, nativeKeySegment, TLB_VALID, tlbMasks } from '../../cpu/cpu.ts';
import {
  adjustRule, carryRule, conditionRule, overflowRule, parityRule, shiftCarryRule, shiftOverflowRule, signRule, zeroRule,
  LZ_NONE, SHIFT_ROL, SHIFT_ROR, SHIFT_SHL, SHIFT_SHR, type CcFlags, type FlagOps,
} from '../../cpu/flag-rules.ts';
import { FLAG_AF, FLAG_CF, FLAG_DF, FLAG_IF, FLAG_OF, FLAG_PF, FLAG_RF, FLAG_SF, FLAG_TF, FLAG_VM, FLAG_ZF, FLAGS_ARITH } from '../../cpu/constants.ts';
import { stepAgain, type Block, type Exec } from '../../cpu/blocks.ts';
import { decodeInstr, MAX_INSTRUCTION_BYTES, newMemOperand, type Instr, type MemOperand } from '../../cpu/decoder.ts';
import type { DecodeIndex } from '../../cpu/table/decode-index.ts';
import * as L from '../../cpu/layout.ts';
import { BLOCK_VOID, Code, I32, Op } from './wasm.ts';

/**
 * What the generated code calls (a module's one import): instruction k of the module's
 * table, at EIP a, after b instructions done, through Cpu.nativeExec (1: return now).
 */
export const HELPER_X = 0;
/**
 * Functions every module holds after the import: CF () -> 0|1 and condition code
 * (cc) -> 0|1 of whatever the lazy record in the area holds, and the fold of that record
 * into EFLAGS () -> 0 (as Cpu.materializeFlags) (flagFunctions).
 */
const F_CF = HELPER_X + 1;
const F_CC = HELPER_X + 2;
const F_MAT = HELPER_X + 3;

/** The CPU's mode when the block is translated: the code is valid only in this mode (Cpu.nativeKey()). */
export interface TranslationMode {
  cpl: number;
  segFastRead: number;
  segFastWrite: number;
  /** Segments with a 4 GiB limit and any base (Cpu.segBigRead/Write). */
  segBigRead: number;
  segBigWrite: number;
  ss32: boolean;
}

// A page function's parameters: the entry block, its EIP, the instruction budget; then locals.
const ENTRY = 0;
const EIP = 1;
const BUDGET = 2;
/** Instructions completed in this call, up to the start of the current block. */
const N = 3;
const E = 4; // TLB entry
const A = 5;
const B = 6;
const R = 7;
const OFF = 8; // a memory operand's offset (in its segment)
/** The carry in of ADC/SBB. */
const CY = 9;
/** A memory operand's linear address (OFF + its segment's base). */
const LIN = 10;
/**
 * Eight locals that cache the general registers within a block (write-through: the CPU
 * area always holds them too, so nothing has to be written back before a call, a fault
 * or an exit). A register read from the area or written at the block's top level is
 * cached from then on; Gen.cached says which are.
 */
const REG0 = 11;
/** The lazy record's operands and result as this block wrote them (Gen.setLazy), so that its conditions read locals. */
const LZA = 19;
const LZB = 20;
const LZR = 21;
/** Scratch for a partial register write. */
const T = 22;
/** Locals besides the parameters. */
export const PAGE_LOCALS = 20;
/** A 64-bit product (MUL, IMUL), the one i64 local (after the i32 ones). */
const P64 = 23;
export const PAGE_LOCALS64 = 1;

const ALU_ADD = 0;
const ALU_OR = 1;
const ALU_ADC = 2;
const ALU_SBB = 3;
const ALU_AND = 4;
const ALU_SUB = 5;
const ALU_XOR = 6;
const ALU_CMP = 7;
const TRANSLATED_ALU = new Set([ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP]);
/** Opcodes translated with a 16-bit operand size too (66 prefix in 32-bit code). */
const O16 = new Set([
  ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((k) => [k * 8 + 1, k * 8 + 3, k * 8 + 5]),
  ...Array.from({ length: 16 }, (_, i) => 0x40 + i),
  0x81, 0x83, 0x85, 0x87, 0x89, 0x8b, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0xc1, 0xc7, 0xd1, 0xd3, 0xff,
  0x0fb1, 0x0fc1, 0x0fba,
]);

/** MOVS/STOS (A4 A5 AA AB): the element's size, whether it reads, and its operands [seg:ESI] and [ES:EDI]. */
function stringOperands(d: Instr): { len: 1 | 4; movs: boolean; src: MemOperand; dst: MemOperand } {
  const src = newMemOperand();
  src.seg = d.segOverride >= 0 ? d.segOverride : DS;
  src.base = ESI;
  const dst = newMemOperand();
  dst.seg = ES;
  dst.base = EDI;
  return { len: d.opcode & 1 ? 4 : 1, movs: d.opcode < 0xaa, src, dst };
}

/** REP MOVS/STOS, bytes and dwords, generated for counts up to REP_INLINE (Gen.repString). */
const REP_STRINGS = new Set([0xa4, 0xa5, 0xaa, 0xab]);
const REP_INLINE = 64;

/**
 * LOCK-prefixed forms the translator generates (memory destinations; one CPU, so the
 * instruction itself): ALU ops but CMP, group 1 but CMP, NOT/NEG, INC/DEC, XCHG,
 * CMPXCHG, XADD, BTS/BTR/BTC with an immediate.
 */
function lockedForm(d: Instr): boolean {
  const op = d.opcode;
  const reg = (d.modrm >> 3) & 7;
  if (d.mem === null) return false;
  if (op < 0x40) return (op & 7) < 2 && (op >> 3) !== ALU_CMP;
  if (op >= 0x80 && op <= 0x83) return reg !== ALU_CMP;
  if (op === 0xf6 || op === 0xf7) return reg === 2 || reg === 3;
  if (op === 0xfe || op === 0xff) return reg < 2;
  if (op === 0x0fba) return reg > 4;
  return op === 0x86 || op === 0x87 || op === 0x0fb0 || op === 0x0fb1 || op === 0x0fc0 || op === 0x0fc1;
}

/**
 * System instructions native code runs through Cpu.step() and goes on after (and
 * LOCK-prefixed ones, which the block decoder leaves to step() too): segment
 * register moves, loads, pushes and pops, PUSHF/POPF, CLI/STI, reads of control and
 * debug registers, descriptor-table loads and stores, LAR/LSL/VERR/VERW, CLTS,
 * INVD/WBINVD, RDTSC, RDMSR and CPUID. None does I/O or branches; a change the CPU's
 * loop must see first (the mode key, the interrupt shadow, TF) makes nativeExec return
 * to it. Left out: I/O, HLT, far transfers and interrupts, writes to control and debug
 * registers, LMSW, INVLPG, WRMSR, SYSENTER/SYSEXIT.
 */
const STEPPED = new Set([
  0x06, 0x0e, 0x16, 0x1e, 0x0fa0, 0x0fa8, 0x07, 0x17, 0x1f, 0x0fa1, 0x0fa9, 0x8c, 0x8e, 0xc4, 0xc5, 0x0fb2, 0x0fb4, 0x0fb5,
  0x9c, 0x9d, 0xfa, 0xfb, 0x0f20, 0x0f21, 0x0f00, 0x0f02, 0x0f03, 0x0f06, 0x0f08, 0x0f09, 0x0f31, 0x0f32, 0x0fa2, 0x63,
]);

/** The system instruction at phys (one the block decoder leaves to step()), when native code runs it through step(); else null. */
function steppedAt(index: DecodeIndex, mem: Uint8Array, phys: number): Instr | null {
  const d = decodeInstr(index, mem, phys, Math.min(MAX_INSTRUCTION_BYTES, 0x1000 - (phys & 0xfff)), true);
  if (d === null || !d.entry) return null;
  // LOCK (glibc's malloc takes its locks with LOCK CMPXCHG): one CPU, so the instruction itself; step() checks the form.
  if (d.lock) return d.entry.lockable && !d.entry.system ? d : null;
  if (!d.entry.system) return null;
  if (d.opcode === 0x0f01) return d.entry.ext !== undefined && d.entry.ext <= 4 ? d : null; // SGDT SIDT LGDT LIDT SMSW
  return STEPPED.has(d.opcode) ? d : null;
}

/**
 * The instruction at phys runs over the end of its page. Its block (blocks.ts) holds it
 * alone, to be run through step().
 */
function crossesPage(index: DecodeIndex, mem: Uint8Array, phys: number): boolean {
  const room = 0x1000 - (phys & 0xfff);
  return room < MAX_INSTRUCTION_BYTES && decodeInstr(index, mem, phys, room, true) === null;
}

/**
 * Register-form instructions that cannot fault or leave the block: between the one that
 * sets the flags and the one that sets them all again, nothing can see them (the opcode
 * table's flagsRead/flagsWritten say who reads and writes which). LEA has a memory
 * operand and no access.
 */
const NO_FAULT = new Set([
  ...Array.from({ length: 0x40 }, (_, i) => i).filter((op) => (op & 7) < 6), // ALU r/m, r and AL/eAX, imm
  ...Array.from({ length: 0x10 }, (_, i) => 0x40 + i), // INC/DEC r
  0x69, 0x6b, 0x80, 0x81, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8d, 0x90, 0x98, 0x99, 0xa8, 0xa9,
  ...Array.from({ length: 0x10 }, (_, i) => 0xb0 + i), // MOV r, imm
  0xc0, 0xc1, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3, 0xf5, 0xf8, 0xf9,
  ...Array.from({ length: 0x10 }, (_, i) => 0x0f40 + i), // CMOVcc
  ...Array.from({ length: 0x10 }, (_, i) => 0x0f90 + i), // SETcc
  0x0fa3, 0x0fa4, 0x0fa5, 0x0fab, 0x0fac, 0x0fad, 0x0faf, 0x0fb3, 0x0fb6, 0x0fb7, 0x0fba, 0x0fbb, 0x0fbc, 0x0fbd, 0x0fbe, 0x0fbf,
  ...Array.from({ length: 8 }, (_, i) => 0x0fc8 + i), // BSWAP
]);

/** The instruction cannot fault or leave the block (NO_FAULT, register operands; not DIV/IDIV, not through the stack). */
function cannotFault(d: Instr): boolean {
  if (d.lock || d.rep !== 0 || (d.mem !== null && d.opcode !== 0x8d)) return false;
  if (d.opcode === 0xf6 || d.opcode === 0xf7) return ((d.modrm >> 3) & 7) < 6; // TEST NOT NEG MUL IMUL; DIV and IDIV fault
  if (d.opcode === 0xfe || d.opcode === 0xff) return ((d.modrm >> 3) & 7) < 2; // INC, DEC
  return NO_FAULT.has(d.opcode);
}

/**
 * For each instruction of a block (decoded; null for one left to step()): no arithmetic
 * flag it leaves is seen (a later instruction of the block sets them all first, and none
 * between can fault, leave or read them), so its flags need not be computed. At the
 * block's end every flag is live.
 */
function deadFlags(instrs: readonly (Instr | null)[]): boolean[] {
  const dead = new Array<boolean>(instrs.length).fill(false);
  let live = FLAGS_ARITH;
  for (let i = instrs.length - 1; i >= 0; i--) {
    dead[i] = live === 0;
    const d = instrs[i];
    if (d === null || !d.entry || !cannotFault(d)) live = FLAGS_ARITH;
    // A flag the table calls undefined may keep its old value (MUL leaves SF, ZF, AF and PF): not a write here.
    else live = (live & ~((d.entry.flagsWritten ?? 0) & ~(d.entry.flagsUndefined ?? 0))) | (d.entry.flagsRead ?? 0);
  }
  return dead;
}

/** The blocks a page function was made of, in entry order, its body, and the Cpu.nativeKey() bits it depends on. */
export interface PageTranslation {
  body: Code;
  blocks: Block[];
  mask: number;
}

/**
 * Translate the live blocks of one physical page (decoding them again from RAM with the
 * shared decoder) into one function (entry, eip, budget) -> instructions completed.
 * `addExec` enters an instruction's decoded closure in the module's table for the `x`
 * helper. null when no block can start in native code.
 */
export function translatePage(
  index: DecodeIndex, mem: Uint8Array, blocks: readonly Block[], area: number, mode: TranslationMode,
  addExec: (exec: Exec, length: number) => number,
): PageTranslation | null {
  // Targets are checked against the CS limit by the interpreter; a flat CS has none to check.
  if (!(mode.segFastRead & (1 << CS))) return null;
  const entries = blocks
    .filter((b) => b.cs32 && b.count > 0 && (b.execs[0] !== stepAgain || steppedAt(index, mem, b.phys) !== null || crossesPage(index, mem, b.phys)))
    .sort((x, y) => x.phys - y.phys);
  if (entries.length === 0) return null;
  const units = pageUnits(index, mem, entries);
  const g = new Gen(area, mode, index, mem, entries, addExec, units);
  const c = g.c;
  const n = units.length;
  // loop { block_n-1 { ... block_0 { br_table } unit 0 } unit 1 ... } unit n-1 }: a br to
  // block_u's end goes to unit u's code, a br to the loop to the table.
  c.op(Op.loop, BLOCK_VOID);
  for (let u = 0; u < n; u++) c.op(Op.block, BLOCK_VOID);
  c.get(ENTRY).brTable(entries.map((_, j) => g.unitOf[j]), n - 1);
  for (const { first, last, loop } of units) {
    c.op(Op.end);
    if (!loop) {
      g.block(first);
      continue;
    }
    // A loop of blocks first..last: the same structure inside a WebAssembly loop, whose
    // table takes ENTRY - first; its back edges branch to this loop, not the page's.
    c.op(Op.loop, BLOCK_VOID);
    for (let j = first; j <= last; j++) c.op(Op.block, BLOCK_VOID);
    c.get(ENTRY).i32(first).op(Op.i32Sub).brTable(Array.from({ length: last - first + 1 }, (_, i) => i), last - first);
    for (let j = first; j <= last; j++) {
      c.op(Op.end);
      g.block(j);
    }
    c.op(Op.end);
  }
  c.op(Op.end, Op.unreachable);
  return { body: c, blocks: entries, mask: g.keyMask };
}

/** A run of a page function's blocks (entry indexes first..last) emitted together: one block, or a loop of them. */
interface Unit {
  first: number;
  last: number;
  loop: boolean;
}

/**
 * The page function's blocks in units: each range from a block to the last one that
 * jumps back to it (a relative JMP or Jcc in the page), ranges that overlap merged,
 * becomes a loop; every other block is a unit of its own.
 */
function pageUnits(index: DecodeIndex, mem: Uint8Array, entries: readonly Block[]): Unit[] {
  const at = new Map(entries.map((b, j) => [b.phys, j]));
  const reach = entries.map((_, j) => j); // the last block that jumps back to j, or j
  const headed = entries.map(() => false);
  entries.forEach((b, j) => {
    const t = relativeTarget(index, mem, b);
    const to = t === null ? undefined : at.get(t);
    if (to !== undefined && to <= j) {
      reach[to] = Math.max(reach[to], j);
      headed[to] = true;
    }
  });
  const units: Unit[] = [];
  for (let j = 0; j < entries.length;) {
    if (!headed[j]) {
      units.push({ first: j, last: j, loop: false });
      j++;
      continue;
    }
    let last = reach[j];
    for (let i = j + 1; i <= last; i++) if (headed[i]) last = Math.max(last, reach[i]);
    units.push({ first: j, last, loop: true });
    j = last + 1;
  }
  return units;
}

/** The target of block b's last instruction when it is a relative JMP or Jcc (32-bit), else null. */
function relativeTarget(index: DecodeIndex, mem: Uint8Array, b: Block): number | null {
  const last = b.count - 1;
  if (last < 0 || b.execs[last] === stepAgain) return null;
  const at = last === 0 ? 0 : b.ends[last - 1];
  const d = decodeInstr(index, mem, b.phys + at, b.ends[last] - at, true);
  if (d === null || !d.o32) return null;
  const op = d.opcode;
  return isJcc(op) || op === 0xe9 || op === 0xeb ? b.phys + b.bytes + d.imm : null;
}

/** Jcc rel8 or rel32. */
function isJcc(op: number): boolean {
  return (op >= 0x70 && op < 0x80) || (op >= 0x0f80 && op < 0x0f90);
}

class Gen {
  readonly c = new Code();
  private readonly masks: { read: number; write: number };
  private readonly entryOf = new Map<number, number>();
  /** The block being emitted (its entry index) and the structures open in its code. */
  private j = 0;
  private nest = 0;
  /** The instruction being emitted: its offset in the block, its index. */
  private insnOff = 0;
  private insn = 0;
  /** The general registers whose value is in their local (REG0 + r) now, on every path to here. */
  private cached = 0;
  /**
   * The lazy record's operation and width when this block's code wrote it (null: unknown,
   * from before); its operands and result are in LZA, LZB, LZR then.
   */
  private known: { op: number; bits: number } | null = null;
  /** The decoded closure of the instruction being emitted (for a path that leaves it to the interpreter), when it has one. */
  private closure: Exec | null = null;
  /** Per instruction of the block: the flags it leaves are never seen (deadFlags), so none are computed. */
  private dead: boolean[] = [];
  /** The mode bits the code depends on: the segments it addresses inline (an instruction left to its closure checks its own). */
  keyMask = NATIVE_KEY_ALWAYS | nativeKeySegment(CS);

  constructor(
    private readonly area: number, private readonly mode: TranslationMode, private readonly index: DecodeIndex,
    private readonly mem: Uint8Array, private readonly entries: readonly Block[],
    private readonly addExec: (exec: Exec, length: number) => number,
    private readonly units: readonly Unit[],
  ) {
    this.masks = tlbMasks(mode.cpl);
    entries.forEach((b, j) => this.entryOf.set(b.phys, j));
    units.forEach((u, i) => { for (let j = u.first; j <= u.last; j++) this.unitOf[j] = i; });
  }

  /** The unit (translatePage) each block is emitted in. */
  readonly unitOf: number[] = [];

  /** The code of block j: its instructions, then the way on (another block of the page, or a return). */
  block(j: number): void {
    const b = this.entries[j];
    this.j = j;
    this.nest = 0;
    this.known = null;
    this.cached = 0;
    const instrs = b.execs.map((e, i) => {
      const at = i === 0 ? 0 : b.ends[i - 1];
      return e === stepAgain ? null : decodeInstr(this.index, this.mem, b.phys + at, b.ends[i] - at, true);
    });
    this.dead = deadFlags(instrs);
    let at = 0;
    for (let i = 0; i < b.count; i++) {
      const end = b.ends[i];
      this.insnOff = at;
      this.insn = i;
      if (b.execs[i] === stepAgain) {
        // A system instruction, the block's last: through step() and on, or the interpreter runs it.
        const s = steppedAt(this.index, this.mem, b.phys + at);
        if (s !== null && (s.opcode === 0xfa || s.opcode === 0xfb) && !s.lock && this.mode.cpl === 0 && this.interruptFlag(b, at, i, s)) {
          // CLI or STI, and the way on
        } else if (s !== null) {
          // A LOCK-prefixed form the translator covers, and PUSHFD, are generated; the rest go through step().
          if (!((s.lock || s.opcode === 0x9c) && this.emit(s, at + s.length))) this.exec(stepAgain, s.length);
          this.chain(b.phys + at + s.length, at + s.length, i + 1);
        } else if (i === 0 && crossesPage(this.index, this.mem, b.phys)) {
          this.crossing(b);
        } else {
          this.exitAt(at, i);
        }
        return;
      }
      const d = instrs[i];
      if (d === null || d.length !== end - at) {
        this.exitAt(at, i);
        return;
      }
      if (d.entry?.blockEnd) {
        if (this.branch(d, b, end)) return;
        this.exec(b.execs[i], end - at);
        this.chain(b.phys + end, end, i + 1);
        return;
      }
      this.closure = b.execs[i];
      if (!this.emit(d, end)) this.exec(b.execs[i], end - at);
      this.closure = null;
      at = end;
    }
    this.chain(b.phys + b.bytes, b.bytes, b.count);
  }

  /**
   * Block b: one instruction across the page end. When its bytes as first run (b.cross)
   * decode to one the translator generates, and the next page's part of them is the same
   * now (read through the TLB at the CPL, as a fetch), its code; otherwise, or when it is
   * not, through step(), which fetches and decodes it as the CPU's loop would. With a
   * length of 0 that counts as a branch: nativeExec returns 1 and stores EIP.
   */
  private crossing(b: Block): void {
    const c = this.c;
    const room = 0x1000 - (b.phys & 0xfff);
    const d = b.cross === null ? null : decodeInstr(this.index, b.cross, 0, MAX_INSTRUCTION_BYTES, true);
    const tail = d === null ? 0 : d.length - room;
    if (d !== null && tail > 0 && tail <= 8 && !d.entry?.blockEnd && !d.entry?.system) {
      const mark = c.length;
      /** The next page's bytes k..k+3 of the instruction as an i32, and the mask of those that belong to it. */
      const word = (k: number): [number, number] => {
        let v = 0;
        let m = 0;
        for (let i = 3; i >= 0; i--) {
          v = (v << 8) | (k + i < tail ? b.cross![room + k + i] : 0);
          m = (m << 8) | (k + i < tail ? 0xff : 0);
        }
        return [v | 0, m | 0];
      };
      c.get(EIP).i32(room).op(Op.i32Add).set(LIN);
      this.tlbHit(1, this.masks.read);
      c.op(Op.if, I32);
      c.get(E).i32(~0xfff).op(Op.i32And).get(LIN).op(Op.i32Xor).set(R); // the next page's start
      for (let k = 0; k < tail; k += 4) {
        const [v, m] = word(k);
        c.get(R).mem(Op.i32Load, k, 0).i32(m).op(Op.i32And).i32(v).op(Op.i32Eq);
        if (k > 0) c.op(Op.i32And);
      }
      c.op(Op.else).i32(0).op(Op.end);
      c.op(Op.if, BLOCK_VOID);
      this.nest++;
      const generated = this.emit(d, d.length);
      if (generated) this.exitAt(d.length, 1);
      this.nest--;
      if (generated) c.op(Op.end); else c.truncate(mark);
    }
    this.exec(stepAgain, 0);
    c.get(N).i32(1).op(Op.i32Add).op(Op.return);
  }

  /**
   * CLI or STI (s), instruction i of block b at offset `at`, at CPL 0, where both are
   * allowed in every mode; then the way on. CLI clears IF. STI goes on into the
   * instruction after it, here, the way the interpreter steps it: with IF clear, STI sets
   * it and the shadow (OFF_IRQ_INHIBIT 1), which that instruction clears as it begins,
   * and an interrupt pending (OFF_INTR_PENDING) takes STI's closure instead, which
   * returns to the CPU's loop to take the interrupt after the shadow. The instruction
   * after STI is one more than the block's count (which the dispatcher checked against
   * the budget), so it checks the budget itself. False (nothing written) when the
   * instruction after STI is not generated here: STI then goes through step().
   */
  private interruptFlag(b: Block, at: number, i: number, s: Instr): boolean {
    const c = this.c;
    const next = at + s.length;
    const flags = (): void => { c.i32(0).mem(Op.i32Load, this.area + L.OFF_FLAGS, 2); };
    if (s.opcode === 0xfa) {
      this.storeArea(L.OFF_FLAGS, () => { flags(); c.i32(~FLAG_IF).op(Op.i32And); });
      this.chain(b.phys + next, next, i + 1);
      return true;
    }
    const y = b.phys + next;
    if ((y & 0xfff) === 0) return false; // on the next page
    const d = decodeInstr(this.index, this.mem, y, Math.min(MAX_INSTRUCTION_BYTES, 0x1000 - (y & 0xfff)), true);
    if (d === null || !d.entry || d.entry.system) return false;
    const mark = c.length;
    const { known, cached, nest } = this;
    flags(); c.i32(FLAG_IF).op(Op.i32And).op(Op.i32Eqz).op(Op.if, BLOCK_VOID);
    this.nest++;
    c.i32(0).mem(Op.i32Load, this.area + L.OFF_INTR_PENDING, 2).op(Op.if, BLOCK_VOID);
    this.nest++;
    this.exec(stepAgain, s.length);
    c.op(Op.end);
    this.nest--;
    this.storeArea(L.OFF_FLAGS, () => { flags(); c.i32(FLAG_IF).op(Op.i32Or); });
    this.storeArea(L.OFF_IRQ_INHIBIT, () => c.i32(1));
    c.op(Op.end);
    this.nest--;
    // No room in the budget for the next one: back to the CPU's loop, in the shadow.
    c.get(N).i32(i + 2).op(Op.i32Add).get(BUDGET).op(Op.i32GtU).op(Op.if, BLOCK_VOID);
    this.nest++;
    this.storeArea(L.OFF_JIT_LEAVE, () => c.i32(1));
    this.exitAt(next, i + 1);
    c.op(Op.end);
    this.nest--;
    this.storeArea(L.OFF_IRQ_INHIBIT, () => c.i32(0));
    this.insnOff = next;
    this.insn = i + 1;
    const end = next + d.length;
    let generated: boolean;
    if (d.entry.blockEnd) {
      generated = this.branch(d, b, end);
    } else {
      generated = this.emit(d, end);
      if (generated) this.chain(b.phys + end, end, i + 2);
    }
    if (generated) return true;
    c.truncate(mark);
    this.restore(known, cached, nest);
    this.insnOff = at;
    this.insn = i;
    return false;
  }

  // ---- the way out of a block

  /** EIP := EIP of the block + delta, and return with `done` more instructions completed. */
  private exitAt(delta: number, done: number): void {
    this.storeArea(L.OFF_EIP, () => this.c.get(EIP).i32(delta).op(Op.i32Add));
    this.c.get(N).i32(done).op(Op.i32Add).op(Op.return);
  }

  /**
   * Go on at EIP + delta (physical address `target`) with `done` more instructions of
   * this block completed: to that block if it is one of the page's and the budget has
   * room for it, else return.
   */
  private chain(target: number, delta: number, done: number): void {
    const to = this.entryOf.get(target);
    if (to === undefined) {
      this.exitAt(delta, done);
      return;
    }
    const c = this.c;
    c.get(N).i32(done).op(Op.i32Add).set(N);
    c.get(N).i32(this.entries[to].count).op(Op.i32Add).get(BUDGET).op(Op.i32GtU).op(Op.if, BLOCK_VOID);
    this.nest++;
    this.exitAt(delta, 0);
    c.op(Op.end);
    this.nest--;
    c.get(EIP).i32(delta).op(Op.i32Add).set(EIP);
    // The labels around this block's code (translatePage): in a loop unit, the wrappers of
    // the loop's later blocks, then the loop itself; then the wrappers of the page's later
    // units, then the page function's loop.
    const u = this.unitOf[this.j];
    const unit = this.units[u];
    const v = this.unitOf[to];
    const outer = this.nest + (unit.loop ? unit.last - this.j + 1 : 0);
    if (v === u && unit.loop && to > this.j) {
      c.br(this.nest + to - this.j - 1); // on in the loop: straight to its code
      return;
    }
    if (v === u && unit.loop) {
      c.i32(to).set(ENTRY);
      c.br(this.nest + unit.last - this.j); // back to this loop's table
      return;
    }
    if (v > u) {
      // Forward to a later unit: straight to its code (a loop unit starts with its table, which reads ENTRY).
      if (this.units[v].loop) c.i32(to).set(ENTRY);
      c.br(outer + v - u - 1);
      return;
    }
    // Back to this or an earlier unit: through the page function's loop and its table.
    c.i32(to).set(ENTRY);
    c.br(outer + this.units.length - 1 - u);
  }

  /** Call the instruction's decoded closure (the interpreter's way); return when it says so. */
  private exec(exec: Exec, length: number): void {
    const c = this.c;
    c.i32(this.addExec(exec, length));
    c.get(EIP).i32(this.insnOff).op(Op.i32Add);
    c.get(N).i32(this.insn).op(Op.i32Add);
    c.call(HELPER_X).op(Op.if, BLOCK_VOID);
    c.get(N).i32(this.insn + 1).op(Op.i32Add).op(Op.return);
    c.op(Op.end);
    this.known = null; // the closure may have set the flags
    this.cached = 0; // and the registers
  }

  // ---- flags: the rules of flag-rules.ts, as WebAssembly

  /** The flag rules' operations for an operation of `bits`, over the lazy record in the CPU area or over `record`. */
  private flagOps(bits: number, record?: { a: () => void; b: () => void; res: () => void }): FlagOps<() => void> {
    return flagOps(this.c, this.area, bits, record);
  }

  /** The flags for a condition: of the record this block wrote, or of EFLAGS (no record). */
  private ccFlags(k: { op: number; bits: number }): { f: FlagOps<() => void>; fl: CcFlags<() => void> } {
    const f = this.flagOps(k.bits, k.op === LZ_NONE ? undefined : { a: () => this.c.get(LZA), b: () => this.c.get(LZB), res: () => this.c.get(LZR) });
    if (k.op !== LZ_NONE) return { f, fl: { cf: carryRule(f, k.op), zf: zeroRule(f), sf: signRule(f), of: overflowRule(f, k.op), pf: parityRule(f) } };
    const c = this.c;
    const bit = (n: number) => (): void => { c.i32(0).mem(Op.i32Load, this.area + L.OFF_FLAGS, 2).i32(n).op(Op.i32ShrU).i32(1).op(Op.i32And); };
    return { f, fl: { cf: bit(0), zf: bit(6), sf: bit(7), of: bit(11), pf: bit(2) } };
  }

  /** Push condition cc (0 or 1): inline when this block wrote the flags, else the interpreter's testCC. */
  private condition(cc: number): void {
    const k = this.known;
    if (k === null) {
      this.c.i32(cc).call(F_CC);
      return;
    }
    const { f, fl } = this.ccFlags(k);
    conditionRule(f, fl, cc)();
  }

  /** Push CF (0 or 1), as condition() does. */
  private carry(): void {
    const k = this.known;
    if (k === null) this.c.call(F_CF);
    else this.ccFlags(k).fl.cf();
  }

  /** Fold the lazy record into EFLAGS in the area (as Cpu.materializeFlags), by the rules when this block wrote it. */
  private materialize(): void {
    const k = this.known;
    if (k !== null && k.op === LZ_NONE) return;
    const c = this.c;
    if (k === null) {
      c.call(F_MAT).op(Op.drop);
    } else {
      const f = this.flagOps(k.bits, { a: () => c.get(LZA), b: () => c.get(LZB), res: () => c.get(LZR) });
      const parts: [() => void, number][] = [
        [carryRule(f, k.op), 0], [parityRule(f), 2], [adjustRule(f, k.op), 4], [zeroRule(f), 6], [signRule(f), 7], [overflowRule(f, k.op), 11],
      ];
      this.setFlagsArea(~FLAGS_ARITH, () => {
        for (const [rule, at] of parts) {
          rule();
          if (at) c.i32(at).op(Op.i32Shl);
          c.op(Op.i32Or);
        }
      });
    }
    this.known = { op: LZ_NONE, bits: 32 };
  }

  /** EFLAGS := EFLAGS & keep | (what `more` ORs in), and no lazy record. */
  private setFlagsArea(keep: number, more: () => void): void {
    const c = this.c;
    this.storeArea(L.OFF_FLAGS, () => {
      c.i32(0).mem(Op.i32Load, this.area + L.OFF_FLAGS, 2).i32(keep).op(Op.i32And);
      more();
    });
    this.storeArea(L.OFF_LZ_OP, () => c.i32(LZ_NONE));
    this.known = { op: LZ_NONE, bits: 32 };
  }

  // ---- registers and the lazy-flag record, in the CPU area

  /**
   * Push register r: from its local when cached, else from the area (and cached from
   * then on when this is the block's top level, which every path to what follows runs).
   */
  private reg32(r: number): void {
    const c = this.c;
    if (this.cached & (1 << r)) {
      c.get(REG0 + r);
      return;
    }
    c.i32(0).mem(Op.i32Load, this.area + L.OFF_REGS + r * 4, 2);
    if (this.nest === 0) {
      c.tee(REG0 + r);
      this.cached |= 1 << r;
    }
  }

  /** Register r := the value `value` pushes, in the area and in its local (cached from then on at the top level). */
  private setReg32(r: number, value: () => void): void {
    const c = this.c;
    c.i32(0);
    value();
    if (this.nest === 0 || this.cached & (1 << r)) {
      c.tee(REG0 + r);
      if (this.nest === 0) this.cached |= 1 << r;
    }
    c.mem(Op.i32Store, this.area + L.OFF_REGS + r * 4, 2);
  }

  /** Push the low 8 (AL..BL) or 16 bits, or bits 8-15 (AH..BH), of register r. */
  private regPart(r: number, bits: 8 | 16, high: boolean): void {
    const c = this.c;
    if (this.cached & (1 << r) || this.nest === 0) {
      this.reg32(r);
      if (high) c.i32(8).op(Op.i32ShrU);
      c.i32(bits === 8 ? 0xff : 0xffff).op(Op.i32And);
    } else if (bits === 16) {
      c.i32(0).mem(Op.i32Load16U, this.area + L.OFF_REGS + r * 4, 1);
    } else {
      c.i32(0).mem(Op.i32Load8U, this.area + L.OFF_REGS + r * 4 + (high ? 1 : 0), 0);
    }
  }

  /** The low 8 or 16 bits, or bits 8-15, of register r := the value `value` pushes (its local too, when cached). */
  private setRegPart(r: number, bits: 8 | 16, high: boolean, value: () => void): void {
    const c = this.c;
    const at = this.area + L.OFF_REGS + r * 4 + (high ? 1 : 0);
    const store = (): void => { c.mem(bits === 8 ? Op.i32Store8 : Op.i32Store16, at, bits === 8 ? 0 : 1); };
    c.i32(0);
    value();
    if (!(this.cached & (1 << r))) {
      store();
      return;
    }
    c.tee(T);
    store();
    const mask = (bits === 8 ? 0xff : 0xffff) << (high ? 8 : 0);
    c.get(REG0 + r).i32(~mask).op(Op.i32And).get(T);
    if (high) c.i32(8).op(Op.i32Shl);
    c.i32(mask).op(Op.i32And).op(Op.i32Or).set(REG0 + r);
  }

  private reg8(n: number): void { this.regPart(n & 3, 8, n >= 4); }
  private setReg8(n: number, value: () => void): void { this.setRegPart(n & 3, 8, n >= 4, value); }
  private reg16(r: number): void { this.regPart(r, 16, false); }

  private storeArea(off: number, value: () => void): void {
    this.c.i32(0);
    value();
    this.c.mem(Op.i32Store, this.area + off, 2);
  }

  /** The lazy-flag record alu.ts writes: setLazy(op, a, b, res, bits). */
  private setLazy(op: number, a: () => void, b: () => void, res: () => void, bits: number): void {
    if (this.dead[this.insn]) return; // the record before stays: nothing reads it before one replaces it
    // The operation and width are in the area already when this block's last record had the same.
    const same = this.known !== null && this.known.op === op && this.known.bits === bits;
    this.known = { op, bits };
    if (!same) this.storeArea(L.OFF_LZ_OP, () => this.c.i32(op));
    this.storeArea(L.OFF_LZ_A, () => { a(); this.c.tee(LZA); });
    this.storeArea(L.OFF_LZ_B, () => { b(); this.c.tee(LZB); });
    this.storeArea(L.OFF_LZ_RES, () => { res(); this.c.tee(LZR); });
    if (!same) this.storeArea(L.OFF_LZ_BITS, () => this.c.i32(bits));
  }

  // ---- memory operands

  /**
   * The memory operand's offset into local OFF and its linear address into LIN; false
   * when its segment is neither flat nor 4 GiB with a base (as Linux's TLS and per-CPU
   * segments are) for this access. The base is read from the segment cache in the area.
   */
  private address(m: MemOperand, write: boolean): boolean {
    if (m.a16) return false;
    const bit = 1 << m.seg;
    const flat = ((write ? this.mode.segFastWrite : this.mode.segFastRead) & bit) !== 0;
    if (!flat && !((write ? this.mode.segBigWrite : this.mode.segBigRead) & bit)) return false;
    this.keyMask |= nativeKeySegment(m.seg);
    const c = this.c;
    c.i32(m.disp);
    if (m.base >= 0) { this.reg32(m.base); c.op(Op.i32Add); }
    if (m.index >= 0) { this.reg32(m.index); if (m.scale) c.i32(m.scale).op(Op.i32Shl); c.op(Op.i32Add); }
    c.tee(OFF);
    if (!flat) c.i32(0).mem(Op.i32Load, this.area + L.OFF_SEG_BASE + m.seg * 4, 2).op(Op.i32Add);
    c.set(LIN);
    return true;
  }

  /**
   * TLB fast-path test for an access of len bytes at LIN: its page's entry passes the
   * mask (RAM, the permission) and the access ends in that page; leaves the condition,
   * the entry in E. It need not be aligned: native code runs only where no access raises
   * #AC (nativeKey's KEY_AC).
   */
  private tlbHit(len: number, mask: number): void {
    const c = this.c;
    c.get(LIN).i32(12).op(Op.i32ShrU).i32(2).op(Op.i32Shl).mem(Op.i32Load, this.area + L.OFF_TLB, 2).tee(E);
    c.i32(mask).op(Op.i32And).i32(TLB_VALID).op(Op.i32Eq);
    if (len > 1) c.get(LIN).i32(0xfff).op(Op.i32And).i32(0x1000 - len).op(Op.i32LeU).op(Op.i32And);
  }

  /** Push the value at LIN (len 1, 2 or 4 bytes); rmw: check the write permission first. */
  private load(len: 1 | 2 | 4, rmw = false): void {
    const c = this.c;
    this.tlbHit(len, rmw ? this.masks.write : this.masks.read);
    c.op(Op.if, I32);
    c.get(E).i32(~0xfff).op(Op.i32And).get(LIN).op(Op.i32Xor);
    c.mem(len === 4 ? Op.i32Load : len === 2 ? Op.i32Load16U : Op.i32Load8U, 0, 0);
    c.op(Op.else);
    this.leave();
    c.op(Op.end);
  }

  /** Store local `v` at LIN (len 1, 2 or 4 bytes). */
  private store(len: 1 | 2 | 4, v: number): void {
    const c = this.c;
    this.tlbHit(len, this.masks.write);
    c.op(Op.if, BLOCK_VOID);
    c.get(E).i32(~0xfff).op(Op.i32And).get(LIN).op(Op.i32Xor).get(v);
    c.mem(len === 4 ? Op.i32Store : len === 2 ? Op.i32Store16 : Op.i32Store8, 0, 0);
    c.op(Op.else);
    this.leave();
    c.op(Op.end);
  }

  /**
   * Leave before the instruction being emitted, as a fault would (generated code commits
   * nothing of an instruction before an access that can take this way): EIP at it, the
   * instructions before it done, and OFF_JIT_LEAVE, so that the dispatcher returns to the
   * CPU's loop, which runs it in the interpreter, by that access's own way (the page walk,
   * MMIO, a write over code, #PF).
   */
  private leave(): void {
    this.storeArea(L.OFF_JIT_LEAVE, () => this.c.i32(1));
    this.exitAt(this.insnOff, this.insn);
  }

  // ---- branches (the last instruction of a block)

  /** A block-ending instruction of block b ending at `end`; false when not covered (nothing emitted). */
  private branch(d: Instr, b: Block, end: number): boolean {
    const mark = this.c.length;
    const { known, cached, nest } = this;
    if (this.branchCode(d, b, end)) return true;
    this.c.truncate(mark);
    this.restore(known, cached, nest);
    return false;
  }

  private branchCode(d: Instr, b: Block, end: number): boolean {
    if (!d.o32 || d.rep !== 0 || d.lock) return false;
    const op = d.opcode;
    const c = this.c;
    const done = this.insn + 1;
    const target = b.phys + end + d.imm;
    if (isJcc(op)) {
      this.condition(op & 15);
      c.op(Op.if, BLOCK_VOID);
      this.nest++;
      this.chain(target, end + d.imm, done);
      c.op(Op.else);
      this.chain(b.phys + end, end, done);
      c.op(Op.end);
      this.nest--;
      return true;
    }
    switch (op) {
      case 0xe9: case 0xeb:
        this.chain(target, end + d.imm, done);
        return true;
      case 0xe8: {
        if (!this.flatStack(true)) return false;
        // push the return address, then jump
        c.get(EIP).i32(end).op(Op.i32Add).set(A);
        this.push(A);
        // (the thunk's 4 bytes must lie in its page: a linear address has its physical page offset)
        if ((((b.phys + end) ^ target) & ~0xfff) !== 0 && (target & 0xfff) <= 0xffc) this.pcThunk(end, d.imm, done);
        else this.chain(target, end + d.imm, done);
        return true;
      }
      case 0xff: {
        // JMP/CALL Ev (near indirect): the target is read first (and may fault), then CALL pushes.
        const ext = (d.modrm >> 3) & 7;
        if ((ext !== 2 && ext !== 4) || !d.a32) return false;
        if (ext === 2 && !this.flatStack(true)) return false;
        if (!this.loadE(d.mem, d.modrm & 7, 4)) return false;
        c.set(B);
        if (ext === 2) {
          c.get(EIP).i32(end).op(Op.i32Add).set(A);
          this.push(A);
        }
        this.storeArea(L.OFF_EIP, () => c.get(B));
        c.get(N).i32(done).op(Op.i32Add).op(Op.return);
        return true;
      }
      case 0xc3: {
        if (!this.flatStack(false)) return false;
        this.pop();
        this.storeArea(L.OFF_EIP, () => c.get(A));
        c.get(N).i32(done).op(Op.i32Add).op(Op.return);
        return true;
      }
      default:
        return false;
    }
  }

  // ---- instructions

  /** Back to the state before an instruction the translator gave up on (emit, branch). */
  private restore(known: Gen['known'], cached: number, nest: number): void {
    this.known = known;
    this.cached = cached;
    this.nest = nest;
  }

  /** Emit one instruction ending at `end`; false when it is not covered (nothing emitted). */
  emit(d: Instr, end: number): boolean {
    const mark = this.c.length;
    const { known, cached, nest } = this;
    if (!this.instruction(d)) {
      // Whatever it wrote goes, and the state it changed (a form can give up inside the structures it opened).
      this.c.truncate(mark);
      this.restore(known, cached, nest);
      return false;
    }
    return true;
  }

  /** Emit one instruction; false when it is not covered (emit() drops what it wrote). */
  private instruction(d: Instr): boolean {
    if (!d.a32 || (d.rep !== 0 && !REP_STRINGS.has(d.opcode)) || (d.lock && !lockedForm(d)) || !d.entry) return false;
    const op = d.opcode;
    if (!d.o32 && !O16.has(op)) return false;
    /** The width and bytes of a v (16/32-bit) operand. */
    const vbits = d.o32 ? 32 : 16;
    const vlen = d.o32 ? 4 : 2;
    const m = d.mem;
    const reg = (d.modrm >> 3) & 7;
    const rm = d.modrm & 7;
    const c = this.c;
    if (op < 0x40 && (op & 7) < 6) {
      const k = op >> 3;
      if (!TRANSLATED_ALU.has(k)) return false;
      const form = op & 7;
      const bits = form === 0 || form === 2 || form === 4 ? 8 : vbits;
      switch (form) {
        case 0: case 1: // E, G
          return this.aluToE(k, bits, m, rm, () => this.regBits(bits, reg));
        case 2: case 3: // G, E
          if (!this.loadE(m, rm, (bits >> 3) as 1 | 2 | 4)) return false;
          c.set(B);
          this.regBits(bits, reg);
          c.set(A);
          this.alu(k, bits);
          if (k !== ALU_CMP) this.setReg(bits, reg, R);
          return true;
        case 4:
          this.reg8(0); c.set(A).i32(d.imm).set(B);
          this.alu(k, 8);
          if (k !== ALU_CMP) this.setReg(8, 0, R);
          return true;
        default:
          this.regBits(vbits, 0); c.set(A).i32(d.imm).set(B);
          this.alu(k, vbits);
          if (k !== ALU_CMP) this.setReg(vbits, 0, R);
          return true;
      }
    }
    if (op >= 0x40 && op < 0x50) {
      const r = op & 7;
      const isInc = op < 0x48;
      // lzCarry = CF before, as inc()/dec() record it.
      this.regBits(vbits, r); c.set(A);
      this.incDec(isInc, vbits);
      this.setReg(vbits, r, R);
      return true;
    }
    if (op >= 0x50 && op < 0x58) {
      if (!this.flatStack(true)) return false;
      this.reg32(op & 7); c.set(A);
      this.push(A);
      return true;
    }
    if (op >= 0x58 && op < 0x60) {
      if (!this.flatStack(false)) return false;
      this.pop();
      this.setReg32(op & 7, () => c.get(A));
      return true;
    }
    if (op === 0x98 && d.o32) {
      // CWDE
      this.setReg32(EAX, () => { this.reg32(EAX); c.signExtend(16); });
      return true;
    }
    if (op === 0x99 && d.o32) {
      // CDQ
      this.setReg32(2, () => { this.reg32(EAX); c.i32(31).op(Op.i32ShrS); });
      return true;
    }
    if (op >= 0x0fc8 && op < 0x0fd0 && d.o32) {
      // BSWAP r32
      const r = op & 7;
      this.reg32(r); c.set(A);
      this.setReg32(r, () => {
        c.get(A).i32(8).op(Op.i32Rotl).i32(0x00ff00ff).op(Op.i32And);
        c.get(A).i32(8).op(Op.i32Rotr).i32(0xff00ff00 | 0).op(Op.i32And).op(Op.i32Or);
      });
      return true;
    }
    if (op === 0xc9) {
      // LEAVE: EBP := [EBP] (which may fault first), ESP := EBP + 4
      if (!this.flatStack(false)) return false;
      this.reg32(EBP); c.tee(OFF).set(LIN);
      this.load(4);
      c.set(A);
      this.setReg32(ESP, () => c.get(OFF).i32(4).op(Op.i32Add));
      this.setReg32(EBP, () => c.get(A));
      return true;
    }
    if (op === 0x9c) {
      // PUSHFD (outside virtual-8086 mode, where native code never runs): EFLAGS without VM and RF
      if (!this.flatStack(true)) return false;
      this.materialize();
      c.i32(0).mem(Op.i32Load, this.area + L.OFF_FLAGS, 2).i32(~(FLAG_VM | FLAG_RF)).op(Op.i32And).set(A);
      this.push(A);
      return true;
    }
    if (op >= 0xb0 && op < 0xb8) {
      this.setReg8(op & 7, () => c.i32(d.imm));
      return true;
    }
    if (op >= 0xb8 && op < 0xc0) {
      this.setReg32(op & 7, () => c.i32(d.imm));
      return true;
    }
    switch (op) {
      case 0x80: case 0x81: case 0x83: {
        if (!TRANSLATED_ALU.has(reg)) return false;
        const v = op === 0x83 ? ((d.imm << 24) >> 24) & (vbits === 16 ? 0xffff : -1) : d.imm;
        return this.aluToE(reg, op === 0x80 ? 8 : vbits, m, rm, () => c.i32(v));
      }
      case 0x84: case 0x85: {
        const bits = op === 0x84 ? 8 : vbits;
        if (!this.loadE(m, rm, (bits >> 3) as 1 | 2 | 4)) return false;
        this.regBits(bits, reg);
        c.op(Op.i32And).set(R);
        // test records (LOGIC, r, 0, r), as its handler does.
        this.setLazy(LZ_LOGIC, () => c.get(R), () => c.i32(0), () => c.get(R), bits);
        return true;
      }
      case 0x88: case 0x89: {
        const bits = op === 0x88 ? 8 : vbits;
        if (!m) {
          this.regBits(bits, reg);
          c.set(A);
          this.setReg(bits, rm, A);
          return true;
        }
        if (!this.address(m, true)) return false;
        this.regBits(bits, reg);
        c.set(A);
        this.store((bits >> 3) as 1 | 2 | 4, A);
        return true;
      }
      case 0x8a: case 0x8b: {
        const bits = op === 0x8a ? 8 : vbits;
        if (!this.loadE(m, rm, (bits >> 3) as 1 | 2 | 4)) return false;
        c.set(A);
        this.setReg(bits, reg, A);
        return true;
      }
      case 0x8d:
        if (!m || m.a16) return false;
        // The offset only: no segment, no access.
        c.i32(m.disp);
        if (m.base >= 0) { this.reg32(m.base); c.op(Op.i32Add); }
        if (m.index >= 0) { this.reg32(m.index); if (m.scale) c.i32(m.scale).op(Op.i32Shl); c.op(Op.i32Add); }
        c.set(A);
        this.setReg32(reg, () => c.get(A));
        return true;
      case 0x90:
        return true;
      case 0xc6: case 0xc7: {
        const bits = op === 0xc6 ? 8 : vbits;
        c.i32(d.imm).set(A);
        if (!m) {
          this.setReg(bits, rm, A);
          return true;
        }
        if (!this.address(m, true)) return false;
        this.store((bits >> 3) as 1 | 2 | 4, A);
        return true;
      }
      case 0xa8: case 0xa9: { // TEST AL/EAX, imm: recorded as (LOGIC, r, 0, r)
        const bits = op === 0xa8 ? 8 : 32;
        this.regBits(bits, 0);
        c.i32(d.imm).op(Op.i32And).set(R);
        this.setLazy(LZ_LOGIC, () => c.get(R), () => c.i32(0), () => c.get(R), bits);
        return true;
      }
      case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3:
        return this.shift(d, reg, op & 1 ? (vbits as 16 | 32) : 8, op >= 0xd2 ? null : (op >= 0xd0 ? 1 : d.imm) & 31);
      case 0xf6: case 0xf7: {
        const bits = op === 0xf6 ? 8 : 32;
        const len = bits === 8 ? 1 : 4;
        if (reg === 0 || reg === 1) { // TEST E, imm: recorded as (LOGIC, r, 0, r)
          if (!this.loadE(m, rm, len)) return false;
          c.i32(d.imm).op(Op.i32And).set(R);
          this.setLazy(LZ_LOGIC, () => c.get(R), () => c.i32(0), () => c.get(R), bits);
          return true;
        }
        if (reg === 4 || reg === 5) return this.mulAcc(m, rm, bits, reg === 5);
        if (reg === 6 && bits === 32) return this.div(m, rm, d.length);
        if (reg !== 2 && reg !== 3) return false;
        return this.rmwE(m, rm, len, () => {
          if (reg === 2) { // NOT: no flags
            c.get(A).i32(-1).op(Op.i32Xor).set(R);
            return;
          }
          c.i32(0).get(A).op(Op.i32Sub).i32(bits === 32 ? -1 : 0xff).op(Op.i32And).set(R); // NEG: recorded as (SUB, 0, a, r)
          this.setLazy(LZ_SUB, () => c.i32(0), () => c.get(A), () => c.get(R), bits);
        });
      }
      case 0x0faf: case 0x69: case 0x6b: { // IMUL Gv, Ev (, imm): the truncated signed product
        if (!this.loadE(m, rm, 4)) return false;
        c.op(Op.i64ExtendI32S);
        if (op === 0x0faf) this.reg32(reg); else c.i32(op === 0x6b ? (d.imm << 24) >> 24 : d.imm);
        c.op(Op.i64ExtendI32S, Op.i64Mul).tee(P64).op(Op.i32WrapI64).set(R);
        this.setReg32(reg, () => c.get(R));
        c.get(P64).get(R).op(Op.i64ExtendI32S, Op.i64Ne).set(B);
        this.mulFlags();
        return true;
      }
      case 0x6a: case 0x68: {
        if (!this.flatStack(true)) return false;
        c.i32(op === 0x6a ? (d.imm << 24) >> 24 : d.imm).set(A);
        this.push(A);
        return true;
      }
      case 0xfe: // INC/DEC Eb
        return (reg === 0 || reg === 1) && this.rmwE(m, rm, 1, () => this.incDec(reg === 0, 8));
      case 0xff: {
        if (reg === 0 || reg === 1) return this.rmwE(m, rm, vlen as 2 | 4, () => this.incDec(reg === 0, vbits));
        if (!d.o32) return false;
        if (reg !== 6 || !m || !this.flatStack(true)) return false;
        if (!this.loadE(m, rm, 4)) return false;
        c.set(A);
        this.push(A);
        return true;
      }
      case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
        const mo = newMemOperand();
        mo.seg = d.segOverride >= 0 ? d.segOverride : DS;
        mo.disp = d.imm;
        const len = op & 1 ? 4 : 1;
        if (op < 0xa2) {
          if (!this.loadE(mo, 0, len)) return false;
          c.set(A);
          this.setReg(len * 8, 0, A);
          return true;
        }
        if (!this.address(mo, true)) return false;
        if (len === 1) this.reg8(0); else this.reg32(0);
        c.set(A);
        this.store(len, A);
        return true;
      }
      case 0x0f90: case 0x0f91: case 0x0f92: case 0x0f93: case 0x0f94: case 0x0f95: case 0x0f96: case 0x0f97:
      case 0x0f98: case 0x0f99: case 0x0f9a: case 0x0f9b: case 0x0f9c: case 0x0f9d: case 0x0f9e: case 0x0f9f: {
        if (!m) {
          this.setReg8(rm, () => this.condition(op & 15));
          return true;
        }
        if (!this.address(m, true)) return false;
        this.condition(op & 15);
        c.set(A);
        this.store(1, A);
        return true;
      }
      case 0x0f40: case 0x0f41: case 0x0f42: case 0x0f43: case 0x0f44: case 0x0f45: case 0x0f46: case 0x0f47:
      case 0x0f48: case 0x0f49: case 0x0f4a: case 0x0f4b: case 0x0f4c: case 0x0f4d: case 0x0f4e: case 0x0f4f: {
        // The source is read (and may fault) whether or not the condition holds.
        if (!this.loadE(m, rm, 4)) return false;
        c.set(A);
        this.condition(op & 15);
        c.op(Op.if, BLOCK_VOID);
        this.nest++;
        this.setReg32(reg, () => c.get(A));
        c.op(Op.end);
        this.nest--;
        return true;
      }
      case 0x86: case 0x87: // XCHG E, G
        return this.xchg(m, rm, reg, op === 0x86 ? 1 : vlen as 2 | 4);
      case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: // XCHG r, eAX
        return this.xchg(null, op & 7, EAX, vlen as 2 | 4);
      case 0x0fb0: case 0x0fb1: { // CMPXCHG E, G: flags of acc - E; E := G if equal, else E := E and acc := E
        const bits = op === 0x0fb0 ? 8 : vbits;
        const len = (bits >> 3) as 1 | 2 | 4;
        if (!this.loadRmwE(m, rm, len, true)) return false;
        c.set(B);
        this.regBits(bits, EAX); c.set(A);
        c.get(A).get(B).op(Op.i32Sub);
        if (bits !== 32) c.i32((1 << bits) - 1).op(Op.i32And);
        c.set(R);
        this.setLazy(LZ_SUB, () => c.get(A), () => c.get(B), () => c.get(R), bits);
        this.regBits(bits, reg); c.get(B).get(A).get(B).op(Op.i32Eq).op(Op.select).set(CY);
        this.storeE(m, rm, len, CY);
        c.get(A).get(B).op(Op.i32Ne).op(Op.if, BLOCK_VOID);
        this.nest++;
        this.setReg(bits, EAX, B);
        c.op(Op.end);
        this.nest--;
        return true;
      }
      case 0x0fc0: case 0x0fc1: { // XADD E, G: R := E + G (flags of the ADD), G := E, then E := R
        const bits = op === 0x0fc0 ? 8 : vbits;
        const len = (bits >> 3) as 1 | 2 | 4;
        if (!this.loadRmwE(m, rm, len, true)) return false;
        c.set(A);
        this.regBits(bits, reg); c.set(B);
        this.alu(ALU_ADD, bits);
        this.setReg(bits, reg, A);
        this.storeE(m, rm, len, R);
        return true;
      }
      case 0x0fa3: case 0x0fab: case 0x0fb3: case 0x0fbb: { // BT/BTS/BTR/BTC E, G: the bit offset in G is signed and may address beyond E in memory
        if (!d.o32) return false;
        const kind = op === 0x0fa3 ? 4 : op === 0x0fab ? 5 : op === 0x0fb3 ? 6 : 7; // as 0F BA's /digit
        this.reg32(reg); c.set(B);
        if (m) {
          if (!this.address(m, kind !== 4)) return false;
          c.get(B).i32(5).op(Op.i32ShrS).i32(2).op(Op.i32Shl).set(T);
          c.get(OFF).get(T).op(Op.i32Add).set(OFF);
          c.get(LIN).get(T).op(Op.i32Add).set(LIN);
          this.load(4, kind !== 4);
        } else {
          this.reg32(rm);
        }
        c.set(A);
        this.bitOp(kind, m, rm, 4, () => c.get(B));
        return true;
      }
      case 0x0fba: { // BT/BTS/BTR/BTC E, imm8: CF := the bit (the other flags stay), then the bit is set, cleared or flipped
        if (reg < 4) return false;
        const len = vlen as 2 | 4;
        const bit = d.imm & (vbits - 1);
        if (!this.loadRmwE(m, rm, len, reg !== 4)) return false;
        c.set(A);
        this.bitOp(reg, m, rm, len, () => c.i32(bit));
        return true;
      }
      case 0xfc: case 0xfd: // CLD, STD
        this.storeArea(L.OFF_FLAGS, () => {
          c.i32(0).mem(Op.i32Load, this.area + L.OFF_FLAGS, 2).i32(~FLAG_DF).op(Op.i32And);
          if (op === 0xfd) c.i32(FLAG_DF).op(Op.i32Or);
        });
        return true;
      case 0xa4: case 0xa5: case 0xaa: case 0xab: { // MOVS, STOS without REP: [ES:EDI] := [seg:ESI] or AL/EAX, then ESI/EDI step by DF
        if (!d.o32 && (op & 1)) return false;
        if (d.rep !== 0) return this.repString(d);
        const { len, movs, src, dst } = stringOperands(d);
        if (movs) {
          if (!this.address(src, false)) return false;
          this.load(len);
        } else {
          this.regBits(len * 8, EAX);
        }
        c.set(A);
        if (!this.address(dst, true)) return false;
        this.store(len, A);
        this.stringStep(len);
        if (movs) this.setReg32(ESI, () => { this.reg32(ESI); c.get(B).op(Op.i32Add); });
        this.setReg32(EDI, () => { this.reg32(EDI); c.get(B).op(Op.i32Add); });
        return true;
      }
      case 0x0fa4: case 0x0fac: case 0x0fa5: case 0x0fad:
        return this.doubleShift(d, op < 0x0fa8, op & 1 ? null : d.imm & 31);
      case 0x0fb6: case 0x0fbe: case 0x0fb7: case 0x0fbf: {
        const word = op === 0x0fb7 || op === 0x0fbf;
        const signed = op === 0x0fbe || op === 0x0fbf;
        if (!this.loadE(m, rm, word ? 2 : 1)) return false;
        if (signed) c.signExtend(word ? 16 : 8);
        c.set(A);
        this.setReg32(reg, () => c.get(A));
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * REP MOVS/STOS (bytes or dwords) of at most REP_INLINE elements, with TF clear: one
   * element at a time while both accesses take the TLB's fast path (RAM, in one page, not
   * over code), ESI/EDI/ECX updated after each as the interpreter does; the first that
   * does not, and any longer count, go to the instruction's closure, which does the rest
   * (within one REP_BUDGET, so it never yields, as the interpreter would not).
   */
  private repString(d: Instr): boolean {
    const closure = this.closure;
    if (closure === null) return false;
    const c = this.c;
    const { len, movs, src, dst } = stringOperands(d);
    c.op(Op.block, BLOCK_VOID); // $done
    c.op(Op.block, BLOCK_VOID); // $slow
    this.nest += 2;
    this.reg32(ECX); c.i32(REP_INLINE).op(Op.i32GtU);
    c.i32(0).mem(Op.i32Load, this.area + L.OFF_FLAGS, 2).i32(FLAG_TF).op(Op.i32And).op(Op.i32Or).br(0, Op.brIf);
    this.stringStep(len);
    c.op(Op.loop, BLOCK_VOID);
    this.nest++;
    this.reg32(ECX); c.op(Op.i32Eqz).br(2, Op.brIf);
    if (movs) {
      if (!this.address(src, false)) return false;
      this.tlbHit(len, this.masks.read);
      c.op(Op.i32Eqz).br(1, Op.brIf);
      c.get(E).i32(~0xfff).op(Op.i32And).get(LIN).op(Op.i32Xor).mem(len === 4 ? Op.i32Load : Op.i32Load8U, 0, len === 4 ? 2 : 0).set(A);
    } else {
      this.regBits(len * 8, EAX); c.set(A);
    }
    if (!this.address(dst, true)) return false;
    this.tlbHit(len, this.masks.write);
    c.op(Op.i32Eqz).br(1, Op.brIf);
    c.get(E).i32(~0xfff).op(Op.i32And).get(LIN).op(Op.i32Xor).get(A).mem(len === 4 ? Op.i32Store : Op.i32Store8, 0, len === 4 ? 2 : 0);
    if (movs) this.setReg32(ESI, () => { this.reg32(ESI); c.get(B).op(Op.i32Add); });
    this.setReg32(EDI, () => { this.reg32(EDI); c.get(B).op(Op.i32Add); });
    this.setReg32(ECX, () => { this.reg32(ECX); c.i32(1).op(Op.i32Sub); });
    c.br(0);
    c.op(Op.end); // loop
    this.nest--;
    c.op(Op.end); // $slow: the rest through the closure
    this.nest--;
    const known = this.known;
    this.exec(closure, d.length);
    this.known = known; // the string instructions leave the flags alone
    c.op(Op.end); // $done
    this.nest--;
    this.cached = 0;
    return true;
  }

  /** XCHG E, G (len bytes): E is read (for a write) first, then written, then G. */
  private xchg(m: MemOperand | null, rm: number, reg: number, len: 1 | 2 | 4): boolean {
    if (!this.loadRmwE(m, rm, len, true)) return false;
    this.c.set(A);
    this.regBits(len * 8, reg); this.c.set(B);
    this.storeE(m, rm, len, B);
    this.setReg(len * 8, reg, A);
    return true;
  }

  /** B := a string instruction's step: len, or -len with DF set. */
  private stringStep(len: 1 | 4): void {
    const c = this.c;
    c.i32(len).i32(0).mem(Op.i32Load, this.area + L.OFF_FLAGS, 2).i32(9 - Math.log2(len)).op(Op.i32ShrU).i32(len * 2).op(Op.i32And).op(Op.i32Sub).set(B);
  }

  /**
   * MUL/IMUL of AL or EAX by E (F6/F7 /4 /5): AX, or EDX:EAX, := the product, as
   * mulEb/mulEv/imulEb/imulEv in ops/integer.ts.
   */
  private mulAcc(m: MemOperand | null, rm: number, bits: 8 | 32, signed: boolean): boolean {
    const c = this.c;
    if (!this.loadE(m, rm, bits >> 3 as 1 | 4)) return false;
    if (bits === 8) {
      if (signed) c.signExtend(8);
      this.reg8(0);
      if (signed) c.signExtend(8);
      c.op(Op.i32Mul).set(R);
      this.setReg(16, 0, R);
      // The high half is significant: the product is not AL zero- or sign-extended.
      if (signed) c.get(R).signExtend(8).get(R).op(Op.i32Ne);
      else c.get(R).i32(0xff).op(Op.i32GtU);
      c.set(B);
    } else {
      const extend = signed ? Op.i64ExtendI32S : Op.i64ExtendI32U;
      c.op(extend);
      this.reg32(0);
      c.op(extend, Op.i64Mul).tee(P64).op(Op.i32WrapI64).set(R);
      c.get(P64).i32(32).op(Op.i64ExtendI32U, Op.i64ShrU).op(Op.i32WrapI64).set(A);
      this.setReg32(0, () => c.get(R));
      this.setReg32(2, () => c.get(A));
      c.get(A);
      if (signed) c.get(R).i32(31).op(Op.i32ShrS).op(Op.i32Ne);
      else c.i32(0).op(Op.i32Ne);
      c.set(B);
    }
    this.mulFlags();
    return true;
  }

  /**
   * DIV EDX:EAX by E (F7 /6, 32-bit): EAX := the quotient, EDX := the remainder, AF set,
   * SF, ZF and PF clear (setDivFlags). A divisor of 0 or a quotient over 32 bits (EDX >= E)
   * runs the instruction's closure instead, which raises #DE as the interpreter does.
   */
  private div(m: MemOperand | null, rm: number, length: number): boolean {
    const closure = this.closure;
    if (closure === null || !this.loadE(m, rm, 4)) return false;
    const c = this.c;
    c.set(A);
    this.reg32(2); c.set(B);
    c.get(A).op(Op.i32Eqz).get(B).get(A).op(Op.i32GeU).op(Op.i32Or).op(Op.if, BLOCK_VOID);
    this.nest++;
    const { known, cached } = this;
    this.exec(closure, length);
    this.known = known;
    this.cached = cached;
    c.op(Op.else);
    c.get(B).op(Op.i64ExtendI32U).i32(32).op(Op.i64ExtendI32U, Op.i64Shl);
    this.reg32(0); c.op(Op.i64ExtendI32U, Op.i64Or).set(P64);
    this.setReg32(0, () => { c.get(P64).get(A).op(Op.i64ExtendI32U, Op.i64DivU, Op.i32WrapI64); });
    this.setReg32(2, () => { c.get(P64).get(A).op(Op.i64ExtendI32U, Op.i64RemU, Op.i32WrapI64); });
    if (!this.dead[this.insn]) {
      this.materialize();
      this.setFlagsArea(~(FLAG_AF | FLAG_SF | FLAG_ZF | FLAG_PF), () => { c.i32(FLAG_AF).op(Op.i32Or); });
    }
    c.op(Op.end);
    this.nest--;
    this.known = null; // the record in the area (materialized) on one way, the closure's on the other
    this.cached = 0;
    return true;
  }

  /** After a multiply: CF = OF = local B (0 or 1); SF, ZF, AF and PF stay as they were (setMulFlags). */
  private mulFlags(): void {
    if (this.dead[this.insn]) return;
    const c = this.c;
    this.materialize();
    this.setFlagsArea(~(FLAG_CF | FLAG_OF), () => { c.get(B).i32(FLAG_CF | FLAG_OF).op(Op.i32Mul).op(Op.i32Or); });
  }

  /**
   * EFLAGS := its other bits, what `other` ORs in (CF, OF, AF), and ZF, SF and PF of the
   * result f works on, and no lazy record (setResultFlags in ops/flags.ts).
   */
  private resultFlags(f: FlagOps<() => void>, other: () => void): void {
    const c = this.c;
    this.setFlagsArea(~FLAGS_ARITH, () => {
      other();
      zeroRule(f)(); c.i32(6).op(Op.i32Shl).op(Op.i32Or);
      signRule(f)(); c.i32(7).op(Op.i32Shl).op(Op.i32Or);
      parityRule(f)(); c.i32(2).op(Op.i32Shl).op(Op.i32Or);
    });
  }

  /** CF := what `bit` pushes (0 or 1); the other flags stay (editFlags, as BT does). */
  private carryFlag(bit: () => void): void {
    if (this.dead[this.insn]) return;
    const c = this.c;
    this.materialize();
    this.setFlagsArea(~FLAG_CF, () => { bit(); c.op(Op.i32Or); });
  }

  /** R := A + 1 or A - 1 and the record inc()/dec() write (CF kept in the record's carry). */
  private incDec(isInc: boolean, bits: number): void {
    const c = this.c;
    if (!this.dead[this.insn]) this.storeArea(L.OFF_LZ_CARRY, () => this.carry());
    c.get(A).i32(1).op(isInc ? Op.i32Add : Op.i32Sub).set(R);
    this.setLazy(isInc ? LZ_INC : LZ_DEC, () => c.get(A), () => c.i32(1), () => c.get(R), bits);
  }

  /** PUSH local v (32-bit, flat SS with a 32-bit stack: the caller checked). */
  private push(v: number): void {
    const c = this.c;
    this.reg32(4); c.i32(4).op(Op.i32Sub).tee(OFF).set(LIN);
    this.store(4, v);
    this.setReg32(4, () => c.get(OFF));
  }

  /** POP into local A (32-bit, flat SS with a 32-bit stack: the caller checked); ESP moves after the read. */
  private pop(): void {
    const c = this.c;
    this.reg32(4); c.tee(OFF).set(LIN);
    this.load(4);
    c.set(A);
    this.setReg32(4, () => c.get(OFF).i32(4).op(Op.i32Add));
  }

  /**
   * After CALL rel32 to another page (return address in A, pushed): when the target holds
   * `mov r, [esp]; ret` (i386 position-independent code calls such a thunk,
   * __x86.get_pc_thunk.r, at the start of nearly every function), run it here (r := A,
   * ESP back) and go on after the call, instead of two trips through the dispatcher. The
   * target's bytes are read at run time through the TLB (so a changed mapping or changed
   * code is seen); a miss, another instruction, or a budget without room for the thunk's two
   * instructions takes the ordinary way, to the target.
   */
  private pcThunk(end: number, imm: number, done: number): void {
    const c = this.c;
    c.get(EIP).i32(end + imm).op(Op.i32Add).set(LIN);
    this.tlbHit(1, this.masks.read); // a read at the CPL, as a code fetch; no alignment to check
    c.op(Op.if, I32);
    c.get(E).i32(~0xfff).op(Op.i32And).get(LIN).op(Op.i32Xor).mem(Op.i32Load, 0, 0); // the target page ends after these 4 bytes
    c.op(Op.else).i32(0).op(Op.end);
    c.tee(B).i32(0xffffc7ff | 0).op(Op.i32And).i32(0xc324048b | 0).op(Op.i32Eq); // 8B /r 24 C3 with mod 0, rm 4: mov r, [esp]; ret
    c.get(B).i32(11).op(Op.i32ShrU).i32(7).op(Op.i32And).i32(ESP).op(Op.i32Ne).op(Op.i32And);
    c.get(N).i32(done + 2).op(Op.i32Add).get(BUDGET).op(Op.i32LeU).op(Op.i32And);
    c.op(Op.if, BLOCK_VOID);
    this.nest++;
    c.get(B).i32(11 - 2).op(Op.i32ShrU).i32(7 << 2).op(Op.i32And).get(A).mem(Op.i32Store, this.area + L.OFF_REGS, 2);
    this.cached &= 1 << ESP; // register r (not ESP) changed in the area only
    this.setReg32(ESP, () => { this.reg32(ESP); c.i32(4).op(Op.i32Add); });
    this.chain(this.entries[this.j].phys + end, end, done + 2);
    c.op(Op.else);
    this.exitAt(end + imm, done);
    c.op(Op.end);
    this.nest--;
  }

  /** The stack is 32-bit and flat for reads (or writes): PUSH, POP, CALL and RET can address it directly. */
  private flatStack(write: boolean): boolean {
    if (!this.mode.ss32 || ((write ? this.mode.segFastWrite : this.mode.segFastRead) & (1 << SS)) === 0) return false;
    this.keyMask |= nativeKeySegment(SS);
    return true;
  }

  /**
   * A read-modify-write of the E operand (len 1 or 4): A := E, `body` computes R (and
   * the flags), E := R. false when m's segment is not flat.
   */
  private rmwE(m: MemOperand | null, rm: number, len: 1 | 2 | 4, body: () => void): boolean {
    if (!this.loadRmwE(m, rm, len, true)) return false;
    this.c.set(A);
    body(); // the flags before the store, as the interpreter records them before its write
    this.storeE(m, rm, len, R);
    return true;
  }

  /**
   * C0/C1/D0/D1/D2/D3: ROL, ROR, SHL/SAL, SHR, SAR of E (8, 16 or 32 bits) by a count
   * known now (1..31), or by CL (count null). A count of 0 in CL changes nothing (no
   * flags, no write: the E operand is read for a write, as shiftEb/shiftEv do), so that
   * path's code is under a test of the count, and the flags after it are read from the area.
   */
  private shift(d: Instr, ext: number, bits: 8 | 16 | 32, count: number | null): boolean {
    if (ext === 2 || ext === 3 || count === 0) return false; // RCL/RCR, and a count of 0 (no flags, an access only)
    const op = ext === 6 ? SHIFT_SHL : ext;
    const c = this.c;
    const m = d.mem;
    const rm = d.modrm & 7;
    const len = (bits >> 3) as 1 | 2 | 4;
    const mask = bits === 32 ? -1 : (1 << bits) - 1;
    const rotate = op === SHIFT_ROL || op === SHIFT_ROR;
    if (!this.loadRmwE(m, rm, len, true)) return false;
    c.set(A);
    const n = (): void => { if (count === null) c.get(CY); else c.i32(count); };
    if (count === null) {
      this.reg8(1); c.i32(31).op(Op.i32And).tee(CY);
      c.op(Op.if, BLOCK_VOID);
      this.nest++;
    }
    switch (op) {
      case SHIFT_ROL: case SHIFT_ROR:
        if (bits === 32) {
          c.get(A); n(); c.op(op === SHIFT_ROL ? Op.i32Rotl : Op.i32Rotr);
        } else {
          // By e = count mod bits: (A << e | A >>> (bits - e)) & mask, which is A for e = 0 too.
          const e = (): void => { n(); c.i32(bits - 1).op(Op.i32And); };
          const back = (): void => { c.i32(bits); e(); c.op(Op.i32Sub); };
          c.get(A); e(); c.op(op === SHIFT_ROL ? Op.i32Shl : Op.i32ShrU);
          c.get(A); back(); c.op(op === SHIFT_ROL ? Op.i32ShrU : Op.i32Shl);
          c.op(Op.i32Or).i32(mask).op(Op.i32And);
        }
        break;
      case SHIFT_SHL: c.get(A); n(); c.op(Op.i32Shl).i32(mask).op(Op.i32And); break;
      case SHIFT_SHR: c.get(A); n(); c.op(Op.i32ShrU); break; // A is masked to its width already
      default: // SAR
        c.get(A).signExtend(bits);
        n(); c.op(Op.i32ShrS).i32(mask).op(Op.i32And);
        break;
    }
    c.set(R);
    // The flags before the write, as the interpreter records them before its write.
    const f = this.flagOps(bits, { a: () => c.get(A), b: n, res: () => c.get(R) });
    const cfOf = (): void => {
      shiftCarryRule(f, op, f.k(bits))();
      shiftOverflowRule(f, op, f.k(bits))();
      c.i32(11).op(Op.i32Shl).op(Op.i32Or).op(Op.i32Or);
    };
    if (this.dead[this.insn]) {
      // nothing sees these flags
    } else if (rotate) {
      this.materialize(); // rotates keep SF, ZF, PF and AF
      this.setFlagsArea(~(FLAG_CF | FLAG_OF), cfOf);
    } else {
      this.resultFlags(f, () => { cfOf(); c.i32(FLAG_AF).op(Op.i32Or); });
    }
    this.storeE(m, rm, len, R);
    if (count === null) {
      c.op(Op.end);
      this.nest--;
      this.known = null; // the flags are in EFLAGS or in the record before, by the count
    }
    return true;
  }

  /**
   * BT, BTS, BTR or BTC (kind 4-7, as 0F BA's /digit) of the operand in A, with the bit
   * number `bit` pushes (below the width): the bit set, cleared or flipped into E, then CF
   * := the bit (after the write, as bitOp does).
   */
  private bitOp(kind: number, m: MemOperand | null, rm: number, len: 2 | 4, bit: () => void): void {
    const c = this.c;
    if (kind !== 4) {
      c.get(A).i32(1); bit(); c.op(Op.i32Shl);
      if (kind === 5) c.op(Op.i32Or);
      else if (kind === 6) c.i32(-1).op(Op.i32Xor).op(Op.i32And);
      else c.op(Op.i32Xor);
      c.set(R);
      this.storeE(m, rm, len, R);
    }
    this.carryFlag(() => { c.get(A); bit(); c.op(Op.i32ShrU).i32(1).op(Op.i32And); });
  }

  /**
   * SHLD/SHRD Ev, Gv by an immediate or CL (count mod 32; 32-bit operands), as shld()
   * and shrd() do: a count of 0 writes nothing and leaves the flags; else SF, ZF, PF of
   * the result, CF the last bit out, AF set, OF the sign change (SHLD) or the result's
   * top two bits' XOR (SHRD), set before the write.
   */
  private doubleShift(d: Instr, left: boolean, count: number | null): boolean {
    if (!d.o32 || count === 0) return false;
    const c = this.c;
    const m = d.mem;
    const rm = d.modrm & 7;
    if (!this.loadRmwE(m, rm, 4, true)) return false;
    c.set(A);
    this.reg32((d.modrm >> 3) & 7); c.set(B);
    const n = (): void => { if (count === null) c.get(CY); else c.i32(count); };
    if (count === null) {
      this.reg8(1); c.i32(31).op(Op.i32And).tee(CY);
      c.op(Op.if, BLOCK_VOID);
      this.nest++;
    }
    c.get(A); n(); c.op(left ? Op.i32Shl : Op.i32ShrU);
    c.get(B); c.i32(32); n(); c.op(Op.i32Sub, left ? Op.i32ShrU : Op.i32Shl, Op.i32Or).set(R);
    if (!this.dead[this.insn]) {
      const f = this.flagOps(32, { a: () => c.get(A), b: n, res: () => c.get(R) });
      this.resultFlags(f, () => {
        // CF
        c.get(A);
        if (left) { c.i32(32); n(); c.op(Op.i32Sub); } else { n(); c.i32(1).op(Op.i32Sub); }
        c.op(Op.i32ShrU).i32(1).op(Op.i32And).tee(T).op(Op.i32Or);
        // OF
        c.get(R).i32(31).op(Op.i32ShrU);
        if (left) c.get(T); else c.get(R).i32(30).op(Op.i32ShrU);
        c.op(Op.i32Xor).i32(1).op(Op.i32And).i32(11).op(Op.i32Shl).op(Op.i32Or);
        c.i32(FLAG_AF).op(Op.i32Or);
      });
    }
    this.storeE(m, rm, 4, R);
    if (count === null) {
      c.op(Op.end);
      this.nest--;
      this.known = null; // the flags are in EFLAGS, or as they were for a count of 0
    }
    return true;
  }

  /**
   * Push the E operand of len bytes for an instruction that may write it back (write: the
   * write permission is checked with the read, as readRmw does); false when m's segment
   * is not flat for that.
   */
  private loadRmwE(m: MemOperand | null, rm: number, len: 1 | 2 | 4, write: boolean): boolean {
    if (!m) {
      this.regBits(len * 8, rm);
      return true;
    }
    if (!this.address(m, write)) return false;
    this.load(len, write);
    return true;
  }

  /** E := local v, after loadRmwE addressed it (memory m, or register rm). */
  private storeE(m: MemOperand | null, rm: number, len: 1 | 2 | 4, v: number): void {
    if (m) this.store(len, v); else this.setReg(len * 8, rm, v);
  }

  /** Push the E operand of len bytes: memory m, or register rm (8-, 16- or 32-bit); false when m's segment is not flat. */
  private loadE(m: MemOperand | null, rm: number, len: 1 | 2 | 4): boolean {
    if (m) {
      if (!this.address(m, false)) return false;
      this.load(len);
    } else if (len === 1) this.reg8(rm); else if (len === 2) this.reg16(rm); else this.reg32(rm);
    return true;
  }

  /** Register r of width bits (8, 16, 32) := local. */
  private setReg(bits: number, r: number, local: number): void {
    if (bits === 8) this.setReg8(r, () => this.c.get(local));
    else if (bits === 16) this.setRegPart(r, 16, false, () => this.c.get(local));
    else this.setReg32(r, () => this.c.get(local));
  }

  /** Push register r of width bits (8, 16, 32). */
  private regBits(bits: number, r: number): void {
    if (bits === 8) this.reg8(r); else if (bits === 16) this.reg16(r); else this.reg32(r);
  }

  /** ALU k with destination E (register rm or memory m) and source `src`. */
  private aluToE(k: number, bits: number, m: MemOperand | null, rm: number, src: () => void): boolean {
    const c = this.c;
    if (!m) {
      this.regBits(bits, rm);
      c.set(A);
      src();
      c.set(B);
      this.alu(k, bits);
      if (k !== ALU_CMP) this.setReg(bits, rm, R);
      return true;
    }
    const len = (bits >> 3) as 1 | 2 | 4;
    if (k === ALU_CMP) {
      if (!this.address(m, false)) return false;
      src();
      c.set(B);
      this.load(len);
      c.set(A);
      this.alu(k, bits);
      return true;
    }
    if (!this.address(m, true)) return false;
    src();
    c.set(B);
    this.load(len, true);
    c.set(A);
    // The flags are recorded before the store, as alu() records them before write32.
    this.alu(k, bits);
    this.store(len, R);
    return true;
  }

  /** R = A op B, and the lazy record (as alu() does; ADC/SBB record their carry in). */
  private alu(k: number, bits: number): void {
    const c = this.c;
    if (k === ALU_ADC || k === ALU_SBB) {
      this.carry();
      c.set(CY);
      if (!this.dead[this.insn]) this.storeArea(L.OFF_LZ_CARRY, () => c.get(CY));
      c.get(A).get(B).op(k === ALU_ADC ? Op.i32Add : Op.i32Sub).get(CY).op(k === ALU_ADC ? Op.i32Add : Op.i32Sub).set(R);
      this.setLazy(k === ALU_ADC ? LZ_ADC : LZ_SBB, () => c.get(A), () => c.get(B), () => c.get(R), bits);
      return;
    }
    this.aluResult(k);
    this.lazyFor(k, bits);
  }

  private aluResult(k: number): void {
    const c = this.c;
    c.get(A).get(B);
    switch (k) {
      case ALU_ADD: c.op(Op.i32Add); break;
      case ALU_OR: c.op(Op.i32Or); break;
      case ALU_AND: c.op(Op.i32And); break;
      case ALU_XOR: c.op(Op.i32Xor); break;
      default: c.op(Op.i32Sub); break; // SUB, CMP
    }
    c.set(R);
  }

  private lazyFor(k: number, bits: number): void {
    const c = this.c;
    const lz = k === ALU_ADD ? LZ_ADD : k === ALU_SUB || k === ALU_CMP ? LZ_SUB : LZ_LOGIC;
    this.setLazy(lz, () => c.get(A), () => c.get(B), () => c.get(R), bits);
  }
}

/** Width of a record known when translating (8, 16, 32), or read at run time: locals holding its mask and bit count. */
type Width = number | { mask: number; bits: number };

/** The flag rules' operations (flag-rules.ts) as WebAssembly over the lazy record in the CPU area, or over `record`. */
function flagOps(c: Code, area: number, width: Width, record?: { a: () => void; b: () => void; res: () => void }): FlagOps<() => void> {
  const field = (off: number) => (): void => { c.i32(0).mem(Op.i32Load, area + off, 2); };
  const bin = (op: number) => (x: () => void, y: () => void) => (): void => { x(); y(); c.op(op); };
  const bitOf = (x: () => void, n: number) => (): void => { x(); c.i32(n).op(Op.i32ShrU).i32(1).op(Op.i32And); };
  const fixed = typeof width === 'number';
  return {
    a: record?.a ?? field(L.OFF_LZ_A), b: record?.b ?? field(L.OFF_LZ_B), res: record?.res ?? field(L.OFF_LZ_RES), carry: field(L.OFF_LZ_CARRY),
    k: (v) => () => { c.i32(v); },
    w: (x) => {
      if (!fixed) return () => { x(); c.get(width.mask).op(Op.i32And); };
      return width === 32 ? x : () => { x(); c.i32((1 << width) - 1).op(Op.i32And); };
    },
    ltu: bin(Op.i32LtU), leu: bin(Op.i32LeU), and: bin(Op.i32And), or: bin(Op.i32Or), xor: bin(Op.i32Xor),
    top: (x) => (fixed ? bitOf(x, width - 1) : () => { x(); c.get(width.bits).i32(1).op(Op.i32Sub).op(Op.i32ShrU).i32(1).op(Op.i32And); }),
    bit: bitOf,
    zero: (x) => () => { x(); c.op(Op.i32Eqz); },
    parity: (x) => () => { x(); c.i32(0xff).op(Op.i32And).op(Op.i32Popcnt).i32(1).op(Op.i32And).op(Op.i32Eqz); },
    pick: (cond, x, y) => () => { x(); y(); cond(); c.op(Op.select); },
    sub: bin(Op.i32Sub), shl: bin(Op.i32Shl), shr: bin(Op.i32ShrU),
    sar: (x, y) => () => {
      x();
      if (!fixed) c.i32(32).get(width.bits).op(Op.i32Sub).op(Op.i32Shl).i32(32).get(width.bits).op(Op.i32Sub).op(Op.i32ShrS);
      else c.signExtend(width);
      y();
      c.op(Op.i32ShrS);
    },
  };
}

/** A switch: `select` pushes 0..n-1 and case i's code runs; `out` is the br depth from it to just after the switch. */
function switchOn(c: Code, n: number, select: () => void, body: (i: number, out: number) => void): void {
  c.op(Op.block, BLOCK_VOID);
  for (let i = 0; i < n; i++) c.op(Op.block, BLOCK_VOID);
  select();
  c.brTable([...Array(n).keys()], 0);
  for (let i = 0; i < n; i++) {
    c.op(Op.end);
    body(i, n - 1 - i);
  }
  c.op(Op.end);
}

/**
 * The bodies of the two flag functions each module holds (F_CF, F_CC): the rules for
 * whatever operation and width the lazy record in the area holds at run time, for code
 * that did not write the record itself (it was written before the block). Locals: see
 * the constants inside.
 */
export function flagFunctions(area: number): Record<'cf' | 'cc' | 'mat', { body: Code; locals: number }> {
  const load = (c: Code, off: number): void => { c.i32(0).mem(Op.i32Load, area + off, 2); };
  const eflagsBit = (c: Code, n: number) => (): void => { load(c, L.OFF_FLAGS); c.i32(n).op(Op.i32ShrU).i32(1).op(Op.i32And); };
  /** MASK, BITS := the record's width. */
  const width = (c: Code, mask: number, bits: number): void => {
    load(c, L.OFF_LZ_BITS);
    c.set(bits);
    c.i32(-1).i32(1).get(bits).op(Op.i32Shl).i32(1).op(Op.i32Sub).get(bits).i32(32).op(Op.i32Eq).op(Op.select).set(mask);
  };
  // cf(): locals MASK 0, BITS 1
  const cf = new Code();
  {
    width(cf, 0, 1);
    const f = flagOps(cf, area, { mask: 0, bits: 1 });
    switchOn(cf, 8, () => load(cf, L.OFF_LZ_OP), (op) => {
      if (op === LZ_NONE) eflagsBit(cf, 0)(); else carryRule(f, op)();
      cf.op(Op.return);
    });
    cf.op(Op.unreachable);
  }
  // cc(n): param N 0; locals MASK 1, BITS 2, CF 3, OF 4, ZF 5, SF 6, PF 7
  const cc = new Code();
  {
    const [N, MASK, BITS, CF, OF, ZF, SF, PF] = [0, 1, 2, 3, 4, 5, 6, 7];
    width(cc, MASK, BITS);
    const f = flagOps(cc, area, { mask: MASK, bits: BITS });
    cc.op(Op.block, BLOCK_VOID); // $flags: CF..PF set
    switchOn(cc, 8, () => load(cc, L.OFF_LZ_OP), (op, out) => {
      if (op === LZ_NONE) {
        for (const [local, bit] of [[CF, 0], [OF, 11], [ZF, 6], [SF, 7], [PF, 2]]) { eflagsBit(cc, bit)(); cc.set(local); }
        cc.br(out + 1);
        return;
      }
      carryRule(f, op)(); cc.set(CF);
      overflowRule(f, op)(); cc.set(OF);
      cc.br(out);
    });
    zeroRule(f)(); cc.set(ZF);
    signRule(f)(); cc.set(SF);
    parityRule(f)(); cc.set(PF);
    cc.op(Op.end);
    const g = (l: number) => (): void => { cc.get(l); };
    switchOn(cc, 16, () => cc.get(N), (n) => {
      conditionRule(f, { cf: g(CF), of: g(OF), zf: g(ZF), sf: g(SF), pf: g(PF) }, n)();
      cc.op(Op.return);
    });
    cc.op(Op.unreachable);
  }
  // mat(): locals MASK 0, BITS 1, CF 2, OF 3, AF 4; EFLAGS := its other bits and the record's, and no record
  const mat = new Code();
  {
    const [MASK, BITS, CF, OF, AF] = [0, 1, 2, 3, 4];
    width(mat, MASK, BITS);
    const f = flagOps(mat, area, { mask: MASK, bits: BITS });
    switchOn(mat, 8, () => load(mat, L.OFF_LZ_OP), (op, out) => {
      if (op === LZ_NONE) {
        mat.i32(0).op(Op.return); // EFLAGS holds the flags already
        return;
      }
      carryRule(f, op)(); mat.set(CF);
      overflowRule(f, op)(); mat.set(OF);
      adjustRule(f, op)(); mat.set(AF);
      mat.br(out);
    });
    mat.i32(0);
    load(mat, L.OFF_FLAGS); mat.i32(~FLAGS_ARITH).op(Op.i32And);
    mat.get(CF).op(Op.i32Or);
    parityRule(f)(); mat.i32(2).op(Op.i32Shl).op(Op.i32Or);
    mat.get(AF).i32(4).op(Op.i32Shl).op(Op.i32Or);
    zeroRule(f)(); mat.i32(6).op(Op.i32Shl).op(Op.i32Or);
    signRule(f)(); mat.i32(7).op(Op.i32Shl).op(Op.i32Or);
    mat.get(OF).i32(11).op(Op.i32Shl).op(Op.i32Or);
    mat.mem(Op.i32Store, area + L.OFF_FLAGS, 2);
    mat.i32(0).i32(LZ_NONE).mem(Op.i32Store, area + L.OFF_LZ_OP, 2);
    mat.i32(0);
  }
  return { cf: { body: cf, locals: 2 }, cc: { body: cc, locals: 7 }, mat: { body: mat, locals: 5 } };
}
