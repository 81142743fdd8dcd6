import {
  CR0_PE, CR0_PG, CR0_AM, CR0_WP, CR4_PSE, CR4_PGE, CR0_EM, CR0_TS, CR0_MP, CR0_ET,
  CS, SS, DS, ES, FS, GS, ESP,
  DESC_CODE, DESC_DB, DESC_DC, DESC_G, DESC_P, DESC_RW, DESC_S, DESC_A,
  EXC_AC, EXC_DB, EXC_DF, EXC_GP, EXC_NP, EXC_PF, EXC_SS, EXC_TS, EXC_UD, EXC_NM,
  FLAG_AF, FLAG_CF, FLAG_FIXED, FLAG_IF, FLAG_NT, FLAG_OF, FLAG_PF, FLAG_RF, FLAG_SF, FLAG_TF,
  FLAG_VM, FLAG_ZF, FLAGS_ARITH, FLAGS_SUPPORTED, FLAG_IOPL, FLAG_AC,
  PF_P, PF_U, PF_W,
  SYS_INT_GATE16, SYS_INT_GATE32, SYS_TRAP_GATE16, SYS_TRAP_GATE32, SYS_TASK_GATE,
  SYS_TSS32_AVAIL, SYS_TSS32_BUSY, SYS_TSS16_AVAIL, SYS_TSS16_BUSY,
  REG32_NAMES, SEG_NAMES,
} from './constants.ts';
import type { AccessSize } from '../bus/device.ts';
import type { InterruptSource, VmExit } from '../engines/vcpu.ts';
import type { CpuState } from './state.ts';
import { X87 } from './fpu/x87.ts';
import { switchTask } from './ops/task.ts';
import type { FpuHost } from './fpu/host.ts';
import type { Block, BlockDecoder, BlockTranslator, Exec } from './blocks.ts';
import { NO_NATIVE, stepAgain } from './blocks.ts';
import * as L from './layout.ts';
import {
  adjustRule, carryRule, conditionTester, flagGetter, overflowRule, parityRule, signRule, zeroRule,
  LZ_ADC, LZ_ADD, LZ_DEC, LZ_INC, LZ_LOGIC, LZ_NONE, LZ_SBB, LZ_SUB,
} from './flag-rules.ts';
import { decodeMem, memOffset, newMemOperand, readPrefixes, TOO_LONG } from './decoder.ts';
import { cpuViews, privateCpuArea, type CpuArea } from './layout.ts';

/** A guest exception in flight. Thrown by instruction code; never escapes run(). */
export class CpuFault {
  constructor(readonly vector: number, readonly errorCode: number) {}
}
/** The current instruction is waiting on an I/O or MMIO exit. */
const EXIT_SIGNAL = { exit: true };
/** HLT executed. */
const HALT_SIGNAL = { halt: true };

/** The engine met something it does not implement. Ends the run with a report. */
export class UnimplementedError extends Error {}

/** The guest put the machine in a state this CPU cannot go on from (e.g. an IDT in MMIO space). */
export class MachineError extends Error {}

export type Handler = (cpu: Cpu) => void;

// Lazy arithmetic flags: the last flag-setting operation, evaluated on demand by the rules in flag-rules.ts.
export { LZ_NONE, LZ_ADD, LZ_ADC, LZ_SUB, LZ_SBB, LZ_LOGIC, LZ_INC, LZ_DEC };

// TLB entry bits (low 12 bits of (physPage ^ linPage) | flags).
const T_VALID = 1;
const T_NOUSER = 2;
const T_NOWRITE_USER = 4;
const T_NOWRITE_SUP = 8;
const T_CLEAN = 16;
const T_MMIO = 32;
/** Global page (PTE/PDE G with CR4.PGE): kept across CR3 loads. */
const T_GLOBAL = 64;
/** Part of a 4 MiB page: INVLPG drops the whole page. */
const T_LARGE = 128;
/** The physical page holds decoded blocks: writes take the slow path, which drops them. */
const T_CODE = 256;
const TLB_MAX_FILLED = 4096;

/** Index into the byte view of the register file for 8-bit register n (AL,CL,DL,BL,AH,CH,DH,BH). */
const REG8_INDEX = [0, 4, 8, 12, 1, 5, 9, 13];

export interface CpuOptions {
  ram: Uint8Array;
  interrupts: InterruptSource;
  /** TSC value now (counts virtual time). */
  readTsc: () => number;
  /** Dispatch tables: one-byte map and 0F map, and the block decoder (from src/cpu/table). */
  ops: { one: Handler[]; twoByte: Handler[]; decodeBlock?: BlockDecoder };
  /** Execute through decoded blocks (default true when ops has a decoder); false decodes every instruction every time. */
  blocks?: boolean;
  /** Instructions after the CPU writes over a page's blocks during which that page gets no new ones (default 100 000). */
  smcCooldown?: number;
  /** Where the architectural state and the TLB live (layout.ts); a private buffer when absent. */
  area?: CpuArea;
  /** Gives hot decoded blocks native code (the jit engine); none for the interpreter. */
  translator?: BlockTranslator;
}

/** TLB-entry bits that must be clear (besides VALID set) for a read / a write at this CPL. */
export function tlbMasks(cpl: number): { read: number; write: number } {
  return cpl === 3
    ? { read: T_VALID | T_MMIO | T_NOUSER, write: T_VALID | T_MMIO | T_NOUSER | T_NOWRITE_USER | T_CLEAN | T_CODE }
    : { read: T_VALID | T_MMIO, write: T_VALID | T_MMIO | T_NOWRITE_SUP | T_CLEAN | T_CODE };
}
/** The VALID bit of a TLB entry. */
export const TLB_VALID = T_VALID;

/** Where Cpu.nativeKey() puts its fields (the CPL is bits 0-1; the segment masks are 6 bits each). */
const KEY_FAST_READ = 2;
const KEY_FAST_WRITE = 8;
const KEY_SS32 = 14;
const KEY_BIG_READ = 15;
const KEY_BIG_WRITE = 21;
/** Alignment checking is on (alignmentCheckEnabled): native code is made, and runs, only without it. */
const KEY_AC = 27;
/** Cpu.nativeKey() bits every piece of native code depends on: the CPL, SS.B and alignment checking. */
export const NATIVE_KEY_ALWAYS = 3 | (1 << KEY_SS32) | (1 << KEY_AC);
/** Cpu.nativeKey() bits of segment register s: whether it is flat, or 4 GiB with a base, for reads and for writes. */
export function nativeKeySegment(s: number): number {
  return ((1 << KEY_FAST_READ) | (1 << KEY_FAST_WRITE) | (1 << KEY_BIG_READ) | (1 << KEY_BIG_WRITE)) << s;
}

const BLOCK_CACHE_BITS = 16;
const BLOCK_CACHE_SHIFT = 32 - BLOCK_CACHE_BITS;
/** A page written by the CPU this recently (in instructions) gets no new blocks: it is being modified. */
const SMC_COOLDOWN = 100_000;
/** Stands in for "no block" in the block cache (one shape for every entry). */
const NO_BLOCK: Block = { phys: -1, cs32: false, execs: [], ends: [], bytes: 0, count: 0, slot: -1, runs: 0, native: NO_NATIVE, cross: null };

/**
 * The IA-32 interpreter's CPU: architectural state, segmentation, paging with a
 * TLB, exceptions and interrupt delivery, and the fetch-decode-execute loop.
 * Instruction semantics live in src/cpu/ops/, reached through the opcode table.
 *
 * Conventions: 32-bit values are kept as signed int32 (`| 0`); addresses are
 * linear int32 until they reach the bus; a guest exception is thrown as CpuFault
 * and must leave registers as they were at the start of the instruction (ESP is
 * restored by the loop; everything else is the handler's job: do all memory
 * accesses that can fault before committing register changes).
 */
export class Cpu implements FpuHost {
  // Architectural state: views of the CPU area (layout.ts), which a machine places in its
  // linear memory; the accessors below name its fields.
  private readonly s32: Int32Array;
  private readonly su32: Uint32Array;
  private readonly sf64: Float64Array;
  /** General registers: three views of the same 32 bytes. */
  readonly r32: Int32Array;
  readonly r16: Uint16Array;
  readonly r8: Uint8Array;
  // Segment registers and their descriptor caches.
  readonly segSel: Int32Array;
  readonly segBase: Int32Array;
  /** Effective limit in bytes minus one (granularity applied), unsigned. */
  readonly segLimit: Uint32Array;
  /** Access byte in bits 0..7, flags nibble in bits 12..15 (DESC_* bits). */
  readonly segAccess: Int32Array;
  readonly dr: Int32Array;

  // Cached in fields while run() runs (the hottest state; typed-array stores would cost
  // the interpreter about 2x), spilled to the area when it returns: see run().
  /** Instruction pointer: an unsigned offset into CS. */
  eip = 0;
  /** EFLAGS; the arithmetic bits are stale while lzOp !== LZ_NONE. */
  flags = 0;
  lzOp = 0;
  lzA = 0;
  lzB = 0;
  lzRes = 0;
  lzBits = 0;
  lzCarry = 0;
  /** Bit s set: segment s is flat (base 0, limit 4 GiB, usable) and needs no checks on read. */
  segFastRead = 0;
  /** Bit s set: segment s is flat and writable: no checks on write. */
  segFastWrite = 0;
  /** Segments whose limit is 4 GiB (any base), readable / writable: native code adds the base and checks nothing else. */
  segBigRead = 0;
  segBigWrite = 0;
  instructionsRetired = 0;
  /** Instructions retired by native code (runNative). */
  nativeRetired = 0;
  // The rest of the state is read and written in the area itself.
  get gdtBase(): number { return this.s32[L.OFF_GDT_BASE >> 2]; }
  set gdtBase(v: number) { this.s32[L.OFF_GDT_BASE >> 2] = v; }
  get gdtLimit(): number { return this.s32[L.OFF_GDT_LIMIT >> 2]; }
  set gdtLimit(v: number) { this.s32[L.OFF_GDT_LIMIT >> 2] = v; }
  get idtBase(): number { return this.s32[L.OFF_IDT_BASE >> 2]; }
  set idtBase(v: number) { this.s32[L.OFF_IDT_BASE >> 2] = v; }
  get idtLimit(): number { return this.s32[L.OFF_IDT_LIMIT >> 2]; }
  set idtLimit(v: number) { this.s32[L.OFF_IDT_LIMIT >> 2] = v; }
  get ldtSel(): number { return this.s32[L.OFF_LDT_SEL >> 2]; }
  set ldtSel(v: number) { this.s32[L.OFF_LDT_SEL >> 2] = v; }
  get ldtBase(): number { return this.s32[L.OFF_LDT_BASE >> 2]; }
  set ldtBase(v: number) { this.s32[L.OFF_LDT_BASE >> 2] = v; }
  /** Byte limit, unsigned. */
  get ldtLimit(): number { return this.su32[L.OFF_LDT_LIMIT >> 2]; }
  set ldtLimit(v: number) { this.su32[L.OFF_LDT_LIMIT >> 2] = v; }
  get trSel(): number { return this.s32[L.OFF_TR_SEL >> 2]; }
  set trSel(v: number) { this.s32[L.OFF_TR_SEL >> 2] = v; }
  get trBase(): number { return this.s32[L.OFF_TR_BASE >> 2]; }
  set trBase(v: number) { this.s32[L.OFF_TR_BASE >> 2] = v; }
  /** Byte limit, unsigned. */
  get trLimit(): number { return this.su32[L.OFF_TR_LIMIT >> 2]; }
  set trLimit(v: number) { this.su32[L.OFF_TR_LIMIT >> 2] = v; }
  get trAccess(): number { return this.s32[L.OFF_TR_ACCESS >> 2]; }
  set trAccess(v: number) { this.s32[L.OFF_TR_ACCESS >> 2] = v; }
  get cr0(): number { return this.s32[L.OFF_CR0 >> 2]; }
  set cr0(v: number) { this.s32[L.OFF_CR0 >> 2] = v; }
  get cr2(): number { return this.s32[L.OFF_CR2 >> 2]; }
  set cr2(v: number) { this.s32[L.OFF_CR2 >> 2] = v; }
  get cr3(): number { return this.s32[L.OFF_CR3 >> 2]; }
  set cr3(v: number) { this.s32[L.OFF_CR3 >> 2] = v; }
  get cr4(): number { return this.s32[L.OFF_CR4 >> 2]; }
  set cr4(v: number) { this.s32[L.OFF_CR4 >> 2] = v; }
  get cpl(): number { return this.s32[L.OFF_CPL >> 2]; }
  set cpl(v: number) { this.s32[L.OFF_CPL >> 2] = v; }
  get msrSysenterCs(): number { return this.s32[L.OFF_SYSENTER_CS >> 2]; }
  set msrSysenterCs(v: number) { this.s32[L.OFF_SYSENTER_CS >> 2] = v; }
  get msrSysenterEsp(): number { return this.s32[L.OFF_SYSENTER_ESP >> 2]; }
  set msrSysenterEsp(v: number) { this.s32[L.OFF_SYSENTER_ESP >> 2] = v; }
  get msrSysenterEip(): number { return this.s32[L.OFF_SYSENTER_EIP >> 2]; }
  set msrSysenterEip(v: number) { this.s32[L.OFF_SYSENTER_EIP >> 2] = v; }
  /** Instructions in the interrupt shadow (after STI, MOV SS, POP SS). */
  get irqInhibit(): number { return this.s32[L.OFF_IRQ_INHIBIT >> 2]; }
  set irqInhibit(v: number) { this.s32[L.OFF_IRQ_INHIBIT >> 2] = v; }
  /** CS.D: default operand/address size is 32-bit. */
  get csDefault32(): boolean { return this.s32[L.OFF_CS32 >> 2] !== 0; }
  set csDefault32(v: boolean) { this.s32[L.OFF_CS32 >> 2] = v ? 1 : 0; }
  /** SS.B: stack pointer is ESP (else SP). */
  get ss32(): boolean { return this.s32[L.OFF_SS32 >> 2] !== 0; }
  set ss32(v: boolean) { this.s32[L.OFF_SS32 >> 2] = v ? 1 : 0; }
  get halted(): boolean { return this.s32[L.OFF_HALTED >> 2] !== 0; }
  set halted(v: boolean) { this.s32[L.OFF_HALTED >> 2] = v ? 1 : 0; }
  /** Offset added to the virtual-time TSC by WRMSR 0x10. */
  get tscOffset(): number { return this.sf64[L.OFF_TSC_OFFSET >> 3]; }
  set tscOffset(v: number) { this.sf64[L.OFF_TSC_OFFSET >> 3] = v; }

  // Per-instruction decode state.
  o32 = false;
  a32 = false;
  segOverride = -1;
  /** 0 none, 1 REPE/REP (F3), 2 REPNE (F2). */
  rep = 0;
  lock = false;
  modrm = 0;
  eaOff = 0;
  eaSeg = DS;
  /** The memory operand's base register was ESP (POP Ev adjusts for it). */
  eaBaseIsEsp = false;
  /** Scratch for the decoder's memory operand (decodeModrm). */
  private readonly memOperand = newMemOperand();
  /** Bytes of the current instruction fetched so far (the decoder's 15-byte limit). */
  private readonly instrLength = (): number => (this.eip - this.instrEip) >>> 0;
  instrEip = 0;
  private instrEsp = 0;

  /** Non-zero while an event is being delivered (descriptor reads then cannot exit for MMIO). */
  private deliveryDepth = 0;
  /** Events delivered so far (interrupts, exceptions, INT n): an instruction that delivered one takes no single-step trap. */
  eventsDelivered = 0;
  /** Set by MOV SS / POP SS during the current instruction: its single-step trap waits for the next one (SDM 6.8.3). */
  private ssLoaded = false;
  /** The interrupt controller had an interrupt when the CPU last looked (in the area for native code's STI). */
  private get intrPending(): boolean { return this.s32[L.OFF_INTR_PENDING >> 2] !== 0; }
  private set intrPending(v: boolean) { this.s32[L.OFF_INTR_PENDING >> 2] = v ? 1 : 0; }

  // Memory.
  readonly mem8: Uint8Array;
  readonly mem32: Int32Array;
  readonly mem16: Uint16Array;
  readonly ramSize: number;
  /** The software TLB (layout.ts OFF_TLB): per linear page, (physPage ^ linPage) << 12 | T_* flags. */
  readonly tlb: Int32Array;
  private readonly tlbFilled = new Int32Array(TLB_MAX_FILLED);
  private tlbFilledCount = 0;
  private tlbOverflow = false;
  /** Byte n set: some TLB entry in the 4 MiB region n came from a 4 MiB page. */
  private readonly tlbLargeRegions = new Uint8Array(1024);
  /** TLB-entry bits that must be clear (besides VALID set) for a read / write at the current CPL. */
  private readMask = T_VALID | T_MMIO;
  private writeMask = T_VALID | T_MMIO | T_NOWRITE_SUP | T_CLEAN | T_CODE;
  // Fetch window: for eip in [fetchStart, fetchEnd), the byte is mem8[eip + fetchDelta].
  private fetchStart = 0;
  private fetchEnd = 0;
  private fetchDelta = 0;

  // Completed I/O and MMIO accesses of the instruction being replayed after an exit.
  private readonly replay: number[] = [];
  private replayPos = 0;
  private pendingExit: VmExit | null = null;

  readonly fpu: X87;
  private readonly interrupts: InterruptSource;
  readonly readTsc: () => number;
  private readonly ops1: Handler[];
  private readonly ops0f: Handler[];

  // Decoded blocks (src/cpu/blocks.ts), keyed by physical address.
  private readonly decodeBlock: BlockDecoder | null;
  private readonly blockCache: Block[] = new Array<Block>(1 << BLOCK_CACHE_BITS).fill(NO_BLOCK);
  /** Every live block by physical address: what the direct-mapped cache falls back on before decoding again. */
  private readonly blockMap = new Map<number, Block>();
  /** Per physical page: 1 while blocks decoded from it may be in the cache. */
  private readonly codePage: Uint8Array;
  private readonly pageBlocks = new Map<number, Block[]>();
  /** Per physical page: instructionsRetired when the CPU last wrote over its blocks. */
  private readonly codeWrittenAt: Float64Array;
  /** Instructions in the running block; zeroed to stop it after the current one (its code was written). */
  private blockLimit = 0;
  private blockPage = -1;
  private readonly smcCooldown: number;
  private readonly translator: BlockTranslator | null;

  constructor(opts: CpuOptions) {
    const area = opts.area ?? privateCpuArea();
    const v = cpuViews(area);
    this.s32 = v.i32;
    this.su32 = v.u32;
    this.sf64 = v.f64;
    this.r32 = new Int32Array(area.buffer, area.offset + L.OFF_REGS, 8);
    this.r16 = new Uint16Array(area.buffer, area.offset + L.OFF_REGS, 16);
    this.r8 = new Uint8Array(area.buffer, area.offset + L.OFF_REGS, 32);
    this.segSel = new Int32Array(area.buffer, area.offset + L.OFF_SEG_SEL, 6);
    this.segBase = new Int32Array(area.buffer, area.offset + L.OFF_SEG_BASE, 6);
    this.segAccess = new Int32Array(area.buffer, area.offset + L.OFF_SEG_ACCESS, 6);
    this.segLimit = new Uint32Array(area.buffer, area.offset + L.OFF_SEG_LIMIT, 6);
    this.dr = new Int32Array(area.buffer, area.offset + L.OFF_DR, 8);
    this.tlb = new Int32Array(area.buffer, area.offset + L.OFF_TLB, L.TLB_ENTRIES);
    v.i32.fill(0);
    this.tlb.fill(0);
    this.lzBits = 32;
    this.mem8 = opts.ram;
    this.ramSize = opts.ram.length;
    this.mem16 = new Uint16Array(opts.ram.buffer, opts.ram.byteOffset, opts.ram.length >>> 1);
    this.mem32 = new Int32Array(opts.ram.buffer, opts.ram.byteOffset, opts.ram.length >>> 2);
    this.interrupts = opts.interrupts;
    this.readTsc = opts.readTsc;
    this.ops1 = opts.ops.one;
    this.ops0f = opts.ops.twoByte;
    this.decodeBlock = opts.blocks === false ? null : opts.ops.decodeBlock ?? null;
    this.smcCooldown = opts.smcCooldown ?? SMC_COOLDOWN;
    this.translator = opts.translator ?? null;
    const pages = Math.ceil(this.ramSize / 0x1000);
    this.codePage = new Uint8Array(pages);
    this.codeWrittenAt = new Float64Array(pages).fill(-Infinity);
    this.fpu = new X87(this);
    this.reset();
  }

  /** Power-on state (SDM Vol. 3A 9.1.1), except that we start at 0xFFFF0 without a BIOS. */
  reset(): void {
    this.s32[L.OFF_JIT_PAGE >> 2] = -1;
    this.r32.fill(0);
    this.r32[2] = 0x600; // EDX: family 6 signature
    this.eip = 0xfff0;
    this.flags = FLAG_FIXED;
    this.lzOp = LZ_NONE;
    this.cr0 = CR0_ET | 0x60000000;
    this.cr2 = this.cr3 = this.cr4 = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.gdtBase = 0; this.gdtLimit = 0xffff;
    this.idtBase = 0; this.idtLimit = 0x3ff;
    this.ldtSel = this.ldtBase = 0; this.ldtLimit = 0xffff;
    this.trSel = this.trBase = 0; this.trLimit = 0xffff; this.trAccess = DESC_P | SYS_TSS32_BUSY;
    for (let s = 0; s < 6; s++) this.setSegmentCache(s, 0, 0, 0xffff, DESC_P | DESC_S | DESC_RW | DESC_A);
    this.setSegmentCache(CS, 0xf000, 0xffff0000 | 0, 0xffff, DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A);
    this.cpl = 0;
    this.halted = false;
    this.irqInhibit = 0;
    this.msrSysenterCs = this.msrSysenterEsp = this.msrSysenterEip = 0;
    this.tscOffset = 0;
    this.fpu.reset();
    this.flushTlb();
    this.updateCplMasks();
    this.spill();
  }

  // ---------------------------------------------------------------- registers

  getReg8(n: number): number { return this.r8[REG8_INDEX[n]]; }
  setReg8(n: number, v: number): void { this.r8[REG8_INDEX[n]] = v; }
  getReg16(n: number): number { return this.r16[n << 1]; }
  setReg16(n: number, v: number): void { this.r16[n << 1] = v; }
  setAx(v: number): void { this.r16[0] = v; }

  // ---------------------------------------------------------------- flags

  /** The full EFLAGS value. */
  getFlags(): number {
    if (this.lzOp === LZ_NONE) return this.flags;
    return (this.flags & ~FLAGS_ARITH) | this.getCF() | this.getPF() | this.getAF() | this.getZF() | this.getSF() | this.getOF();
  }

  /** Set EFLAGS bits under mask (other bits kept), dropping the lazy state. */
  setFlags(value: number, mask = -1): void {
    const f = this.getFlags();
    this.flags = (((f & ~mask) | (value & mask)) & FLAGS_SUPPORTED) | FLAG_FIXED;
    this.lzOp = LZ_NONE;
  }

  /** Fold lazy flags into `flags` so single bits can be edited. */
  materializeFlags(): void {
    if (this.lzOp !== LZ_NONE) {
      this.flags = this.getFlags();
      this.lzOp = LZ_NONE;
    }
  }

  /** Set the six arithmetic flags from `value` (other bits kept). */
  setArithFlags(value: number): void {
    this.setFlags(value, FLAGS_ARITH);
  }

  /** Record a flag-setting ALU result; returns res. */
  setLazy(op: number, a: number, b: number, res: number, bits: number): void {
    this.lzOp = op;
    this.lzA = a;
    this.lzB = b;
    this.lzRes = res;
    this.lzBits = bits;
  }

  // ---------------------------------------------------------------- segments

  /** Load a segment register's hidden cache directly (no checks). limit is the raw 20-bit limit unless already expanded. */
  setSegmentCache(seg: number, selector: number, base: number, limitBytes: number, access: number): void {
    this.segSel[seg] = selector & 0xffff;
    this.segBase[seg] = base | 0;
    this.segLimit[seg] = limitBytes >>> 0;
    this.segAccess[seg] = access;
    this.updateSegFast(seg);
    if (seg === CS) {
      this.csDefault32 = (access & DESC_DB) !== 0;
      this.invalidateFetch();
    } else if (seg === SS) {
      this.ss32 = (access & DESC_DB) !== 0;
    }
  }

  /** Recompute whether segment seg is flat (after a mode change: CR0.PE or EFLAGS.VM). */
  updateSegFast(seg: number): void {
    const bit = 1 << seg;
    this.segFastRead &= ~bit;
    this.segFastWrite &= ~bit;
    this.segBigRead &= ~bit;
    this.segBigWrite &= ~bit;
    const acc = this.segAccess[seg];
    if (this.segLimit[seg] !== 0xffffffff || !(acc & DESC_P)) return;
    if (acc & DESC_CODE) {
      if (acc & DESC_RW) this.segBigRead |= bit;
    } else if (!(acc & DESC_DC)) {
      this.segBigRead |= bit;
      if (acc & DESC_RW) this.segBigWrite |= bit;
    }
    if (this.segBase[seg] === 0) {
      this.segFastRead |= this.segBigRead & bit;
      this.segFastWrite |= this.segBigWrite & bit;
    }
  }

  /** Real-mode / virtual-8086 segment load: base = selector * 16. */
  loadSegmentReal(seg: number, selector: number): void {
    selector &= 0xffff;
    const acc = seg === CS
      ? (this.segAccess[CS] & ~0xff) | DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | (this.flags & FLAG_VM ? 3 << 5 : 0)
      : (this.segAccess[seg] & ~0xff) | DESC_P | DESC_S | DESC_RW | DESC_A | (this.flags & FLAG_VM ? 3 << 5 : 0);
    const limit = this.flags & FLAG_VM ? 0xffff : this.segLimit[seg];
    this.setSegmentCache(seg, selector, selector << 4, limit, this.flags & FLAG_VM ? acc & ~(DESC_DB | DESC_G) : acc);
  }

  isProtectedMode(): boolean {
    return (this.cr0 & CR0_PE) !== 0 && (this.flags & FLAG_VM) === 0;
  }

  isRealMode(): boolean {
    return (this.cr0 & CR0_PE) === 0;
  }

  /**
   * Linear address of seg:offset for an access of len bytes, with the protected-mode
   * type and limit checks (SDM Vol. 3A 5.3). Throws #GP(0) or #SS(0).
   */
  linear(seg: number, offset: number, len: number, isWrite: boolean): number {
    const bit = 1 << seg;
    // A flat segment still faults when the access runs past 4 GiB (offset + len wraps).
    if ((isWrite ? this.segFastWrite : this.segFastRead) & bit && (offset >>> 0) <= 0x1_0000_0000 - len) return offset | 0;
    return this.linearChecked(seg, offset, len, isWrite);
  }

  private linearChecked(seg: number, offset: number, len: number, isWrite: boolean): number {
    const vec = seg === SS ? EXC_SS : EXC_GP;
    const acc = this.segAccess[seg];
    if (this.isProtectedMode()) {
      // A null selector loaded in protected mode leaves the cache not present; one loaded in real mode stays usable.
      if (!(acc & DESC_P)) throw new CpuFault(vec, 0);
      if (acc & DESC_CODE) {
        if (isWrite || !(acc & DESC_RW)) throw new CpuFault(vec, 0);
      } else if (isWrite && !(acc & DESC_RW)) {
        throw new CpuFault(vec, 0);
      }
    }
    const off = offset >>> 0;
    const last = off + len - 1;
    const limit = this.segLimit[seg];
    if (!(acc & DESC_CODE) && (acc & DESC_DC)) {
      const upper = acc & DESC_DB ? 0xffffffff : 0xffff;
      if (off <= limit || last > upper) throw new CpuFault(vec, 0);
    } else if (last > limit) {
      throw new CpuFault(vec, 0);
    }
    return (this.segBase[seg] + offset) | 0;
  }

  // ---------------------------------------------------------------- paging

  /**
   * Drop TLB entries. keepGlobal (a CR3 load): global pages stay while the fill
   * list is exact; after an overflow everything goes, which the architecture
   * allows (SDM Vol. 3A 4.10.4.1).
   */
  flushTlb(keepGlobal = false): void {
    if (this.tlbOverflow) {
      this.tlb.fill(0);
      this.tlbLargeRegions.fill(0);
      this.tlbFilledCount = 0;
    } else if (keepGlobal) {
      let kept = 0;
      for (let i = 0; i < this.tlbFilledCount; i++) {
        const page = this.tlbFilled[i];
        if (this.tlb[page] & T_GLOBAL) this.tlbFilled[kept++] = page;
        else this.tlb[page] = 0;
      }
      this.tlbFilledCount = kept;
    } else {
      for (let i = 0; i < this.tlbFilledCount; i++) this.tlb[this.tlbFilled[i]] = 0;
      this.tlbLargeRegions.fill(0);
      this.tlbFilledCount = 0;
    }
    this.tlbOverflow = false;
    this.invalidateFetch();
  }

  /** INVLPG: drop the translation of lin's page, including a global one and the whole of a 4 MiB page. */
  invalidatePage(lin: number): void {
    this.tlb[lin >>> 12] = 0;
    const region = lin >>> 22;
    if (this.tlbLargeRegions[region]) {
      const first = region << 10;
      for (let p = first; p < first + 1024; p++) if (this.tlb[p] & T_LARGE) this.tlb[p] = 0;
    }
    this.invalidateFetch();
  }

  /** Recompute masks that depend on CPL (call after every CPL change). */
  updateCplMasks(): void {
    const m = tlbMasks(this.cpl);
    this.readMask = m.read;
    this.writeMask = m.write;
    this.invalidateFetch();
  }

  setCpl(cpl: number): void {
    if (cpl !== this.cpl) {
      this.cpl = cpl;
      this.updateCplMasks();
    }
  }

  /** Translate a linear address, filling the TLB; throws #PF. user: access is checked as CPL 3. */
  translate(lin: number, isWrite: boolean, user: boolean): number {
    const page = lin >>> 12;
    let entry = this.tlb[page];
    const need = user
      ? (isWrite ? T_VALID | T_NOUSER | T_NOWRITE_USER | T_CLEAN : T_VALID | T_NOUSER)
      : (isWrite ? T_VALID | T_NOWRITE_SUP | T_CLEAN : T_VALID);
    if ((entry & need) !== T_VALID) entry = this.walk(lin, isWrite, user);
    return ((entry & ~0xfff) ^ lin) >>> 0;
  }

  private walk(lin: number, isWrite: boolean, user: boolean): number {
    let physPage: number;
    let flags = T_VALID;
    if (!(this.cr0 & CR0_PG)) {
      physPage = lin & ~0xfff;
    } else {
      const pdeAddr = (this.cr3 & ~0xfff) + ((lin >>> 22) << 2);
      const pde = this.ptRead(pdeAddr);
      if (!(pde & 1)) this.pageFault(lin, 0, isWrite, user);
      const wp = (this.cr0 & CR0_WP) !== 0;
      if ((pde & 0x80) && (this.cr4 & CR4_PSE)) {
        this.checkPagePerm(lin, pde, isWrite, user, wp);
        const want = pde | 0x20 | (isWrite ? 0x40 : 0);
        if (want !== pde) this.ptWrite(pdeAddr, want);
        physPage = (pde & 0xffc00000) | (lin & 0x3ff000);
        if (!(want & 0x40)) flags |= T_CLEAN;
        flags |= this.permFlags(pde, wp) | T_LARGE;
        if ((pde & 0x100) && (this.cr4 & CR4_PGE)) flags |= T_GLOBAL;
        this.tlbLargeRegions[lin >>> 22] = 1;
      } else {
        const pteAddr = (pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2);
        const pte = this.ptRead(pteAddr);
        if (!(pte & 1)) this.pageFault(lin, 0, isWrite, user);
        const combined = pde & pte;
        this.checkPagePerm(lin, combined, isWrite, user, wp);
        if (!(pde & 0x20)) this.ptWrite(pdeAddr, pde | 0x20);
        const want = pte | 0x20 | (isWrite ? 0x40 : 0);
        if (want !== pte) this.ptWrite(pteAddr, want);
        physPage = pte & ~0xfff;
        if (!(want & 0x40)) flags |= T_CLEAN;
        flags |= this.permFlags(combined, wp);
        if ((pte & 0x100) && (this.cr4 & CR4_PGE)) flags |= T_GLOBAL;
      }
    }
    if ((physPage >>> 0) >= this.ramSize) flags |= T_MMIO;
    else if (this.codePage[physPage >>> 12] !== 0) flags |= T_CODE;
    const page = lin >>> 12;
    if (this.tlb[page] === 0) {
      if (this.tlbFilledCount < TLB_MAX_FILLED) this.tlbFilled[this.tlbFilledCount++] = page;
      else this.tlbOverflow = true;
    }
    const entry = ((physPage ^ lin) & ~0xfff) | flags;
    this.tlb[page] = entry;
    return entry;
  }

  private permFlags(bits: number, wp: boolean): number {
    let f = 0;
    if (!(bits & 4)) f |= T_NOUSER;
    if (!(bits & 2)) {
      f |= T_NOWRITE_USER;
      if (wp) f |= T_NOWRITE_SUP;
    }
    return f;
  }

  private checkPagePerm(lin: number, bits: number, isWrite: boolean, user: boolean, wp: boolean): void {
    if (user && !(bits & 4)) this.pageFault(lin, PF_P, isWrite, user);
    if (isWrite && !(bits & 2) && (user || wp)) this.pageFault(lin, PF_P, isWrite, user);
  }

  private pageFault(lin: number, code: number, isWrite: boolean, user: boolean): never {
    this.cr2 = lin;
    throw new CpuFault(EXC_PF, code | (isWrite ? PF_W : 0) | (user ? PF_U : 0));
  }

  private ptRead(phys: number): number {
    phys >>>= 0;
    return phys + 4 <= this.ramSize ? this.mem32[phys >>> 2] : 0;
  }

  private ptWrite(phys: number, v: number): void {
    phys >>>= 0;
    if (phys + 4 > this.ramSize) return;
    if (this.codePage[phys >>> 12] !== 0) this.codeWritten(phys >>> 12, true);
    this.mem32[phys >>> 2] = v;
  }

  // ---------------------------------------------------------------- memory by linear address

  read8(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.readMask) === T_VALID) return this.mem8[(e & ~0xfff) ^ lin];
    return this.physRead(this.translate(lin, false, this.cpl === 3), 1);
  }

  read16(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.readMask) === T_VALID && (lin & 1) === 0) return this.mem16[((e & ~0xfff) ^ lin) >> 1];
    return this.readSlow(lin, 2, this.cpl === 3);
  }

  read32(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.readMask) === T_VALID && (lin & 3) === 0) return this.mem32[((e & ~0xfff) ^ lin) >> 2];
    return this.readSlow(lin, 4, this.cpl === 3);
  }

  write8(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.writeMask) === T_VALID) {
      this.mem8[(e & ~0xfff) ^ lin] = v;
      return;
    }
    this.physWrite(this.translate(lin, true, this.cpl === 3), 1, v);
  }

  write16(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.writeMask) === T_VALID && (lin & 1) === 0) {
      this.mem16[((e & ~0xfff) ^ lin) >> 1] = v;
      return;
    }
    this.writeSlow(lin, 2, v, this.cpl === 3);
  }

  write32(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.writeMask) === T_VALID && (lin & 3) === 0) {
      this.mem32[((e & ~0xfff) ^ lin) >> 2] = v;
      return;
    }
    this.writeSlow(lin, 4, v, this.cpl === 3);
  }

  /** Supervisor-mode (implicit) accesses: descriptor tables, TSS, and stack pushes during privilege changes. */
  sysRead8(lin: number): number { return this.physRead(this.translate(lin, false, false), 1); }
  sysRead16(lin: number): number { return this.readSlow(lin, 2, false); }
  sysRead32(lin: number): number { return this.readSlow(lin, 4, false); }
  sysWrite8(lin: number, v: number): void { this.physWrite(this.translate(lin, true, false), 1, v); }
  sysWrite16(lin: number, v: number): void { this.writeSlow(lin, 2, v, false); }
  sysWrite32(lin: number, v: number): void { this.writeSlow(lin, 4, v, false); }

  /** Throws the fault now if [lin, lin+len) cannot be written at the current CPL. */
  checkWrite(lin: number, len: number): void {
    const user = this.cpl === 3;
    if (len === 2 || len === 4 || len === 8) this.checkAlignment(lin, len, user);
    this.translate(lin, true, user);
    if (((lin & 0xfff) + len) > 0x1000) this.translate(nextPage(lin), true, user);
  }

  /** Throws the fault now if [lin, lin+len) cannot be read at the current CPL. */
  checkRead(lin: number, len: number): void {
    const user = this.cpl === 3;
    if (len === 2 || len === 4 || len === 8) this.checkAlignment(lin, len, user);
    this.translate(lin, false, user);
    if (((lin & 0xfff) + len) > 0x1000) this.translate(nextPage(lin), false, user);
  }

  /**
   * #AC(0): an unaligned access at CPL 3 with CR0.AM and EFLAGS.AC set. The fast
   * paths take aligned accesses only, so the check lives here. It comes before
   * the page walk, as on hardware.
   */
  private checkAlignment(lin: number, len: number, user: boolean): void {
    if (user && (lin & (len - 1)) && (this.cr0 & CR0_AM) && (this.flags & FLAG_AC)) throw new CpuFault(EXC_AC, 0);
  }

  alignmentCheckEnabled(): boolean {
    return this.cpl === 3 && (this.cr0 & CR0_AM) !== 0 && (this.flags & FLAG_AC) !== 0;
  }

  private readSlow(lin: number, len: 2 | 4, user: boolean): number {
    this.checkAlignment(lin, len, user);
    if ((lin & 0xfff) + len <= 0x1000) return this.physRead(this.translate(lin, false, user), len);
    const p0 = this.translate(lin, false, user);
    const p1 = this.translate(nextPage(lin), false, user);
    let v = 0;
    for (let i = 0; i < len; i++) {
      const p = ((lin + i) & 0xfff) >= (lin & 0xfff) ? p0 + i : p1 + ((lin + i) & 0xfff);
      v |= this.physRead(p, 1) << (8 * i);
    }
    return len === 2 ? v & 0xffff : v;
  }

  private writeSlow(lin: number, len: 2 | 4, v: number, user: boolean): void {
    this.checkAlignment(lin, len, user);
    if ((lin & 0xfff) + len <= 0x1000) {
      this.physWrite(this.translate(lin, true, user), len, v);
      return;
    }
    const p0 = this.translate(lin, true, user);
    const p1 = this.translate(nextPage(lin), true, user);
    for (let i = 0; i < len; i++) {
      const p = ((lin + i) & 0xfff) >= (lin & 0xfff) ? p0 + i : p1 + ((lin + i) & 0xfff);
      this.physWrite(p, 1, (v >> (8 * i)) & 0xff);
    }
  }

  /** Physical read (unsigned phys). RAM directly; anything else is an MMIO exit. */
  physRead(phys: number, size: 1 | 2 | 4): number {
    if (phys + size <= this.ramSize) {
      if (size === 1) return this.mem8[phys];
      if (size === 2) return this.mem8[phys] | (this.mem8[phys + 1] << 8);
      return this.mem8[phys] | (this.mem8[phys + 1] << 8) | (this.mem8[phys + 2] << 16) | (this.mem8[phys + 3] << 24);
    }
    const v = this.exitAccess({ kind: 'mmio', addr: phys, size, isWrite: false, value: 0 });
    return size === 4 ? v | 0 : v & ((1 << (size * 8)) - 1);
  }

  physWrite(phys: number, size: 1 | 2 | 4, v: number): void {
    if (phys + size <= this.ramSize) {
      if (this.codePage[phys >>> 12] !== 0) this.codeWritten(phys >>> 12, true);
      this.mem8[phys] = v;
      if (size > 1) this.mem8[phys + 1] = v >> 8;
      if (size > 2) {
        this.mem8[phys + 2] = v >> 16;
        this.mem8[phys + 3] = v >> 24;
      }
      return;
    }
    this.exitAccess({ kind: 'mmio', addr: phys, size, isWrite: true, value: size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1) });
  }

  // ---------------------------------------------------------------- I/O exits and replay

  /**
   * An access the engine cannot complete itself. The first time, the instruction
   * stops and run() returns the exit; after the handler has done it, the
   * instruction runs again from its start and this returns the recorded result.
   */
  private exitAccess(exit: VmExit & { value: number }): number {
    if (this.replayPos < this.replay.length) return this.replay[this.replayPos++];
    if (this.deliveryDepth !== 0) {
      // Event delivery cannot stop half-way for a device and be replayed: descriptor tables
      // and TSSs must be in RAM.
      const where = exit.kind === 'mmio' ? `physical address ${(exit.addr >>> 0).toString(16)}` : 'an I/O port';
      throw new MachineError(`event delivery accessed ${where}, outside RAM: the IDT, GDT, LDT and TSS must be in RAM`);
    }
    this.pendingExit = exit;
    throw EXIT_SIGNAL;
  }

  /** IN: port read with the I/O permission check (SDM Vol. 1 18.5). */
  ioRead(port: number, size: AccessSize): number {
    this.checkIoPermission(port, size);
    return this.exitAccess({ kind: 'io', port, size, isWrite: false, value: 0 }) & (size === 4 ? -1 : (1 << (size * 8)) - 1);
  }

  ioWrite(port: number, size: AccessSize, v: number): void {
    this.checkIoPermission(port, size);
    this.exitAccess({ kind: 'io', port, size, isWrite: true, value: size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1) });
  }

  /** A REP INS/OUTS iteration finished: forget its I/O so the next iteration exits afresh. */
  ioIterationDone(): void {
    this.replay.length = 0;
    this.replayPos = 0;
  }

  private checkIoPermission(port: number, size: number): void {
    if (!this.isProtectedMode() && !(this.flags & FLAG_VM)) return;
    if (!(this.flags & FLAG_VM) && this.cpl <= ((this.flags & FLAG_IOPL) >> 12)) return;
    // I/O permission bitmap in the 32-bit TSS.
    const type = this.trAccess & 0x1f;
    if (type !== SYS_TSS32_BUSY && type !== SYS_TSS32_AVAIL) throw new CpuFault(EXC_GP, 0);
    if (this.trLimit < 0x67) throw new CpuFault(EXC_GP, 0);
    const mapBase = this.sysRead16((this.trBase + 0x66) | 0);
    const byteOff = mapBase + (port >>> 3);
    if (byteOff + 1 > this.trLimit) throw new CpuFault(EXC_GP, 0);
    const bits = this.sysRead16((this.trBase + byteOff) | 0);
    const mask = ((1 << size) - 1) << (port & 7);
    if (bits & mask) throw new CpuFault(EXC_GP, 0);
  }

  // ---------------------------------------------------------------- fetch

  invalidateFetch(): void {
    this.fetchStart = 0;
    this.fetchEnd = 0;
  }

  fetch8(): number {
    const eip = this.eip;
    if (eip >= this.fetchStart && eip < this.fetchEnd) {
      this.eip = eip + 1;
      return this.mem8[eip + this.fetchDelta];
    }
    return this.fetchSlow();
  }

  private fetchSlow(): number {
    const eip = this.eip >>> 0;
    if (eip > this.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
    const phys = this.openFetchWindow();
    const v = phys < this.ramSize ? this.mem8[phys] : this.physRead(phys, 1);
    this.eip = this.csDefault32 ? (eip + 1) >>> 0 : (eip + 1) & 0xffff;
    return v;
  }

  /**
   * Translate EIP for an instruction fetch (#PF if it cannot be fetched) and, in
   * RAM, open the fetch window over the rest of its page, clipped to the CS limit.
   * Returns the physical address; an EIP beyond the CS limit opens nothing.
   */
  private openFetchWindow(): number {
    const eip = this.eip >>> 0;
    if (eip > this.segLimit[CS]) return this.ramSize;
    const lin = (this.segBase[CS] + eip) | 0;
    const phys = this.translate(lin, false, this.cpl === 3);
    if (phys < this.ramSize) {
      // The whole page from EIP's page start (or offset 0), up to the CS limit.
      const pageLeft = 0x1000 - (lin & 0xfff);
      const limitLeft = this.segLimit[CS] - eip + 1;
      const n = Math.min(pageLeft, limitLeft);
      if (this.csDefault32 || eip + n <= 0x10000) {
        this.fetchStart = Math.max(0, eip - (lin & 0xfff));
        this.fetchEnd = eip + n;
        this.fetchDelta = phys - eip;
      }
    }
    return phys;
  }

  fetch16(): number {
    const eip = this.eip;
    if (eip >= this.fetchStart && eip + 2 <= this.fetchEnd) {
      this.eip = eip + 2;
      const p = eip + this.fetchDelta;
      return this.mem8[p] | (this.mem8[p + 1] << 8);
    }
    const lo = this.fetch8();
    return lo | (this.fetch8() << 8);
  }

  fetch32(): number {
    const eip = this.eip;
    if (eip >= this.fetchStart && eip + 4 <= this.fetchEnd) {
      this.eip = eip + 4;
      const p = eip + this.fetchDelta;
      const m = this.mem8;
      return m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24);
    }
    const a = this.fetch8();
    const b = this.fetch8();
    const c = this.fetch8();
    return a | (b << 8) | (c << 16) | (this.fetch8() << 24);
  }

  /** Immediate of the operand size: 16 or 32 bits (signed int32 for 32). */
  fetchImmV(): number {
    return this.o32 ? this.fetch32() : this.fetch16();
  }

  // ---------------------------------------------------------------- ModRM

  /** Read the ModRM byte and, for memory forms, the effective address into eaOff/eaSeg. */
  decodeModrm(): void {
    const modrm = this.fetch8();
    this.modrm = modrm;
    if (modrm < 0xc0) {
      const m = this.memOperand;
      decodeMem(this, modrm, this.a32, m);
      this.eaOff = memOffset(m, this.r32, this.r16);
      this.eaSeg = this.segOverride >= 0 ? this.segOverride : m.seg;
      this.eaBaseIsEsp = m.baseIsEsp;
    }
  }



  /** ModRM.reg field. */
  get regField(): number {
    return (this.modrm >> 3) & 7;
  }

  /** Linear address of the memory operand (after decodeModrm) for an access of len bytes. */
  ea(len: number, isWrite: boolean): number {
    return this.linear(this.eaSeg, this.eaOff, len, isWrite);
  }

  readE8(): number {
    const m = this.modrm;
    if (m >= 0xc0) return this.r8[REG8_INDEX[m & 7]];
    return this.read8(this.linear(this.eaSeg, this.eaOff, 1, false));
  }
  readE16(): number {
    const m = this.modrm;
    if (m >= 0xc0) return this.r16[(m & 7) << 1];
    return this.read16(this.linear(this.eaSeg, this.eaOff, 2, false));
  }
  readE32(): number {
    const m = this.modrm;
    if (m >= 0xc0) return this.r32[m & 7];
    return this.read32(this.linear(this.eaSeg, this.eaOff, 4, false));
  }
  writeE8(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.r8[REG8_INDEX[m & 7]] = v;
    else this.write8(this.linear(this.eaSeg, this.eaOff, 1, true), v);
  }
  writeE16(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.r16[(m & 7) << 1] = v;
    else this.write16(this.linear(this.eaSeg, this.eaOff, 2, true), v);
  }
  writeE32(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.r32[m & 7] = v;
    else this.write32(this.linear(this.eaSeg, this.eaOff, 4, true), v);
  }

  /**
   * Read-modify-write operands: readRmwE* checks the operand is writable (so a
   * fault happens before anything changes) and reads it; writeRmwE* stores.
   */
  private rmwLin = 0;
  readRmwE8(): number {
    const m = this.modrm;
    if (m >= 0xc0) return this.r8[REG8_INDEX[m & 7]];
    const lin = this.linear(this.eaSeg, this.eaOff, 1, true);
    this.rmwLin = lin;
    return this.readRmw8(lin);
  }
  readRmwE16(): number {
    const m = this.modrm;
    if (m >= 0xc0) return this.r16[(m & 7) << 1];
    const lin = this.linear(this.eaSeg, this.eaOff, 2, true);
    this.rmwLin = lin;
    return this.readRmw16(lin);
  }
  readRmwE32(): number {
    const m = this.modrm;
    if (m >= 0xc0) return this.r32[m & 7];
    const lin = this.linear(this.eaSeg, this.eaOff, 4, true);
    this.rmwLin = lin;
    return this.readRmw32(lin);
  }
  /** Read the operand at linear lin after checking it can be written (the fault comes first). */
  readRmw8(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.writeMask) !== T_VALID) this.checkWrite(lin, 1);
    return this.read8(lin);
  }
  readRmw16(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.writeMask) !== T_VALID || (lin & 1) !== 0) {
      this.checkAlignment(lin, 2, this.cpl === 3);
      this.checkWrite(lin, 2);
    }
    return this.read16(lin);
  }
  readRmw32(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.writeMask) !== T_VALID || (lin & 3) !== 0) {
      this.checkAlignment(lin, 4, this.cpl === 3);
      this.checkWrite(lin, 4);
    }
    return this.read32(lin);
  }
  writeRmwE8(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.r8[REG8_INDEX[m & 7]] = v;
    else this.write8(this.rmwLin, v);
  }
  writeRmwE16(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.r16[(m & 7) << 1] = v;
    else this.write16(this.rmwLin, v);
  }
  writeRmwE32(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.r32[m & 7] = v;
    else this.write32(this.rmwLin, v);
  }

  /** Operand-size-generic accessors: 16 or 32 bits by o32 (32-bit values signed). */
  readEv(): number { return this.o32 ? this.readE32() : this.readE16(); }
  writeEv(v: number): void { if (this.o32) this.writeE32(v); else this.writeE16(v); }
  readRmwEv(): number { return this.o32 ? this.readRmwE32() : this.readRmwE16(); }
  writeRmwEv(v: number): void { if (this.o32) this.writeRmwE32(v); else this.writeRmwE16(v); }
  getRegV(n: number): number { return this.o32 ? this.r32[n] : this.r16[n << 1]; }
  setRegV(n: number, v: number): void { if (this.o32) this.r32[n] = v; else this.r16[n << 1] = v; }

  // ---------------------------------------------------------------- stack

  /** Current stack pointer (ESP or SP by SS.B). */
  getSp(): number {
    return this.ss32 ? this.r32[ESP] : this.r16[8];
  }
  setSp(v: number): void {
    if (this.ss32) this.r32[ESP] = v;
    else this.r16[8] = v;
  }
  /** Linear address of SS:(sp + delta) with the stack width's wraparound. */
  stackLin(delta: number, len: number, isWrite: boolean): number {
    const off = this.ss32 ? (this.r32[ESP] + delta) | 0 : (this.r16[8] + delta) & 0xffff;
    return this.linear(SS, off, len, isWrite);
  }

  push16(v: number): void {
    this.write16(this.stackLin(-2, 2, true), v);
    this.setSp(this.getSp() - 2);
  }
  push32(v: number): void {
    this.write32(this.stackLin(-4, 4, true), v);
    this.setSp(this.getSp() - 4);
  }
  pushV(v: number): void {
    if (this.o32) this.push32(v);
    else this.push16(v);
  }
  pop16(): number {
    const v = this.read16(this.stackLin(0, 2, false));
    this.setSp(this.getSp() + 2);
    return v;
  }
  pop32(): number {
    const v = this.read32(this.stackLin(0, 4, false));
    this.setSp(this.getSp() + 4);
    return v;
  }
  popV(): number {
    return this.o32 ? this.pop32() : this.pop16();
  }
  /** Read the stack at sp + delta without moving it. */
  peek16(delta: number): number { return this.read16(this.stackLin(delta, 2, false)); }
  peek32(delta: number): number { return this.read32(this.stackLin(delta, 4, false)); }

  // ---------------------------------------------------------------- control transfer helpers

  /** Near jump target check against the CS limit (#GP(0)), then jump. */
  jumpNear(target: number): void {
    if (!this.o32) target &= 0xffff;
    if ((target >>> 0) > this.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
    this.eip = target >>> 0;
  }

  // ---------------------------------------------------------------- descriptors

  /** Read the 8-byte descriptor for selector from the GDT or LDT; throws fault(vector, selector) if outside the table. */
  readDescriptor(selector: number, vector = EXC_GP, ext = 0): { lo: number; hi: number } {
    const index = selector & ~7;
    let base: number;
    let limit: number;
    if (selector & 4) {
      base = this.ldtBase;
      limit = this.ldtLimit;
      if ((this.ldtSel & ~3) === 0) throw new CpuFault(vector, (selector & ~3) | ext);
    } else {
      base = this.gdtBase;
      limit = this.gdtLimit;
    }
    if (index + 7 > limit) throw new CpuFault(vector, (selector & ~3) | ext);
    const lin = (base + index) | 0;
    return { lo: this.sysRead32(lin), hi: this.sysRead32((lin + 4) | 0) };
  }

  /** Set the accessed bit of a code/data descriptor in memory. */
  setDescriptorAccessed(selector: number, hi: number): void {
    if (hi & (DESC_A << 8)) return;
    const base = selector & 4 ? this.ldtBase : this.gdtBase;
    const lin = (base + (selector & ~7) + 5) | 0;
    this.sysWrite8(lin, ((hi >> 8) & 0xff) | DESC_A);
  }

  /** Load a segment cache from a raw descriptor (no checks). */
  loadSegmentFromDescriptor(seg: number, selector: number, lo: number, hi: number): void {
    this.setSegmentCache(seg, selector, descBase(lo, hi), descLimit(lo, hi), descAccess(hi));
  }

  // ---------------------------------------------------------------- interrupts and exceptions

  /**
   * Deliver interrupt `vector` (SDM Vol. 3A 6.12). eip must already be the return
   * address (the next instruction for traps and INT n, the faulting one for faults).
   * software: INT n / INT3 / INTO (checks gate DPL against CPL); ext: external
   * event (sets EXT in error codes).
   */
  interrupt(vector: number, software: boolean, errorCode: number, ext: boolean): void {
    this.eventsDelivered++;
    this.deliveryDepth++;
    try {
      this.deliver(vector, software, errorCode, ext);
    } finally {
      this.deliveryDepth--;
    }
  }

  private deliver(vector: number, software: boolean, errorCode: number, ext: boolean): void {
    if (this.isRealMode()) {
      this.interruptReal(vector);
      return;
    }
    const vm86 = (this.flags & FLAG_VM) !== 0;
    const extBit = ext ? 1 : 0;
    const idtErr = (vector << 3) | 2 | extBit;
    if ((vector << 3) + 7 > this.idtLimit) throw new CpuFault(EXC_GP, idtErr);
    const gateLin = (this.idtBase + (vector << 3)) | 0;
    const lo = this.sysRead32(gateLin);
    const hi = this.sysRead32((gateLin + 4) | 0);
    const type = (hi >> 8) & 0x1f;
    const gateDpl = (hi >> 13) & 3;
    const taskGate = type === SYS_TASK_GATE;
    if (!taskGate && type !== SYS_INT_GATE32 && type !== SYS_TRAP_GATE32 && type !== SYS_INT_GATE16 && type !== SYS_TRAP_GATE16) {
      throw new CpuFault(EXC_GP, idtErr);
    }
    if (software && gateDpl < this.cpl) throw new CpuFault(EXC_GP, idtErr);
    if (!(hi & 0x8000)) throw new CpuFault(EXC_NP, idtErr);
    if (taskGate) {
      // The handler is another task; an error code goes on its stack.
      const { pushWidth } = switchTask(this, lo >>> 16, 'interrupt', extBit);
      if (errorCode >= 0) {
        this.stackCheckWrite(pushWidth);
        if (pushWidth === 4) this.push32Sys(errorCode);
        else this.push16Sys(errorCode);
      }
      this.lzOp = LZ_NONE;
      return;
    }
    const is32 = (type & 8) !== 0;
    const selector = lo >>> 16;
    const offset = is32 ? (hi & 0xffff0000) | (lo & 0xffff) : lo & 0xffff;
    if ((selector & ~3) === 0) throw new CpuFault(EXC_GP, extBit);
    const d = this.readDescriptor(selector, EXC_GP, extBit);
    const acc = descAccess(d.hi);
    const dpl = (acc >> 5) & 3;
    if (!(acc & DESC_S) || !(acc & DESC_CODE) || dpl > this.cpl) throw new CpuFault(EXC_GP, (selector & ~3) | extBit);
    if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, (selector & ~3) | extBit);
    // From virtual-8086 mode only a ring-0 non-conforming handler is allowed (SDM Vol. 3A 20.3.1.1).
    if (vm86 && ((acc & DESC_DC) || dpl !== 0)) throw new CpuFault(EXC_GP, (selector & ~3) | extBit);
    const flagsNow = this.getFlags();
    const oldCs = this.segSel[CS];
    const oldEip = this.eip;
    const hasError = errorCode >= 0;
    const limit = descLimit(d.lo, d.hi);
    if ((offset >>> 0) > limit) throw new CpuFault(EXC_GP, extBit);

    if (!(acc & DESC_DC) && dpl < this.cpl) {
      // Inter-privilege: switch to the inner stack from the TSS.
      const { ss: newSs, esp: newEsp } = this.tssStack(dpl, extBit);
      const sd = this.readDescriptor(newSs, EXC_TS, extBit);
      const sacc = descAccess(sd.hi);
      if ((newSs & 3) !== dpl || ((sacc >> 5) & 3) !== dpl || !(sacc & DESC_S) || (sacc & DESC_CODE) || !(sacc & DESC_RW)) {
        throw new CpuFault(EXC_TS, (newSs & ~3) | extBit);
      }
      if (!(sacc & DESC_P)) throw new CpuFault(EXC_SS, (newSs & ~3) | extBit);
      const ssBase = descBase(sd.lo, sd.hi);
      const ssLimit = descLimit(sd.lo, sd.hi);
      const ss32 = (sacc & DESC_DB) !== 0;
      const oldSs = this.segSel[SS];
      const oldEsp = this.r32[ESP];
      const words = vm86 ? [this.segSel[GS], this.segSel[FS], this.segSel[DS], this.segSel[ES]] : [];
      words.push(oldSs, oldEsp, flagsNow, oldCs, oldEip);
      if (hasError) words.push(errorCode);
      const w = is32 ? 4 : 2;
      let sp = newEsp;
      const lins: number[] = [];
      for (let i = 0; i < words.length; i++) {
        sp = ss32 ? (sp - w) | 0 : (sp - w) & 0xffff;
        if (!segmentRangeOk(sacc, ssLimit, sp, w)) throw new CpuFault(EXC_SS, (newSs & ~3) | extBit);
        lins.push((ssBase + sp) | 0);
      }
      for (let i = 0; i < words.length; i++) {
        if (is32) this.sysWrite32(lins[i], words[i]);
        else this.sysWrite16(lins[i], words[i]);
      }
      this.setDescriptorAccessed(newSs, sd.hi);
      this.loadSegmentFromDescriptor(SS, newSs, sd.lo, sd.hi);
      if (ss32) this.r32[ESP] = sp;
      else this.r16[8] = sp;
      this.setCpl(dpl);
      if (vm86) for (const s of [ES, DS, FS, GS]) this.setSegmentCache(s, 0, 0, 0, 0);
    } else {
      if (!(acc & DESC_DC) && dpl !== this.cpl) throw new CpuFault(EXC_GP, (selector & ~3) | extBit);
      const w = is32 ? 4 : 2;
      const words = [flagsNow, oldCs, oldEip];
      if (hasError) words.push(errorCode);
      // Check the whole frame is writable before the first store.
      const total = w * words.length;
      this.stackCheckWrite(total);
      for (const v of words) {
        if (is32) this.push32Sys(v);
        else this.push16Sys(v);
      }
    }
    this.setDescriptorAccessed(selector, d.hi);
    this.loadSegmentFromDescriptor(CS, (selector & ~3) | this.cpl, d.lo, d.hi);
    this.eip = offset >>> 0;
    let clear = FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM;
    if ((type & 1) === 0) clear |= FLAG_IF;
    this.flags = flagsNow & ~clear;
    this.lzOp = LZ_NONE;
    this.halted = false;
  }

  private stackCheckWrite(total: number): void {
    const lin = this.stackLin(-total, total, true);
    const user = this.cpl === 3;
    this.translate(lin, true, user);
    if ((lin & 0xfff) + total > 0x1000) this.translate(nextPage(lin), true, user);
  }

  private push32Sys(v: number): void {
    this.write32(this.stackLin(-4, 4, true), v);
    this.setSp(this.getSp() - 4);
  }

  private push16Sys(v: number): void {
    this.write16(this.stackLin(-2, 2, true), v);
    this.setSp(this.getSp() - 2);
  }

  /** SS:ESP for privilege level dpl from the current TSS. */
  tssStack(dpl: number, extBit: number): { ss: number; esp: number } {
    const type = this.trAccess & 0x1f;
    if (type === SYS_TSS32_BUSY || type === SYS_TSS32_AVAIL) {
      const off = 4 + dpl * 8;
      if (off + 7 > this.trLimit) throw new CpuFault(EXC_TS, (this.trSel & ~3) | extBit);
      return { esp: this.sysRead32((this.trBase + off) | 0), ss: this.sysRead16((this.trBase + off + 4) | 0) };
    }
    if (type === SYS_TSS16_BUSY || type === SYS_TSS16_AVAIL) {
      const off = 2 + dpl * 4;
      if (off + 3 > this.trLimit) throw new CpuFault(EXC_TS, (this.trSel & ~3) | extBit);
      return { esp: this.sysRead16((this.trBase + off) | 0), ss: this.sysRead16((this.trBase + off + 2) | 0) };
    }
    throw new CpuFault(EXC_TS, (this.trSel & ~3) | extBit);
  }

  private interruptReal(vector: number): void {
    if (vector * 4 + 3 > this.idtLimit) throw new CpuFault(EXC_GP, 0);
    const flagsNow = this.getFlags();
    const base = (this.idtBase + vector * 4) | 0;
    const ip = this.sysRead16(base);
    const cs = this.sysRead16((base + 2) | 0);
    this.push16(flagsNow);
    this.push16(this.segSel[CS]);
    this.push16(this.eip);
    this.loadSegmentReal(CS, cs);
    this.eip = ip;
    this.flags = flagsNow & ~(FLAG_IF | FLAG_TF | FLAG_AC | FLAG_RF);
    this.lzOp = LZ_NONE;
    this.halted = false;
  }

  /** Exceptions that push an error code. */
  private static hasErrorCode(vector: number): boolean {
    return vector === EXC_DF || (vector >= EXC_TS && vector <= EXC_PF) || vector === 17;
  }

  private static isContributory(vector: number): boolean {
    return vector === 0 || (vector >= EXC_TS && vector <= EXC_GP);
  }

  /** Deliver a fault raised by the current instruction, escalating to #DF and triple fault (SDM Vol. 3A table 6-5). */
  private deliverFault(first: CpuFault): VmExit | null {
    let vector = first.vector;
    let code = Cpu.hasErrorCode(vector) ? first.errorCode : -1;
    if (vector === EXC_DF) code = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        // EXT: a fault while delivering an exception is caused by an event external to the program (SDM Vol. 3A 6.13).
        this.interrupt(vector, false, code, true);
        return null;
      } catch (e) {
        if (!(e instanceof CpuFault)) throw e;
        if (vector === EXC_DF || attempt >= 2) {
          return { kind: 'shutdown', reason: `triple fault (exception ${e.vector} while delivering double fault)` };
        }
        const second = e.vector;
        const firstContrib = Cpu.isContributory(vector);
        const secondContrib = Cpu.isContributory(second);
        if ((firstContrib && secondContrib) || (vector === EXC_PF && (secondContrib || second === EXC_PF))) {
          vector = EXC_DF;
          code = 0;
        } else {
          vector = second;
          code = Cpu.hasErrorCode(second) ? e.errorCode : -1;
        }
      }
    }
  }

  // ---------------------------------------------------------------- execution

  /** Raise #UD for the current instruction. */
  undefinedOpcode(): never {
    throw new CpuFault(EXC_UD, 0);
  }

  /** Start HLT: the instruction has completed; run() returns a halt exit. */
  halt(): never {
    this.halted = true;
    throw HALT_SIGNAL;
  }

  raiseUD(): never {
    return this.undefinedOpcode();
  }

  raiseGP(code: number): never {
    throw new CpuFault(EXC_GP, code);
  }

  get instrCs(): number { return this.segSel[CS]; }
  get eaSelector(): number { return this.segSel[this.eaSeg]; }
  get eaOffset(): number { return this.eaOff; }

  /** #NM check for x87 and WAIT (SDM Vol. 3A 2.5, CR0.EM/TS/MP). */
  checkFpuAvailable(isWait: boolean): void {
    if (isWait) {
      if ((this.cr0 & (CR0_TS | CR0_MP)) === (CR0_TS | CR0_MP)) throw new CpuFault(EXC_NM, 0);
    } else if (this.cr0 & (CR0_EM | CR0_TS)) {
      throw new CpuFault(EXC_NM, 0);
    }
  }

  /** Decode and execute one instruction (prefixes are handlers that re-dispatch). */
  step(): void {
    const opcode = readPrefixes(this, this.csDefault32, this, this.instrLength);
    if (opcode === TOO_LONG) throw new CpuFault(EXC_GP, 0);
    if (opcode < 0x100) this.ops1[opcode](this);
    else this.ops0f[opcode & 0xff](this);
  }

  /**
   * Run at most maxInstructions. While it runs, EIP, EFLAGS, the lazy-flag state, the
   * retired count and the flat-segment masks live in fields (the interpreter's register
   * cache); they are written to the CPU area before it returns, so the area holds the
   * whole state whenever the CPU is not running.
   */
  run(maxInstructions: number): VmExit {
    const exit = this.runLoop(maxInstructions);
    this.spill();
    return exit;
  }

  /** Write the fields the interpreter caches into the CPU area (layout.ts). */
  spill(): void {
    const s = this.s32;
    this.su32[L.OFF_EIP >> 2] = this.eip;
    s[L.OFF_FLAGS >> 2] = this.flags;
    this.spillLazyFlags();
    s[L.OFF_SEG_FAST_READ >> 2] = this.segFastRead;
    s[L.OFF_SEG_FAST_WRITE >> 2] = this.segFastWrite;
    this.sf64[L.OFF_RETIRED >> 3] = this.instructionsRetired;
  }

  /** Load the cached fields from the CPU area, after something else (generated code) changed it. */
  fill(): void {
    const s = this.s32;
    this.eip = this.su32[L.OFF_EIP >> 2];
    this.flags = s[L.OFF_FLAGS >> 2];
    this.loadLazyFlags();
    this.segFastRead = s[L.OFF_SEG_FAST_READ >> 2];
    this.segFastWrite = s[L.OFF_SEG_FAST_WRITE >> 2];
    this.instructionsRetired = this.sf64[L.OFF_RETIRED >> 3];
  }

  private runLoop(maxInstructions: number): VmExit {
    // Complete the access that made the previous run() return.
    const done = this.pendingExit;
    if (done) {
      this.pendingExit = null;
      this.replay.push(done.kind === 'io' || done.kind === 'mmio' ? done.value : 0);
      this.replayPos = 0;
    }
    this.intrPending = this.interrupts.hasInterrupt();
    const end = this.instructionsRetired + maxInstructions;
    if (this.halted) {
      if (!this.intrPending || !(this.flags & FLAG_IF)) {
        if (!(this.flags & FLAG_IF)) return { kind: 'shutdown', reason: 'HLT with interrupts disabled' };
        return { kind: 'halt' };
      }
    }
    for (;;) {
      try {
        this.loop(end);
        return { kind: 'budget' };
      } catch (e) {
        if (e === EXIT_SIGNAL) {
          this.abortInstruction();
          return this.pendingExit!;
        }
        if (e === HALT_SIGNAL) {
          this.finishInstruction();
          return { kind: 'halt' };
        }
        if (!(e instanceof CpuFault)) return this.engineError(e);
        this.abortInstruction();
        this.replay.length = 0;
        let r: VmExit | null;
        try {
          r = this.deliverFault(e);
        } catch (e2) {
          return this.engineError(e2);
        }
        if (r) return r;
        // A delivery takes time like an instruction: a handler that faults at once, again and
        // again, still uses up the budget and lets time (and the host) go on. One that follows
        // the budget's last instruction (a single-step trap whose delivery faults) is not counted.
        if (this.instructionsRetired < end) this.instructionsRetired++;
        if (this.instructionsRetired >= end) return { kind: 'budget' };
      }
    }
  }

  /** Anything but a fault thrown while running: an engine error exit with the state; never a thrown object. */
  private engineError(e: unknown): VmExit {
    this.deliveryDepth = 0;
    this.pendingExit = null;
    this.abortInstruction();
    // An unimplemented instruction or a machine the guest broke is the guest's doing; anything
    // else is a fault in the engine, and says so with where it was thrown.
    let msg: string;
    if (e instanceof UnimplementedError || e instanceof MachineError) msg = e.message;
    else if (e instanceof Error) msg = `internal error: ${e.name}: ${e.message}${e.stack ? ` (${e.stack.split('\n')[1]?.trim() ?? ''})` : ''}`;
    else msg = `internal error: ${String(e)}`;
    let state = '';
    try {
      state = this.describeState();
    } catch {
      state = '(state unreadable)';
    }
    return { kind: 'error', message: `${msg}\n${state}` };
  }

  private loop(end: number): void {
    const r32 = this.r32;
    const cache = this.blockCache;
    while (this.instructionsRetired < end) {
      if (this.needsSlowStep()) {
        this.slowStep();
        continue;
      }
      const eip = this.eip;
      if (this.decodeBlock !== null && (eip < this.fetchStart || eip >= this.fetchEnd)) {
        // Translate the fetch address now (a #PF here is the instruction's fetch fault).
        this.instrEip = eip;
        this.instrEsp = r32[ESP];
        this.openFetchWindow();
      }
      if (this.decodeBlock !== null && eip >= this.fetchStart && eip < this.fetchEnd) {
        // A decoded block: every instruction still restartable (instrEip/instrEsp), interrupts checked between blocks.
        const phys = eip + this.fetchDelta;
        const slot = Math.imul(phys, 0x9e3779b1) >>> BLOCK_CACHE_SHIFT;
        let b = cache[slot];
        if (b.phys !== phys || b.cs32 !== this.csDefault32) b = this.findBlock(phys, eip, slot);
        if (b.count !== 0 && eip + b.bytes <= this.fetchEnd && this.instructionsRetired + b.count <= end) {
          const execs = b.execs;
          const ends = b.ends;
          this.blockLimit = b.count;
          this.blockPage = phys >>> 12;
          if (this.translator !== null) {
            // At the threshold the translator gives the block native code (with the rest of its page, now or in a batch).
            if (b.native === NO_NATIVE) {
              // A stepped instruction across the page end: its bytes for the translator, once the next page is in the TLB.
              if (b.bytes === 0 && b.cross === null && b.execs[0] === stepAgain) b.cross = this.crossingBytes(eip, phys);
              if (++b.runs === this.translator.threshold) this.translator.translate(b);
            }
            const n = b.native;
            // Native code goes on across the page's blocks; the loop looks up where it stopped.
            const key = this.nativeKey();
            if ((key & n.mask) === n.key && this.runNative(b, eip, end, key) !== 0) continue;
          }
          let start = eip;
          for (let i = 0; i < this.blockLimit; i++) {
            this.instrEip = start;
            this.instrEsp = r32[ESP];
            const next = eip + ends[i];
            this.eip = next;
            execs[i](this);
            this.instructionsRetired++;
            // A jump, a REP iteration that yields, or an instruction run by step() leaves the straight line.
            if (this.eip !== next) break;
            start = next;
          }
          continue;
        }
      }
      // The ordinary way, decoding each instruction, along the straight line: the next
      // block lookup comes after a jump (blocks start at jump targets, not at every
      // instruction of code too cold to have one) or on the next page (after an
      // instruction that crosses a page end, which no block holds, the rest of a hot loop
      // has blocks).
      for (;;) {
        const start = this.eip;
        this.instrEip = start;
        this.instrEsp = r32[ESP];
        this.step();
        this.instructionsRetired++;
        const length = this.eip - start;
        if (this.decodeBlock === null || length <= 0 || length > 15 || this.instructionsRetired >= end) break;
        if (this.needsSlowStep() || ((this.eip ^ start) & ~0xfff) !== 0) break;
      }
    }
  }

  // ---------------------------------------------------------------- decoded blocks

  /**
   * The mode bits native code is specialised for: CPL, the flat and 4 GiB segment masks,
   * SS.B. Code that uses only some segments depends only on their bits (nativeKeySegment):
   * it holds a key and a mask, and runs where nativeKey() & mask equals its key.
   */
  nativeKey(): number {
    return this.cpl | (this.segFastRead << KEY_FAST_READ) | (this.segFastWrite << KEY_FAST_WRITE) | (this.ss32 ? 1 << KEY_SS32 : 0)
      | (this.segBigRead << KEY_BIG_READ) | (this.segBigWrite << KEY_BIG_WRITE) | (this.alignmentCheckEnabled() ? 1 << KEY_AC : 0);
  }

  /** Whether b is still the CPU's block for its address (not dropped or replaced). */
  blockIsLive(b: Block): boolean {
    return this.blockMap.get(b.phys) === b;
  }

  /** True when a store just went over the running block's code: native code must stop after it. */
  get blockStopped(): boolean {
    return this.blockLimit === 0;
  }

  /**
   * Run block b's native code (EIP = eip, the CPU's mode `key`) with at most end -
   * retired instructions. The lazy flags and EFLAGS go to the CPU area for it and come
   * back after; registers are in the area already. Returns the instructions it completed,
   * EIP after them; on a fault or an exit inside, the state is the interpreter's at the
   * start of the instruction that raised it, and the error goes on.
   */
  private runNative(b: Block, eip: number, end: number, key: number): number {
    const s = this.s32;
    this.spillLazyFlags();
    s[L.OFF_FLAGS >> 2] = this.flags;
    const base = this.instructionsRetired;
    this.nativeBase = base;
    this.nativeEntryKey = key;
    s[L.OFF_JIT_PAGE >> 2] = this.blockPage;
    let done: number;
    try {
      done = this.translator!.enter(b, eip, Math.min(end - base, 0x7fffffff), key);
    } catch (e) {
      s[L.OFF_JIT_PAGE >> 2] = -1;
      done = s[L.OFF_JIT_BASE >> 2] + s[L.OFF_JIT_DONE >> 2];
      this.instrEip = this.eip = this.su32[L.OFF_JIT_EIP >> 2];
      this.instructionsRetired = base + done;
      this.nativeRetired += done;
      if (this.nativeInExec) {
        // A closure run by nativeExec: its fields are the state (a REP string commits iterations before it faults).
        this.nativeInExec = false;
      } else {
        // Not from a closure (an engine error): generated code commits nothing of an instruction before it leaves.
        this.instrEsp = this.r32[ESP];
        this.loadLazyFlags();
        this.flags = s[L.OFF_FLAGS >> 2];
      }
      throw e;
    }
    s[L.OFF_JIT_PAGE >> 2] = -1;
    this.loadLazyFlags();
    this.flags = s[L.OFF_FLAGS >> 2];
    this.eip = this.su32[L.OFF_EIP >> 2];
    this.instructionsRetired = base + done;
    this.nativeRetired += done;
    return done;
  }

  /** Retired count when native code was entered, and the mode it was entered in (for nativeExec). */
  private nativeBase = 0;
  private nativeEntryKey = -1;
  /** nativeExec is running a closure. */
  private nativeInExec = false;

  /**
   * For native code: execute one decoded instruction (exec, `length` bytes at eip) the
   * interpreter's way, with `done` instructions completed in its page function (and
   * OFF_JIT_BASE before that) before it. The
   * lazy flags and EFLAGS come from the CPU area and go back to it. Returns 1 (with EIP
   * in the area) when native code must return after it: it branched or yielded, wrote
   * over the running page, or changed the mode, the interrupt shadow or TF, or set IF with
   * an interrupt pending; else 0.
   */
  nativeExec(exec: Exec, eip: number, length: number, done: number): number {
    const s = this.s32;
    this.loadNativeFlags();
    s[L.OFF_JIT_EIP >> 2] = eip;
    s[L.OFF_JIT_DONE >> 2] = done;
    this.instructionsRetired = this.nativeBase + s[L.OFF_JIT_BASE >> 2] + done;
    this.instrEip = eip;
    this.instrEsp = this.r32[ESP];
    const next = (eip + length) >>> 0;
    this.eip = next;
    this.nativeInExec = true;
    exec(this);
    this.nativeInExec = false;
    this.spillLazyFlags();
    s[L.OFF_FLAGS >> 2] = this.flags;
    if (this.needsSlowStep() || this.nativeKey() !== this.nativeEntryKey) {
      // Back to the CPU's loop, which handles these.
      s[L.OFF_JIT_LEAVE >> 2] = 1;
      this.su32[L.OFF_EIP >> 2] = this.eip;
      return 1;
    }
    if (this.eip !== next || this.blockLimit === 0) {
      // A branch, a REP string that yields, or a store over the running page: the dispatcher finds where to go on.
      this.su32[L.OFF_EIP >> 2] = this.eip;
      return 1;
    }
    return 0;
  }

  /** For native code: the lazy-flag record and EFLAGS from the CPU area into the fields (where native code keeps them). */
  loadNativeFlags(): void {
    this.loadLazyFlags();
    this.flags = this.s32[L.OFF_FLAGS >> 2];
  }

  /** The live decoded blocks of physical page `page`. */
  blocksOnPage(page: number): Block[] {
    const list = this.pageBlocks.get(page);
    return list ? list.filter((b) => this.blockMap.get(b.phys) === b) : [];
  }

  private spillLazyFlags(): void {
    const s = this.s32;
    s[L.OFF_LZ_OP >> 2] = this.lzOp;
    s[L.OFF_LZ_A >> 2] = this.lzA;
    s[L.OFF_LZ_B >> 2] = this.lzB;
    s[L.OFF_LZ_RES >> 2] = this.lzRes;
    s[L.OFF_LZ_BITS >> 2] = this.lzBits;
    s[L.OFF_LZ_CARRY >> 2] = this.lzCarry;
  }

  /** Load the lazy-flag record from the CPU area (where native code writes it). */
  loadLazyFlags(): void {
    const s = this.s32;
    this.lzOp = s[L.OFF_LZ_OP >> 2];
    this.lzA = s[L.OFF_LZ_A >> 2];
    this.lzB = s[L.OFF_LZ_B >> 2];
    this.lzRes = s[L.OFF_LZ_RES >> 2];
    this.lzBits = s[L.OFF_LZ_BITS >> 2];
    this.lzCarry = s[L.OFF_LZ_CARRY >> 2];
  }

  private findBlock(phys: number, eip: number, slot: number): Block {
    let b: Block | undefined;
    if (this.blockCache[slot] !== NO_BLOCK) {
      // Another block holds the slot: this address may have been displaced from it.
      b = this.blockMap.get(phys);
      if (b !== undefined && b.cs32 === this.csDefault32) {
        this.blockCache[slot] = b;
        return b;
      }
    }
    const page = phys >>> 12;
    // A page the CPU has just written over is left to the ordinary path for a while.
    if (this.instructionsRetired - this.codeWrittenAt[page] < this.smcCooldown) return NO_BLOCK;
    // An instruction that crosses the page gets a block of its own, which steps it (blocks.ts).
    b = this.decodeBlock!(this.mem8, phys, this.fetchEnd - eip, this.csDefault32);
    b.slot = slot;
    this.blockCache[slot] = b;
    const old = this.blockMap.get(phys);
    if (old !== undefined && old.native !== NO_NATIVE) {
      this.translator?.dropped(old);
      old.native = NO_NATIVE;
    }
    this.blockMap.set(phys, b);
    let list = this.pageBlocks.get(page);
    if (!list) {
      this.pageBlocks.set(page, (list = []));
    } else if (list.length >= 256) {
      // Blocks replaced by another decode of the same address need no invalidation.
      list = list.filter((x) => this.blockMap.get(x.phys) === x);
      this.pageBlocks.set(page, list);
    }
    list.push(b);
    if (this.codePage[page] === 0) {
      this.codePage[page] = 1;
      this.markCodePageInTlb(page);
    }
    return b;
  }

  /**
   * The 15 bytes at eip (physical address phys) when the instruction there may run over
   * the fetch window's end onto the next page and that page is in the TLB, readable at
   * the CPL and in RAM; else null. Nothing is walked, so nothing faults.
   */
  private crossingBytes(eip: number, phys: number): Uint8Array | null {
    const room = this.fetchEnd - eip;
    if (room >= 15 || ((phys + room) & 0xfff) !== 0) return null;
    const next = (this.segBase[CS] + eip + room) | 0;
    const e = this.tlb[next >>> 12];
    if ((e & tlbMasks(this.cpl).read) !== T_VALID) return null;
    const at = ((e & ~0xfff) ^ next) >>> 0;
    const bytes = new Uint8Array(15);
    bytes.set(this.mem8.subarray(phys, phys + room));
    bytes.set(this.mem8.subarray(at, at + 15 - room), room);
    return bytes;
  }

  /** Set T_CODE on the TLB entries that map physical page `page`, so writes through them take the slow path. */
  private markCodePageInTlb(page: number): void {
    if (this.tlbOverflow) {
      this.flushTlb();
      return;
    }
    for (let i = 0; i < this.tlbFilledCount; i++) {
      const lp = this.tlbFilled[i];
      const e = this.tlb[lp];
      if (e !== 0 && !(e & T_MMIO) && ((e ^ (lp << 12)) >>> 12) === page) this.tlb[lp] = e | T_CODE;
    }
  }

  /** Physical page `page` was written: drop its blocks (and stop the running block if it came from there). */
  private codeWritten(page: number, byCpu: boolean): void {
    this.codePage[page] = 0;
    const list = this.pageBlocks.get(page);
    if (list) {
      for (const b of list) {
        if (this.blockCache[b.slot] === b) this.blockCache[b.slot] = NO_BLOCK;
        if (this.blockMap.get(b.phys) === b) this.blockMap.delete(b.phys);
        if (b.native !== NO_NATIVE) {
          this.translator?.dropped(b);
          b.native = NO_NATIVE;
        }
      }
      this.pageBlocks.delete(page);
    }
    if (byCpu) this.codeWrittenAt[page] = this.instructionsRetired;
    if (page === this.blockPage || page === this.s32[L.OFF_JIT_PAGE >> 2]) this.blockLimit = 0;
  }

  /**
   * Guest RAM [phys, phys + len) changed other than through this CPU's stores (a
   * device's DMA, the host loading an image), or through a CPU fast path that
   * writes RAM directly (byCpu): decoded blocks from it are dropped.
   */
  invalidateCode(phys: number, len: number, byCpu = false): void {
    if (len <= 0) return;
    const last = Math.min(phys + len - 1, this.ramSize - 1);
    for (let p = Math.max(0, Math.floor(phys / 0x1000)); p <= last >>> 12; p++) {
      if (this.codePage[p] !== 0) this.codeWritten(p, byCpu);
    }
  }

  /** Drop every decoded block (after RAM was replaced wholesale). */
  invalidateAllCode(): void {
    if (this.translator !== null) for (const b of this.blockMap.values()) if (b.native !== NO_NATIVE) this.translator.dropped(b);
    this.blockCache.fill(NO_BLOCK);
    this.blockMap.clear();
    this.pageBlocks.clear();
    this.codePage.fill(0);
    this.blockLimit = 0;
  }

  /**
   * The next instruction needs slowStep(): an interrupt shadow, an interrupt to take
   * (pending with IF set: with IF clear it waits, and the instruction that sets IF ends
   * its block), single-step, or an instruction replayed after an exit.
   */
  private needsSlowStep(): boolean {
    return this.irqInhibit !== 0 || (this.intrPending && (this.flags & FLAG_IF) !== 0) || (this.flags & FLAG_TF) !== 0 || this.replay.length !== 0;
  }

  /** One loop iteration with the rare cases: interrupt shadow, INTR, single-step, an instruction replayed after an exit. */
  private slowStep(): void {
    if (this.irqInhibit) {
      this.irqInhibit--;
    } else if (this.intrPending && (this.flags & FLAG_IF)) {
      this.intrPending = false;
      this.instrEip = this.eip;
      this.instrEsp = this.r32[ESP];
      const vector = this.interrupts.acknowledge();
      this.interrupt(vector, false, -1, true);
      this.intrPending = this.interrupts.hasInterrupt();
      return;
    }
    this.instrEip = this.eip;
    this.instrEsp = this.r32[ESP];
    const tf = this.flags & FLAG_TF;
    const delivered = this.eventsDelivered;
    this.ssLoaded = false;
    this.step();
    this.instructionsRetired++;
    if (this.replay.length !== 0) this.ioIterationDone();
    // INT n, INT3 and INTO enter their handler with TF clear: the trap is not taken there. After
    // MOV SS or POP SS the trap comes after the next instruction (the shadow holds back #DB too).
    if (tf && this.eventsDelivered === delivered && !this.ssLoaded) {
      this.instrEip = this.eip;
      this.instrEsp = this.r32[ESP];
      this.dr[6] |= 0x4000;
      this.interrupt(EXC_DB, false, -1, true);
    }
  }

  /** MOV SS / POP SS: interrupts and the single-step trap wait one instruction. */
  ssShadow(): void {
    this.irqInhibit = 1;
    this.ssLoaded = true;
  }

  /** Undo the visible effects of a partly executed instruction: restart it. */
  private abortInstruction(): void {
    this.eip = this.instrEip;
    this.r32[ESP] = this.instrEsp;
  }

  private finishInstruction(): void {
    this.instructionsRetired++;
    this.replay.length = 0;
    this.replayPos = 0;
  }

  /** Registers, flags and segments as text, for error reports and traces. */
  describeState(): string {
    const hex = (v: number, w = 8) => (v >>> 0).toString(16).padStart(w, '0');
    const regs = REG32_NAMES.map((n, i) => `${n}=${hex(this.r32[i])}`).join(' ');
    const segs = SEG_NAMES.map((n, i) => `${n}=${hex(this.segSel[i], 4)}(base ${hex(this.segBase[i])})`).join(' ');
    let bytes = '';
    const cr2 = this.cr2;
    try {
      const lin = (this.segBase[CS] + this.instrEip) | 0;
      const phys = this.translate(lin, false, false);
      for (let i = 0; i < 8 && phys + i < this.ramSize; i++) bytes += hex(this.mem8[phys + i], 2) + ' ';
    } catch {
      bytes = '(not mapped)';
    }
    this.cr2 = cr2;
    return [
      `cs:eip=${hex(this.segSel[CS], 4)}:${hex(this.instrEip)} bytes: ${bytes.trim()}`,
      regs,
      `eflags=${hex(this.getFlags())} cpl=${this.cpl} cr0=${hex(this.cr0)} cr2=${hex(this.cr2)} cr3=${hex(this.cr3)} cr4=${hex(this.cr4)}`,
      segs,
    ].join('\n');
  }

  /** The next instruction and the registers on one line (for --trace). */
  traceLine(): string {
    const hex = (v: number, w = 8) => (v >>> 0).toString(16).padStart(w, '0');
    const cr2 = this.cr2;
    let bytes = '';
    for (let i = 0; i < 8; i++) {
      try {
        const phys = this.translate((this.segBase[CS] + this.eip + i) | 0, false, false);
        if (phys >= this.ramSize) break;
        bytes += hex(this.mem8[phys], 2);
      } catch {
        break;
      }
    }
    this.cr2 = cr2;
    const regs = REG32_NAMES.map((n, i) => `${n}=${hex(this.r32[i])}`).join(' ');
    return `${hex(this.segSel[CS], 4)}:${hex(this.eip)} ${bytes.padEnd(16)} ${regs} eflags=${hex(this.getFlags())}`;
  }

  // ---------------------------------------------------------------- state

  /** The state as plain data, read from the CPU area (layout.ts) after the cached fields are spilled. */
  saveState(): CpuState {
    this.spill();
    return {
      version: 1,
      regs: Array.from(this.r32),
      eip: this.eip,
      eflags: this.getFlags(),
      segments: [0, 1, 2, 3, 4, 5].map((s) => ({
        selector: this.segSel[s], base: this.segBase[s], limit: this.segLimit[s], access: this.segAccess[s],
      })),
      gdt: { base: this.gdtBase, limit: this.gdtLimit },
      idt: { base: this.idtBase, limit: this.idtLimit },
      ldt: { selector: this.ldtSel, base: this.ldtBase, limit: this.ldtLimit },
      tr: { selector: this.trSel, base: this.trBase, limit: this.trLimit, access: this.trAccess },
      cr0: this.cr0, cr2: this.cr2, cr3: this.cr3, cr4: this.cr4,
      dr: Array.from(this.dr),
      cpl: this.cpl,
      msr: { sysenterCs: this.msrSysenterCs, sysenterEsp: this.msrSysenterEsp, sysenterEip: this.msrSysenterEip, tscOffset: this.tscOffset },
      halted: this.halted,
      irqInhibit: this.irqInhibit,
      instructionsRetired: this.instructionsRetired,
      fpu: this.fpu.saveState(),
    };
  }

  /** `keepCode`: RAM changed only where invalidateCode() was told (a rewind), so decoded and translated code stays. */
  restoreState(s: CpuState, keepCode = false): void {
    if (s.version !== 1) throw new Error(`unsupported CPU state version ${s.version}`);
    this.r32.set(s.regs);
    this.eip = s.eip;
    this.cr0 = s.cr0; this.cr2 = s.cr2; this.cr3 = s.cr3; this.cr4 = s.cr4;
    this.flags = s.eflags;
    this.lzOp = LZ_NONE;
    s.segments.forEach((g, i) => this.setSegmentCache(i, g.selector, g.base, g.limit, g.access));
    this.gdtBase = s.gdt.base; this.gdtLimit = s.gdt.limit;
    this.idtBase = s.idt.base; this.idtLimit = s.idt.limit;
    this.ldtSel = s.ldt.selector; this.ldtBase = s.ldt.base; this.ldtLimit = s.ldt.limit;
    this.trSel = s.tr.selector; this.trBase = s.tr.base; this.trLimit = s.tr.limit; this.trAccess = s.tr.access;
    this.dr.set(s.dr);
    this.cpl = s.cpl;
    this.msrSysenterCs = s.msr.sysenterCs; this.msrSysenterEsp = s.msr.sysenterEsp; this.msrSysenterEip = s.msr.sysenterEip;
    this.tscOffset = s.msr.tscOffset;
    this.halted = s.halted;
    this.irqInhibit = s.irqInhibit;
    this.instructionsRetired = s.instructionsRetired;
    this.fpu.restoreState(s.fpu as never);
    this.flushTlb();
    if (!keepCode) this.invalidateAllCode();
    this.updateCplMasks();
    for (let i = 0; i < 6; i++) this.updateSegFast(i);
  }
}

/**
 * The first byte of the page after lin's. An access that crosses into a page that
 * faults reports that byte in CR2.
 */
function nextPage(lin: number): number {
  return ((lin | 0xfff) + 1) | 0;
}

/** Whether [off, off + len) lies inside a data segment with this access and byte limit (expand-down aware; SDM Vol. 3A 5.3). */
export function segmentRangeOk(access: number, limit: number, off: number, len: number): boolean {
  const first = off >>> 0;
  const last = first + len - 1;
  if (!(access & DESC_CODE) && (access & DESC_DC)) {
    const upper = access & DESC_DB ? 0xffffffff : 0xffff;
    return first > limit && last <= upper;
  }
  return last <= limit;
}

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

/** Limit in bytes minus one, granularity applied. */
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & (DESC_G << 8) ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

/** Access byte in bits 0..7, flags nibble in bits 12..15. */
export function descAccess(hi: number): number {
  return ((hi >> 8) & 0xff) | (((hi >> 20) & 0xf) << 12);
}

// The flag getters and the condition test, built from the one description of the flag
// rules (flag-rules.ts) that the jit's generated code also comes from.
export interface Cpu {
  /** CF (0 or 1), ZF, SF, PF, AF, OF (their EFLAGS bits) of the lazy record, or of EFLAGS without one. */
  getCF(): number;
  getZF(): number;
  getSF(): number;
  getPF(): number;
  getAF(): number;
  getOF(): number;
  /** Evaluate condition code cc (0..15, the low nibble of Jcc/SETcc/CMOVcc). */
  testCC(cc: number): boolean;
}
Cpu.prototype.getCF = flagGetter(carryRule, FLAG_CF);
Cpu.prototype.getZF = flagGetter(zeroRule, FLAG_ZF);
Cpu.prototype.getSF = flagGetter(signRule, FLAG_SF);
Cpu.prototype.getPF = flagGetter(parityRule, FLAG_PF);
Cpu.prototype.getAF = flagGetter(adjustRule, FLAG_AF);
Cpu.prototype.getOF = flagGetter(overflowRule, FLAG_OF);
Cpu.prototype.testCC = conditionTester();
