// A small machine for CPU unit tests: flat 32-bit (or 16-bit) protected mode at CPL 3
// with paging, code at CODE_BASE and data at MEM_BASE (the same layout and mappings as
// hw/probe.c, which runs the same code as a Linux process). Faults are caught by IDT
// stubs and reported with the state at the faulting instruction; the code ends with
// HLT, whose #GP at CPL 3 marks the end.
import { InterpVcpu } from '../../../src/engines/interp/interp-vcpu.ts';
import { JitVcpu } from '../../../src/engines/jit/jit-vcpu.ts';
import { GuestMemory } from '../../../src/memory/guest-memory.ts';
import { CPU_AREA_BYTES } from '../../../src/cpu/layout.ts';
import { TEST_ENGINE } from '../../cpu/run-interp.ts';
import type { Cpu } from '../../../src/cpu/cpu.ts';
import type { VmExit } from '../../../src/engines/vcpu.ts';
import {
  CR0_PE, CR0_PG, CS, DS, ES, FS, GS, SS,
  DESC_A, DESC_CODE, DESC_DB, DESC_G, DESC_P, DESC_RW, DESC_S, SYS_TSS32_BUSY,
} from '../../../src/cpu/constants.ts';

export const MEM_BASE = 0x1000;
export const MEM_SIZE = 0x20000;
export const CODE_BASE = 0x40000;
const CODE_SIZE = 0x10000;
const IDT_BASE = 0x80000;
const GDT_BASE = 0x81000;
const STUB_BASE = 0x82000;
const TSS_BASE = 0x83000;
const KSTACK_TOP = 0x85000;
const PAGE_DIR = 0x90000;
const PAGE_TABLE = 0x91000;
const RAM_BYTES = 0x100000;

const SEL_KCODE = 0x08;
const SEL_KDATA = 0x10;
const SEL_UCODE16 = 0x18 | 3;
const SEL_UDATA16 = 0x20 | 3;
const SEL_UCODE32 = 0x28 | 3;
const SEL_UDATA32 = 0x30 | 3;
const DPL3 = 3 << 5;
export const REGS = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;
export type RegName = (typeof REGS)[number];

export interface CodeRun {
  /** Machine code (bytes or hex). A HLT is appended. */
  code: Uint8Array | number[] | string;
  regs?: Partial<Record<RegName, number>>;
  eflags?: number;
  /** Bytes to place at physical addresses. */
  mem?: { addr: number; bytes: Uint8Array | number[] | string }[];
  /** 16: CS.D = 0 with CS based at CODE_BASE, data and stack segments 16-bit based at 0. */
  mode?: 16 | 32;
  /** Port reads return this (by port); port writes are recorded in `io`. */
  portIn?: (port: number, size: number) => number;
  /** MMIO reads (physical addresses beyond RAM) return this; accesses are recorded in `mmio`. */
  mmioIn?: (addr: number, size: number) => number;
  /** Called after the machine is set up and before the code runs (extra mappings, segments...). */
  setup?: (m: TestMachine) => void;
  /** Instructions per run() call. */
  slice?: number;
  maxSteps?: number;
}

export interface CodeResult {
  regs: Record<RegName, number>;
  eflags: number;
  /** Exception vector, or -1 if the code ran to its end. */
  vector: number;
  /** EIP of the faulting instruction (offset from the start of the code), or -1. */
  faultEip: number;
  errorCode: number;
  /** CR2 after a page fault. */
  cr2: number;
  io: { port: number; size: number; isWrite: boolean; value: number }[];
  mmio: { addr: number; size: number; isWrite: boolean; value: number }[];
  cpu: Cpu;
  steps: number;
}

export function hexBytes(h: string): Uint8Array {
  const s = h.replace(/\s+/g, '');
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

function toBytes(b: Uint8Array | number[] | string): Uint8Array {
  return typeof b === 'string' ? hexBytes(b) : Uint8Array.from(b);
}

/** Vectors that push an error code (SDM Vol. 3A 6.13). */
const WITH_ERROR = new Set([8, 10, 11, 12, 13, 14, 17]);

export class TestMachine {
  private readonly memory = new GuestMemory(RAM_BYTES, CPU_AREA_BYTES);
  readonly ram = this.memory.u8;
  /** The interpreter, or with LILYVM_ENGINE=jit the jit (threshold 1, no batching: blocks run as native code from their first run). */
  readonly vcpu: InterpVcpu | JitVcpu = TEST_ENGINE === 'jit'
    ? new JitVcpu({
      ram: this.ram, area: { buffer: this.memory.wasm.buffer, memory: this.memory.wasm, offset: this.memory.engineAreaOffset },
      interrupts: { hasInterrupt: () => false, acknowledge: () => 0 }, readTsc: () => 0, threshold: 1, batch: 1, compile: 'sync',
    })
    : new InterpVcpu({ ram: this.ram, interrupts: { hasInterrupt: () => false, acknowledge: () => 0 }, readTsc: () => 0 });
  readonly cpu = this.vcpu.cpu;
  private readonly dv = new DataView(this.ram.buffer);

  constructor() {
    const gdt = (sel: number, base: number, limit: number, access: number, flags: number) => {
      const at = GDT_BASE + (sel & ~7);
      const lo = (limit & 0xffff) | ((base & 0xffff) << 16);
      const hi = ((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000);
      this.dv.setUint32(at, lo >>> 0, true);
      this.dv.setUint32(at + 4, hi >>> 0, true);
    };
    gdt(SEL_KCODE, 0, 0xfffff, 0x9b, 0xc);
    gdt(SEL_KDATA, 0, 0xfffff, 0x93, 0xc);
    gdt(SEL_UCODE16, CODE_BASE, 0xffff, 0xfb, 0x0);
    gdt(SEL_UDATA16, 0, 0xffff, 0xf3, 0x0);
    gdt(SEL_UCODE32, 0, 0xfffff, 0xfb, 0xc);
    gdt(SEL_UDATA32, 0, 0xfffff, 0xf3, 0xc);
    for (let v = 0; v < 32; v++) {
      const off = STUB_BASE + v;
      this.ram[off] = 0xf4;
      this.dv.setUint32(IDT_BASE + v * 8, (off & 0xffff) | (SEL_KCODE << 16), true);
      this.dv.setUint32(IDT_BASE + v * 8 + 4, (off & 0xffff0000) | 0x8e00, true);
    }
    this.dv.setUint32(TSS_BASE + 4, KSTACK_TOP, true);
    this.dv.setUint32(TSS_BASE + 8, SEL_KDATA, true);
    this.dv.setUint16(TSS_BASE + 0x66, 0x68, true);
    this.dv.setUint32(PAGE_DIR, PAGE_TABLE | 7, true);
  }

  private mapDefaults(): void {
    this.ram.fill(0, PAGE_TABLE, PAGE_TABLE + 0x1000);
    for (let a = MEM_BASE; a < MEM_BASE + MEM_SIZE; a += 0x1000) this.mapPage(a, a, true);
    for (let a = CODE_BASE; a < CODE_BASE + CODE_SIZE; a += 0x1000) this.mapPage(a, a, true);
    for (let a = IDT_BASE; a < KSTACK_TOP; a += 0x1000) this.mapPage(a, a, false);
  }

  /** Map linear page lin (below 4 MiB) to physical page phys; phys beyond RAM is MMIO. -1 unmaps. */
  mapPage(lin: number, phys: number, user = true): void {
    this.dv.setUint32(PAGE_TABLE + (lin >>> 12) * 4, phys < 0 ? 0 : (phys | (user ? 7 : 3)) >>> 0, true);
  }

  run(t: CodeRun): CodeResult {
    const cpu = this.cpu;
    const mode = t.mode ?? 32;
    this.ram.fill(0, MEM_BASE, MEM_BASE + MEM_SIZE);
    const code = toBytes(t.code);
    this.ram.fill(0, CODE_BASE, CODE_BASE + code.length + 16);
    this.ram.set(code, CODE_BASE);
    this.ram[CODE_BASE + code.length] = 0xf4;
    for (const m of t.mem ?? []) this.ram.set(toBytes(m.bytes), m.addr);

    this.mapDefaults();
    cpu.reset();
    cpu.gdtBase = GDT_BASE;
    cpu.gdtLimit = 0x37;
    cpu.idtBase = IDT_BASE;
    cpu.idtLimit = 32 * 8 - 1;
    cpu.trSel = 0x38;
    cpu.trBase = TSS_BASE;
    cpu.trLimit = 0x67;
    cpu.trAccess = DESC_P | SYS_TSS32_BUSY;
    cpu.cr3 = PAGE_DIR;
    cpu.cr0 |= CR0_PE | CR0_PG;
    cpu.flushTlb();
    cpu.setCpl(3);
    const data = DESC_P | DESC_S | DESC_RW | DESC_A | DPL3;
    const codeAcc = DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | DPL3;
    if (mode === 32) {
      cpu.setSegmentCache(CS, SEL_UCODE32, 0, 0xffffffff, codeAcc | DESC_DB | DESC_G);
      for (const s of [DS, ES, SS, FS, GS]) cpu.setSegmentCache(s, SEL_UDATA32, 0, 0xffffffff, data | DESC_DB | DESC_G);
      cpu.eip = CODE_BASE;
    } else {
      cpu.setSegmentCache(CS, SEL_UCODE16, CODE_BASE, 0xffff, codeAcc);
      for (const s of [DS, ES, SS, FS, GS]) cpu.setSegmentCache(s, SEL_UDATA16, 0, 0xffff, data);
      cpu.eip = 0;
    }
    const codeStart = mode === 32 ? CODE_BASE : 0;
    cpu.r32.fill(0);
    cpu.r32[4] = 0x9000;
    for (const [name, v] of Object.entries(t.regs ?? {})) cpu.r32[REGS.indexOf(name as RegName)] = v as number;
    cpu.setFlags(t.eflags ?? 2, -1);
    t.setup?.(this);
    cpu.flushTlb();
    // The host wrote code and data behind the CPU's back.
    cpu.invalidateAllCode();

    const io: CodeResult['io'] = [];
    const mmio: CodeResult['mmio'] = [];
    const maxSteps = t.maxSteps ?? 1000000;
    let steps = 0;
    for (;;) {
      if (steps++ > maxSteps) throw new Error('code did not finish');
      const exit: VmExit = cpu.run(t.slice ?? 1000);
      if (exit.kind === 'budget') continue;
      if (exit.kind === 'io') {
        io.push({ port: exit.port, size: exit.size, isWrite: exit.isWrite, value: exit.value });
        if (!exit.isWrite) exit.value = t.portIn ? t.portIn(exit.port, exit.size) : 0xffffffff;
        continue;
      }
      if (exit.kind === 'mmio') {
        if (!exit.isWrite) exit.value = t.mmioIn ? t.mmioIn(exit.addr, exit.size) : 0xffffffff;
        mmio.push({ addr: exit.addr, size: exit.size, isWrite: exit.isWrite, value: exit.value });
        continue;
      }
      if (exit.kind !== 'halt') throw new Error(`unexpected exit ${JSON.stringify(exit)}`);
      const at = cpu.eip - 1;
      if (at < STUB_BASE || at >= STUB_BASE + 32) throw new Error(`halted outside the fault stubs at ${at.toString(16)}`);
      let vector = at - STUB_BASE;
      const hasErr = WITH_ERROR.has(vector);
      const sp = cpu.r32[4] >>> 0;
      const frame = sp + (hasErr ? 4 : 0);
      let errorCode = hasErr ? this.dv.getUint32(sp, true) : 0;
      let faultEip = this.dv.getUint32(frame, true) - codeStart;
      const eflags = this.dv.getUint32(frame + 8, true);
      const regs = {} as Record<RegName, number>;
      REGS.forEach((n, i) => (regs[n] = cpu.r32[i] | 0));
      regs.esp = this.dv.getInt32(frame + 12, true);
      if (vector === 13 && errorCode === 0 && faultEip === code.length) {
        vector = -1;
        faultEip = -1;
      }
      if (vector !== 14) errorCode &= 0xffff;
      return { regs, eflags, vector, faultEip, errorCode, cr2: cpu.cr2, io, mmio, cpu, steps };
    }
  }

  /** Bytes of guest physical memory. */
  bytes(addr: number, len: number): Uint8Array {
    return this.ram.slice(addr, addr + len);
  }
  read32(addr: number): number {
    return this.dv.getUint32(addr, true);
  }
}

let shared: TestMachine | undefined;
/** Run code on a shared test machine. */
export function runCode(t: CodeRun): CodeResult {
  shared ??= new TestMachine();
  return shared.run(t);
}
export function machine(): TestMachine {
  shared ??= new TestMachine();
  return shared;
}
