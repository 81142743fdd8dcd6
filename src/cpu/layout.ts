// The architectural CPU state at fixed offsets in linear memory. The interpreter reads and
// writes these bytes through typed-array views, and code that an engine generates (a
// WebAssembly module importing the same memory) addresses them with i32.load/i32.store at
// `area + offset`. Snapshots read the state through the same views.
//
// Offsets are in bytes from the start of the CPU area. Every i32 field is 4-aligned and
// every f64 field 8-aligned, so the views below can index them as word numbers.

/** General registers EAX..EDI, 8 x i32. The byte view gives AL=0, AH=1, CL=4, ... */
export const OFF_REGS = 0;
/** EIP, an unsigned offset into CS (stored as u32). */
export const OFF_EIP = 32;
/** EFLAGS; the six arithmetic bits are stale while LZ_OP is not LZ_NONE. */
export const OFF_FLAGS = 36;
/** Lazy arithmetic flags: the last flag-setting operation (cpu.ts LZ_*), its operands, result and width. */
export const OFF_LZ_OP = 40;
export const OFF_LZ_A = 44;
export const OFF_LZ_B = 48;
export const OFF_LZ_RES = 52;
export const OFF_LZ_BITS = 56;
export const OFF_LZ_CARRY = 60;
/** Segment registers ES, CS, SS, DS, FS, GS: selectors, bases, access (DESC_* bits) and byte limits (u32), 6 x i32 each. */
export const OFF_SEG_SEL = 64;
export const OFF_SEG_BASE = 88;
export const OFF_SEG_ACCESS = 112;
export const OFF_SEG_LIMIT = 136;
/** CR0, CR2, CR3, CR4. */
export const OFF_CR0 = 160;
export const OFF_CR2 = 164;
export const OFF_CR3 = 168;
export const OFF_CR4 = 172;
/** DR0..DR7, 8 x i32. */
export const OFF_DR = 176;
export const OFF_CPL = 208;
/** Bit s set: segment s is flat for reads / writes (base 0, limit 4 GiB, usable): no checks needed. */
export const OFF_SEG_FAST_READ = 212;
export const OFF_SEG_FAST_WRITE = 216;
export const OFF_GDT_BASE = 220;
export const OFF_GDT_LIMIT = 224;
export const OFF_IDT_BASE = 228;
export const OFF_IDT_LIMIT = 232;
export const OFF_LDT_SEL = 236;
export const OFF_LDT_BASE = 240;
export const OFF_LDT_LIMIT = 244;
export const OFF_TR_SEL = 248;
export const OFF_TR_BASE = 252;
export const OFF_TR_LIMIT = 256;
export const OFF_TR_ACCESS = 260;
export const OFF_SYSENTER_CS = 264;
export const OFF_SYSENTER_ESP = 268;
export const OFF_SYSENTER_EIP = 272;
/** Instructions left in the interrupt shadow (after STI, MOV SS, POP SS). */
export const OFF_IRQ_INHIBIT = 276;
/** 1 while the CPU is halted (HLT). */
export const OFF_HALTED = 280;
/** 1 when CS.D is set (32-bit default operand and address size). */
export const OFF_CS32 = 284;
/** 1 when SS.B is set (the stack pointer is ESP). */
export const OFF_SS32 = 288;
/** TSC offset (WRMSR 0x10), f64. */
export const OFF_TSC_OFFSET = 296;
/** Instructions retired since reset, f64. */
export const OFF_RETIRED = 304;
/**
 * Native code (src/engines/jit) stores here, before each call that can fault or exit, the
 * EIP of the instruction it is in and the instructions it has completed before it.
 */
export const OFF_JIT_EIP = 312;
export const OFF_JIT_DONE = 316;
/** Native code: instructions completed by earlier page functions of the same native run (OFF_JIT_DONE counts from there). */
export const OFF_JIT_BASE = 320;
/** Native code: set when a native run must return to the CPU's loop (the mode, TF or the interrupt shadow changed). */
export const OFF_JIT_LEAVE = 324;
/** Native code: the physical page of the code running (-1 outside native code): a store over it stops that code. */
export const OFF_JIT_PAGE = 328;
/**
 * 1 when the interrupt controller had an interrupt for the CPU when it last looked (as a
 * run starts and after taking one); native code's STI reads it.
 */
export const OFF_INTR_PENDING = 332;
/** Bytes of the register block; the TLB follows at OFF_TLB. */
export const CPU_REGS_BYTES = 336;

/**
 * The software TLB: one i32 per linear page (1 << 20 entries, 4 MiB), indexed by
 * lin >>> 12. An entry is (physPage ^ linPage) << 12 | flags (cpu.ts T_*), 0 when empty;
 * generated code checks it inline and calls out on a miss, an MMIO page or a fault.
 */
export const OFF_TLB = 4096;
export const TLB_ENTRIES = 1 << 20;
/**
 * The jit's map from physical address to native code (src/engines/jit/dispatch.ts):
 * direct-mapped by a hash of the address, 32 bytes an entry: physical address (-1: none),
 * mode key, mode mask (the code runs where Cpu.nativeKey() & mask equals key), function
 * table index, entry | instruction count << 16, three words unused.
 */
export const OFF_JIT_MAP = OFF_TLB + TLB_ENTRIES * 4;
export const JIT_MAP_BITS = 16;
/** An entry is 1 << JIT_MAP_ENTRY_SHIFT bytes. */
export const JIT_MAP_ENTRY_SHIFT = 5;
/** Bytes of the whole CPU area: registers, the TLB, the jit's map. */
export const CPU_AREA_BYTES = OFF_JIT_MAP + (1 << (JIT_MAP_BITS + JIT_MAP_ENTRY_SHIFT));

/** Where a CPU's state lives: a buffer (a WebAssembly.Memory's, for a machine) and the area's byte offset in it. */
export interface CpuArea {
  buffer: ArrayBuffer;
  /** The WebAssembly.Memory that owns buffer, when it is one (generated code imports it). */
  memory?: unknown;
  /** Byte offset of the area; a multiple of 4096. */
  offset: number;
}

/** A fresh area of its own, for a CPU built outside a machine (unit tests, tools). */
export function privateCpuArea(): CpuArea {
  return { buffer: new ArrayBuffer(CPU_AREA_BYTES), offset: 0 };
}

/** Views of a CPU area's register block: i32 words, u32 words and f64 words, indexed by OFF_* / 4 (or / 8). */
export function cpuViews(area: CpuArea): { i32: Int32Array; u32: Uint32Array; f64: Float64Array } {
  if (area.offset % 4096 !== 0 || area.offset + CPU_AREA_BYTES > area.buffer.byteLength) {
    throw new RangeError(`a CPU area needs ${CPU_AREA_BYTES} bytes at a 4 KiB-aligned offset`);
  }
  return {
    i32: new Int32Array(area.buffer, area.offset, CPU_REGS_BYTES / 4),
    u32: new Uint32Array(area.buffer, area.offset, CPU_REGS_BYTES / 4),
    f64: new Float64Array(area.buffer, area.offset, CPU_REGS_BYTES / 8),
  };
}
