import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { CPU_AREA_BYTES } from '../../src/cpu/layout.ts';
import { JitVcpu } from '../../src/engines/jit/jit-vcpu.ts';
import { Cpu } from '../../src/cpu/cpu.ts';
import {
  CR0_AM, CR0_ET, CR4_OSFXSR, CR0_MP, CR0_NE, CR0_PE, CR0_PG, CR0_WP, CS, DS, ES, ESP, FLAG_FIXED, FLAG_IF, FS, GS, SS,
  DESC_A, DESC_CODE, DESC_DB, DESC_G, DESC_P, DESC_RW, DESC_S, SYS_TSS32_BUSY,
} from '../../src/cpu/constants.ts';
import { buildDispatch } from '../../src/cpu/table/index.ts';
import type { OpcodeEntry } from '../../src/cpu/table/types.ts';
import { CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, LOW_BASE, LOW_SIZE, USER_CS, USER_DS, fillWindows } from './layout.ts';
import type { CaseInput, FpuSnapshot, MemDiff } from './native.ts';

/**
 * The interpreter side of a differential case: a small protected-mode machine with
 * paging in which only the code and data windows are user pages (everything else
 * a ring-3 access touches is not present, as in the host process). The IDT sends
 * every vector to its own ring-0 HLT, so the run stops at the first exception or
 * at the INT3 that ends the case; the ring-0 stack then holds the ring-3 state.
 */

const KERNEL_CS = 0x08;
const KERNEL_DS = 0x10;
const TSS_SEL = 0x30;

/** Physical layout of the test machine. */
const PD_PHYS = 0x1000;
const PT_CODE_PHYS = 0x2000;
const PT_LOW_PHYS = 0x3000;
const PT_SYS_PHYS = 0x4000;
/** Data page tables start here, one per 4 MiB of data window. */
const PT_DATA_PHYS = 0x5000;
const SYS_PHYS = 0x10000;
const SYS_SIZE = 0x8000;
/** Supervisor-only linear window for the GDT, IDT, TSS, stubs and the ring-0 stack. */
export const SYS_LIN = 0xe0000000 | 0;
const GDT_OFF = 0x0;
const IDT_OFF = 0x800;
const TSS_OFF = 0x1000;
const STUB_OFF = 0x2000;
const ENTRY_OFF = 0x2400;
const STACK_TOP_OFF = 0x8000;
const CODE_PHYS = 0x20000;

/** Vectors that push an error code. */
const HAS_ERROR = new Set([8, 10, 11, 12, 13, 14, 17]);

export interface InterpResult {
  /** halt: stopped in a vector stub; budget: ran out of instructions; shutdown/error: as the VmExit says. */
  exit: 'halt' | 'budget' | 'shutdown' | 'error' | 'harness';
  message?: string;
  vector: number;
  err: number;
  cr2: number;
  eip: number;
  eflags: number;
  regs: number[];
  fpu: FpuSnapshot;
  /** The data windows after the run, with the same layout as the initial image. */
  data: Uint8Array;
  low: Uint8Array;
  instructions: number;
}

export interface InterpMachineOptions {
  codeSize?: number;
  dataSize?: number;
  /** 3 (default): the case runs in ring 3 like a user process; 0: ring 0, flat, for benchmarks. */
  ring?: 0 | 3;
  /** Map the low window (only when the host process could map it too). */
  lowWindow?: boolean;
  /** Dispatch from a custom table (defaults to OPCODE_TABLE). */
  table?: readonly OpcodeEntry[];
  /** Execute through decoded blocks (default true); false decodes every instruction every time. */
  blocks?: boolean;
  /** See CpuOptions.smcCooldown. */
  smcCooldown?: number;
  /** The engine: interp (default), or jit (the same CPU with the translator attached); LILYVM_ENGINE sets the default. */
  engine?: 'interp' | 'jit';
}

/** The engine the CPU tests run on: LILYVM_ENGINE=jit runs them under the translator. */
export const TEST_ENGINE: 'interp' | 'jit' = process.env.LILYVM_ENGINE === 'jit' ? 'jit' : 'interp';

const noInterrupts = { hasInterrupt: () => false, acknowledge: () => 0 };

function desc(base: number, limit: number, access: number): [number, number] {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = (base & 0xff000000) | ((access >> 12) << 20) | (limit & 0xf0000) | ((access & 0xff) << 8) | ((base >>> 16) & 0xff);
  return [lo | 0, hi | 0];
}

export class InterpMachine {
  readonly cpu: Cpu;
  readonly ram: Uint8Array;
  readonly codeSize: number;
  readonly dataSize: number;
  readonly ring: 0 | 3;
  readonly lowWindow: boolean;
  private readonly dataPhys: number;
  private readonly lowPhys: number;
  private readonly view: DataView;
  private readonly initCache = new Map<number, { data: Uint8Array; low: Uint8Array }>();

  constructor(opts: InterpMachineOptions = {}) {
    this.codeSize = opts.codeSize ?? CODE_SIZE;
    this.dataSize = opts.dataSize ?? DATA_SIZE;
    this.ring = opts.ring ?? 3;
    this.lowWindow = opts.lowWindow ?? true;
    if (this.dataSize > 64 << 20) throw new Error('data window larger than 64 MiB');
    this.dataPhys = CODE_PHYS + this.codeSize;
    this.lowPhys = this.dataPhys + this.dataSize;
    const ramSize = (this.lowPhys + LOW_SIZE + 0x1000 + 0xfff) & ~0xfff;
    const ops = buildDispatch(opts.table);
    if ((opts.engine ?? TEST_ENGINE) === 'jit') {
      const memory = new GuestMemory(ramSize, CPU_AREA_BYTES);
      this.ram = memory.u8;
      const area = { buffer: memory.wasm.buffer, memory: memory.wasm, offset: memory.engineAreaOffset };
      // Threshold 1 and no batching: a block runs as native code from its first run, so that test programs do.
      this.cpu = new JitVcpu({ ram: this.ram, area, interrupts: noInterrupts, readTsc: () => 0, ops, smcCooldown: opts.smcCooldown, threshold: 1, batch: 1, compile: 'sync' }).cpu;
    } else {
      this.ram = new Uint8Array(ramSize);
      this.cpu = new Cpu({ ram: this.ram, interrupts: noInterrupts, readTsc: () => 0, ops, blocks: opts.blocks, smcCooldown: opts.smcCooldown });
    }
    this.view = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.length);
    this.buildTables();
  }

  private w32(phys: number, v: number): void {
    this.view.setUint32(phys, v >>> 0, true);
  }

  private mapRange(lin: number, phys: number, size: number, pteFlags: number, ptPhys: (pdIndex: number) => number): void {
    for (let off = 0; off < size; off += 0x1000) {
      const l = (lin + off) >>> 0;
      const pdi = l >>> 22;
      const pt = ptPhys(pdi);
      this.w32(PD_PHYS + pdi * 4, pt | 0x7);
      this.w32(pt + ((l >>> 12) & 0x3ff) * 4, (phys + off) | pteFlags);
    }
  }

  private buildTables(): void {
    this.ram.fill(0, 0, CODE_PHYS);
    const user = this.ring === 3 ? 0x4 : 0;
    this.mapRange(CODE_BASE, CODE_PHYS, this.codeSize, 0x3 | user, () => PT_CODE_PHYS);
    const dataPdBase = DATA_BASE >>> 22;
    this.mapRange(DATA_BASE, this.dataPhys, this.dataSize, 0x3 | user, (pdi) => PT_DATA_PHYS + (pdi - dataPdBase) * 0x1000);
    if (this.lowWindow) this.mapRange(LOW_BASE, this.lowPhys, LOW_SIZE, 0x3 | user, () => PT_LOW_PHYS);
    this.mapRange(SYS_LIN, SYS_PHYS, SYS_SIZE, 0x3, () => PT_SYS_PHYS);
    const flat = (dpl: number, code: boolean) =>
      DESC_P | DESC_S | DESC_RW | DESC_A | DESC_DB | DESC_G | (dpl << 5) | (code ? DESC_CODE : 0);
    const gdt: [number, number][] = [
      [0, 0],
      desc(0, 0xfffff, flat(0, true)),
      desc(0, 0xfffff, flat(0, false)),
      [0, 0],
      desc(0, 0xfffff, flat(3, true)),
      desc(0, 0xfffff, flat(3, false)),
      desc(SYS_LIN + TSS_OFF, 0x67, DESC_P | SYS_TSS32_BUSY),
    ];
    gdt.forEach(([lo, hi], i) => {
      this.w32(SYS_PHYS + GDT_OFF + i * 8, lo);
      this.w32(SYS_PHYS + GDT_OFF + i * 8 + 4, hi);
    });
    for (let v = 0; v < 256; v++) {
      const handler = SYS_LIN + STUB_OFF + v;
      // Like Linux: INT3, INTO and INT 0x80 may be raised from ring 3; every other INT n is #GP.
      const dpl = v === 3 || v === 4 || v === 0x80 ? 3 : 0;
      const lo = (KERNEL_CS << 16) | (handler & 0xffff);
      const hi = (handler & 0xffff0000) | 0x8000 | (dpl << 13) | (0xe << 8);
      this.w32(SYS_PHYS + IDT_OFF + v * 8, lo);
      this.w32(SYS_PHYS + IDT_OFF + v * 8 + 4, hi);
      this.ram[SYS_PHYS + STUB_OFF + v] = 0xf4;
    }
    this.w32(SYS_PHYS + TSS_OFF + 4, SYS_LIN + STACK_TOP_OFF);
    this.w32(SYS_PHYS + TSS_OFF + 8, KERNEL_DS);
    this.view.setUint16(SYS_PHYS + TSS_OFF + 0x66, 0x68, true);
    this.ram[SYS_PHYS + ENTRY_OFF] = 0xcf;
  }

  private initial(seed: number): { data: Uint8Array; low: Uint8Array } {
    let e = this.initCache.get(seed);
    if (!e) {
      e = { data: new Uint8Array(this.dataSize), low: new Uint8Array(LOW_SIZE) };
      fillWindows(e.data, e.low, seed);
      if (this.initCache.size > 64) this.initCache.clear();
      this.initCache.set(seed, e);
    }
    return e;
  }

  /** The data and low windows as the case starts (fill pattern plus patches). */
  initialImage(c: CaseInput): { data: Uint8Array; low: Uint8Array; code: Uint8Array } {
    const init = this.initial(c.memSeed);
    const data = Uint8Array.from(init.data);
    const low = Uint8Array.from(init.low);
    const code = new Uint8Array(this.codeSize).fill(0xcc);
    code.set(c.code, c.codeOffset);
    for (const p of c.patches) applyPatch(p.addr, p.bytes, data, low, code, this.dataSize, this.codeSize);
    return { data, low, code };
  }

  /** Load the case into memory and the CPU, ready to run at the ring-0 entry. */
  load(c: CaseInput): void {
    const cpu = this.cpu;
    const ram = this.ram;
    const init = this.initial(c.memSeed);
    ram.fill(0xcc, CODE_PHYS, CODE_PHYS + this.codeSize);
    ram.set(c.code, CODE_PHYS + c.codeOffset);
    ram.set(init.data, this.dataPhys);
    ram.set(init.low, this.lowPhys);
    for (const p of c.patches) {
      const code = ram.subarray(CODE_PHYS, CODE_PHYS + this.codeSize);
      const data = ram.subarray(this.dataPhys, this.dataPhys + this.dataSize);
      const low = ram.subarray(this.lowPhys, this.lowPhys + LOW_SIZE);
      applyPatch(p.addr, p.bytes, data, low, code, this.dataSize, this.codeSize);
    }
    // The host wrote new code behind the CPU's back.
    cpu.invalidateAllCode();

    cpu.reset();
    cpu.cr0 = CR0_PE | CR0_PG | CR0_NE | CR0_ET | CR0_WP | CR0_AM | CR0_MP;
    cpu.cr3 = PD_PHYS;
    cpu.cr4 = CR4_OSFXSR;
    cpu.gdtBase = SYS_LIN + GDT_OFF;
    cpu.gdtLimit = 7 * 8 - 1;
    cpu.idtBase = SYS_LIN + IDT_OFF;
    cpu.idtLimit = 256 * 8 - 1;
    cpu.trSel = TSS_SEL;
    cpu.trBase = SYS_LIN + TSS_OFF;
    cpu.trLimit = 0x67;
    cpu.trAccess = DESC_P | SYS_TSS32_BUSY;
    const flat = DESC_P | DESC_S | DESC_RW | DESC_A | DESC_DB | DESC_G;
    const user = this.ring === 3;
    const dpl = user ? 3 << 5 : 0;
    const dataSel = user ? USER_DS : KERNEL_DS;
    cpu.setCpl(0);
    cpu.setSegmentCache(CS, KERNEL_CS, 0, 0xffffffff, flat | DESC_CODE);
    cpu.setSegmentCache(SS, KERNEL_DS, 0, 0xffffffff, flat);
    cpu.setSegmentCache(DS, dataSel, 0, 0xffffffff, flat | dpl);
    cpu.setSegmentCache(ES, dataSel, 0, 0xffffffff, flat | dpl);
    cpu.setSegmentCache(FS, 0, 0, 0, 0);
    cpu.setSegmentCache(GS, 0, 0, 0, 0);
    cpu.flushTlb();
    cpu.updateCplMasks();
    for (let i = 0; i < 8; i++) cpu.r32[i] = c.regs[i];
    cpu.flags = FLAG_FIXED;
    cpu.lzOp = 0;
    const eflags = (c.eflags | FLAG_FIXED | (user ? FLAG_IF : 0)) >>> 0;
    cpu.fpu.reset();
    if (user) {
      // IRET to ring 3 with the frame EIP, CS, EFLAGS, ESP, SS.
      const frame = [CODE_BASE + c.codeOffset, USER_CS, eflags, c.regs[ESP], USER_DS];
      const sp = STACK_TOP_OFF - frame.length * 4;
      frame.forEach((v, i) => this.w32(SYS_PHYS + sp + i * 4, v));
      cpu.r32[ESP] = SYS_LIN + sp;
      cpu.eip = (SYS_LIN + ENTRY_OFF) >>> 0;
    } else {
      cpu.setFlags(eflags, -1);
      cpu.eip = (CODE_BASE + c.codeOffset) >>> 0;
    }
    cpu.halted = false;
  }

  /** Run a loaded case for at most budget instructions and read back the ring-3 state. */
  runLoaded(budget: number): InterpResult {
    const cpu = this.cpu;
    const start = cpu.instructionsRetired;
    const exit = cpu.run(budget);
    const instructions = cpu.instructionsRetired - start;
    const base: InterpResult = {
      exit: 'harness', vector: -1, err: 0, cr2: cpu.cr2 >>> 0, eip: cpu.eip >>> 0, eflags: cpu.getFlags() >>> 0,
      regs: Array.from(cpu.r32, (v) => v >>> 0), fpu: this.fpuSnapshot(),
      data: this.ram.slice(this.dataPhys, this.dataPhys + this.dataSize),
      low: this.ram.slice(this.lowPhys, this.lowPhys + LOW_SIZE), instructions,
    };
    if (exit.kind === 'budget') return { ...base, exit: 'budget' };
    if (exit.kind === 'shutdown') return { ...base, exit: 'shutdown', message: exit.reason };
    if (exit.kind === 'error') return { ...base, exit: 'error', message: exit.message };
    if (exit.kind !== 'halt') return { ...base, message: `unexpected exit ${exit.kind}` };
    const stubLin = (SYS_LIN + STUB_OFF) >>> 0;
    const vector = cpu.eip - 1 - stubLin;
    if (vector < 0 || vector > 255 || cpu.segSel[CS] !== KERNEL_CS) {
      return { ...base, message: `halted outside the vector stubs at ${cpu.eip.toString(16)}` };
    }
    let sp = cpu.r32[ESP];
    const rd = () => {
      const v = cpu.sysRead32(sp) >>> 0;
      sp = (sp + 4) | 0;
      return v;
    };
    const err = HAS_ERROR.has(vector) ? rd() : 0;
    const eip = rd();
    const cs = rd();
    const eflags = rd();
    const regs = base.regs.slice();
    if ((cs & 3) === 3) {
      regs[ESP] = rd();
    } else if (this.ring === 3) {
      return { ...base, vector, err, message: `exception ${vector} in ring 0 at ${eip.toString(16)} (the harness entry failed)` };
    } else {
      regs[ESP] = (cpu.r32[ESP] + (HAS_ERROR.has(vector) ? 16 : 12)) >>> 0;
    }
    return { ...base, exit: 'halt', vector, err, eip, eflags, regs };
  }

  run(c: CaseInput, budget: number): InterpResult {
    this.load(c);
    return this.runLoaded(budget);
  }

  private fpuSnapshot(): FpuSnapshot {
    const f = this.cpu.fpu;
    const st: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) {
      const v = f.st(i);
      const b = new Uint8Array(10);
      let sig = v.sig;
      for (let k = 0; k < 8; k++) {
        b[k] = Number(sig & 0xffn);
        sig >>= 8n;
      }
      b[8] = v.se & 0xff;
      b[9] = (v.se >> 8) & 0xff;
      st.push(b);
    }
    return { cw: f.controlWord(), sw: f.statusWord(), tw: f.tagWord(), st };
  }
}

export function applyPatch(
  addr: number, bytes: Uint8Array, data: Uint8Array, low: Uint8Array, code: Uint8Array, dataSize: number, codeSize: number,
): void {
  const a = addr >>> 0;
  if (a >= DATA_BASE && a + bytes.length <= DATA_BASE + dataSize) data.set(bytes, a - DATA_BASE);
  else if (a >= LOW_BASE && a + bytes.length <= LOW_BASE + LOW_SIZE) low.set(bytes, a - LOW_BASE);
  else if (a >= CODE_BASE && a + bytes.length <= CODE_BASE + codeSize) code.set(bytes, a - CODE_BASE);
  else throw new Error(`patch at ${a.toString(16)} is outside the windows`);
}

/** Memory differences as the native runner reports them (ranges of changed bytes). */
export function memDiffs(now: Uint8Array, init: Uint8Array, base: number): MemDiff[] {
  const out: MemDiff[] = [];
  let i = 0;
  const n = now.length;
  while (i < n) {
    if (now[i] === init[i]) {
      i++;
      continue;
    }
    const start = i;
    let end = i + 1;
    for (let j = i + 1; j < n && j < end + 8; j++) if (now[j] !== init[j]) end = j + 1;
    out.push({ addr: base + start, bytes: now.slice(start, end) });
    i = end;
  }
  return out;
}
