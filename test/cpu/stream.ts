// Random instruction streams from random machine states: the interpreter must come
// back from run() within its budget, let no JavaScript exception out, and reach
// nothing outside guest RAM except through an MMIO exit, whatever the guest does.
//
// Each case builds a reachable CPU state in one of the modes below: a GDT with flat,
// odd and broken descriptors, gates and TSSes, an LDT, an IDT whose gates point into
// random code, a TSS with random stacks and I/O map, and for the paged modes page
// tables with 4 KiB and 4 MiB (PSE) pages, some mapping outside RAM. RAM is random
// bytes, with streams of instruction fragments (system instructions, segment loads,
// far transfers, I/O, string and x87 instructions) at EIP and at the first handlers.
// Guest RAM is a view into a larger buffer whose guard zones must stay untouched.
import { InterpVcpu } from '../../src/engines/interp/interp-vcpu.ts';
import type { CpuState } from '../../src/cpu/state.ts';
import { descAccess, descBase, descLimit } from '../../src/cpu/cpu.ts';
import {
  CR0_AM, CR0_CD, CR0_EM, CR0_ET, CR0_MP, CR0_NE, CR0_NW, CR0_PE, CR0_PG, CR0_TS, CR0_WP,
  CR4_DE, CR4_OSFXSR, CR4_PCE, CR4_PGE, CR4_PSE, CR4_TSD,
  FLAG_AC, FLAG_DF, FLAG_FIXED, FLAG_ID, FLAG_IF, FLAG_NT, FLAG_RF, FLAG_TF, FLAG_VM, FLAGS_ARITH,
  SYS_CALL_GATE16, SYS_CALL_GATE32, SYS_INT_GATE16, SYS_INT_GATE32, SYS_LDT, SYS_TASK_GATE,
  SYS_TRAP_GATE16, SYS_TRAP_GATE32, SYS_TSS16_AVAIL, SYS_TSS32_AVAIL, SYS_TSS32_BUSY,
} from '../../src/cpu/constants.ts';
import type { VmExit } from '../../src/engines/vcpu.ts';
import { Rng } from './rng.ts';

export const STREAM_MODES = ['real', 'protected16', 'ring0', 'ring3', 'paged0', 'paged3', 'vm86'] as const;
export type StreamMode = (typeof STREAM_MODES)[number];

const RAM_SIZES = [1 << 20, (2 << 20) + 0x3000, 4 << 20];
const GUARD = 64 << 10;
const PAGE = 0x1000;

/** Guest RAM between two guard zones of one buffer, and the random contents each case starts from. */
export class GuardedRam {
  readonly ram: Uint8Array;
  private readonly all: Uint8Array;
  private readonly template: Uint8Array;
  private readonly guardPattern: Uint8Array;

  constructor(readonly size: number, seed: number) {
    this.all = new Uint8Array(GUARD + size + GUARD);
    this.ram = this.all.subarray(GUARD, GUARD + size);
    const rng = new Rng(seed ^ size);
    this.template = new Uint8Array(size);
    const t32 = new Int32Array(this.template.buffer);
    for (let i = 0; i < t32.length; i++) t32[i] = rng.u32() | 0;
    this.guardPattern = new Uint8Array(GUARD);
    for (let i = 0; i < GUARD; i++) this.guardPattern[i] = (i * 0x9d + 0x5a) & 0xff;
  }

  reset(): void {
    this.all.set(this.guardPattern, 0);
    this.all.set(this.guardPattern, GUARD + this.size);
    this.ram.set(this.template);
  }

  /** The first guard byte that changed, as an offset from the start of RAM (negative: below it), or null. */
  damagedGuard(): number | null {
    for (let i = 0; i < GUARD; i++) {
      if (this.all[i] !== this.guardPattern[i]) return i - GUARD;
      if (this.all[GUARD + this.size + i] !== this.guardPattern[i]) return this.size + i;
    }
    return null;
  }
}

type Desc = [lo: number, hi: number];

function segDesc(base: number, limitRaw: number, access: number, flags: number): Desc {
  const lo = (limitRaw & 0xffff) | ((base & 0xffff) << 16);
  const hi = ((base >>> 16) & 0xff) | ((access & 0xff) << 8) | (limitRaw & 0xf0000) | ((flags & 0xf) << 20) | (base & 0xff000000);
  return [lo | 0, hi | 0];
}

function gateDesc(selector: number, offset: number, type: number, dpl: number, present: boolean, params = 0): Desc {
  const lo = (offset & 0xffff) | ((selector & 0xffff) << 16);
  const hi = (offset & 0xffff0000) | (present ? 0x8000 : 0) | (dpl << 13) | (type << 8) | (params & 0x1f);
  return [lo | 0, hi | 0];
}

interface Cache { selector: number; base: number; limit: number; access: number }

function cacheOf(selector: number, d: Desc): Cache {
  return { selector, base: descBase(d[0], d[1]), limit: descLimit(d[0], d[1]), access: descAccess(d[1]) };
}

function realCache(selector: number, code: boolean, dpl: number, limit = 0xffff): Cache {
  return { selector, base: selector << 4, limit, access: 0x80 | 0x10 | 0x02 | 0x01 | (code ? 0x08 : 0) | (dpl << 5) };
}

/** One random machine: RAM contents written, and the CPU state to start from. */
export interface StreamCase {
  mode: StreamMode;
  state: CpuState;
  /** Chance that INTR is raised before each run() call. */
  irqRate: number;
}

class Builder {
  private readonly dv: DataView;
  private readonly usedPages = new Set<number>();
  /** Selectors by kind, for descriptors, gates and instruction operands. */
  readonly code0: number[] = [];
  readonly code3: number[] = [];
  readonly data0: number[] = [];
  readonly data3: number[] = [];
  readonly tss: number[] = [];
  readonly all: number[] = [];
  readonly descs = new Map<number, Desc>();

  constructor(readonly rng: Rng, readonly ram: Uint8Array) {
    this.dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  }

  get size(): number {
    return this.ram.length;
  }

  /** A free run of pages in RAM (system structures do not overlap one another). */
  allocPages(n: number): number {
    const pages = this.size / PAGE;
    for (;;) {
      const first = this.rng.range(1, pages - n - 1);
      let free = true;
      for (let i = 0; i < n; i++) if (this.usedPages.has(first + i)) free = false;
      if (!free) continue;
      for (let i = 0; i < n; i++) this.usedPages.add(first + i);
      return first * PAGE;
    }
  }

  w8(a: number, v: number): void { if (a >= 0 && a < this.size) this.ram[a] = v; }
  w16(a: number, v: number): void { if (a >= 0 && a + 2 <= this.size) this.dv.setUint16(a, v & 0xffff, true); }
  w32(a: number, v: number): void { if (a >= 0 && a + 4 <= this.size) this.dv.setInt32(a, v | 0, true); }
  wDesc(a: number, d: Desc): void { this.w32(a, d[0]); this.w32(a + 4, d[1]); }

  /** An address in RAM (mostly), or anywhere in the 4 GiB space. */
  addr(align = 1, anywhere = 0.05): number {
    if (this.rng.chance(anywhere)) return this.rng.u32() & ~(align - 1);
    return this.rng.int(this.size - 16) & ~(align - 1);
  }

  /** A random code or data descriptor: flat, 16-bit, odd base and limit, expand-down, conforming, absent. */
  randomSegment(): Desc {
    const r = this.rng;
    const code = r.chance(0.4);
    const dpl = r.int(4);
    let access = 0x90 | (dpl << 5) | (code ? 0x08 : 0) | (r.chance(0.85) ? 0x02 : 0) | (r.chance(0.2) ? 0x04 : 0) | (r.chance(0.5) ? 1 : 0);
    if (r.chance(0.08)) access &= ~0x80;
    const big = r.chance(0.7);
    const flags = (big ? 0x4 : 0) | (r.chance(0.6) ? 0x8 : 0) | (r.chance(0.1) ? 0x1 : 0);
    const base = r.chance(0.5) ? 0 : this.addr(PAGE, 0.1);
    const limit = r.chance(0.5) ? 0xfffff : r.int(0x100000);
    return segDesc(base, limit, access, flags);
  }

  /** The GDT: fixed useful entries first (so every mode can start), then random ones. */
  buildGdt(tssBase: number, ldtBase: number, ldtLimit: number): { base: number; limit: number } {
    const r = this.rng;
    const count = r.range(16, 40);
    const base = this.allocPages(1) + (r.chance(0.2) ? 8 * r.int(4) : 0);
    const flatBase = (): number => (r.chance(0.75) ? 0 : this.addr(PAGE, 0));
    const cb = flatBase();
    const db = flatBase();
    const fixed: [number, Desc, number[]][] = [
      [0x08, segDesc(cb, 0xfffff, 0x9a, 0xc), this.code0],
      [0x10, segDesc(db, 0xfffff, 0x92, 0xc), this.data0],
      [0x18, segDesc(cb, 0xfffff, 0xfa, 0xc), this.code3],
      [0x20, segDesc(db, 0xfffff, 0xf2, 0xc), this.data3],
      [0x28, segDesc(tssBase, 0x67 + r.int(0x2100), 0x80 | SYS_TSS32_BUSY, 0), this.tss],
      [0x30, segDesc(ldtBase, ldtLimit, 0x80 | SYS_LDT, 0), []],
      [0x38, segDesc(this.addr(16, 0), 0xffff, 0x9a, 0), this.code0],
      [0x40, segDesc(this.addr(16, 0), 0xffff, 0x92, 0), this.data0],
    ];
    this.descs.set(0, [0, 0]);
    for (const [sel, d, list] of fixed) {
      this.descs.set(sel, d);
      list.push(sel);
    }
    for (let i = 9; i < count; i++) {
      const sel = i * 8;
      const d = this.randomDescriptor(tssBase);
      this.descs.set(sel, d);
      const acc = descAccess(d[1]);
      if (acc & 0x10 && acc & 0x80) {
        const dpl = (acc >> 5) & 3;
        if (acc & 0x08) (dpl === 0 ? this.code0 : dpl === 3 ? this.code3 : []).push(sel);
        else if (acc & 0x02) (dpl === 0 ? this.data0 : dpl === 3 ? this.data3 : []).push(sel);
      } else if ((acc & 0x1f) === SYS_TSS32_AVAIL || (acc & 0x1f) === SYS_TSS16_AVAIL) {
        this.tss.push(sel);
      }
    }
    for (const [sel, d] of this.descs) {
      this.wDesc(base + sel, d);
      this.all.push(sel);
    }
    return { base, limit: r.chance(0.9) ? count * 8 - 1 : r.int(count * 8) };
  }

  randomDescriptor(tssBase: number): Desc {
    const r = this.rng;
    const code = (): number => (this.code0.length && r.chance(0.8) ? r.pick(this.code0) : r.int(0x10000));
    switch (r.int(10)) {
      case 0: case 1: case 2: case 3:
        return this.randomSegment();
      case 4:
        return segDesc(r.chance(0.5) ? tssBase : this.allocPages(1), 0x67 + r.int(0x100), 0x80 | (r.chance(0.8) ? SYS_TSS32_AVAIL : SYS_TSS16_AVAIL), 0);
      case 5:
        return gateDesc(code(), this.addr(), r.chance(0.8) ? SYS_CALL_GATE32 : SYS_CALL_GATE16, r.int(4), r.chance(0.9), r.int(4));
      case 6:
        return gateDesc(0x28 | 0, 0, SYS_TASK_GATE, r.int(4), r.chance(0.9));
      case 7:
        return gateDesc(code(), this.addr(), SYS_INT_GATE32, r.int(4), true);
      case 8:
        return [0, 0];
      default:
        return [r.u32() | 0, r.u32() | 0];
    }
  }

  buildLdt(base: number, count: number, tssBase: number): void {
    for (let i = 0; i < count; i++) this.wDesc(base + i * 8, this.rng.chance(0.8) ? this.randomSegment() : this.randomDescriptor(tssBase));
  }

  /** IDT gates: mostly interrupt and trap gates into random code at CPL 0. */
  buildIdt(handlers: number[]): { base: number; limit: number } {
    // The #DF gate is a valid interrupt gate more often than the others, so that a double fault can be handled.
    const r = this.rng;
    const base = this.allocPages(1);
    for (let v = 0; v < 256; v++) {
      const sel = this.code0.length && r.chance(0.9) ? r.pick(this.code0) : r.pick(this.all) | r.int(4);
      const offset = this.addr(1, 0.03);
      if (v < 20 || (v >= 0x20 && v < 0x30)) handlers[v] = offset;
      const k = v === 8 && r.chance(0.7) ? 0 : r.int(100);
      let d: Desc;
      if (k < 55) d = gateDesc(sel, offset, SYS_INT_GATE32, r.chance(0.7) ? 0 : 3, true);
      else if (k < 75) d = gateDesc(sel, offset, SYS_TRAP_GATE32, r.chance(0.7) ? 0 : 3, true);
      else if (k < 82) d = gateDesc(sel, offset, r.chance(0.5) ? SYS_INT_GATE16 : SYS_TRAP_GATE16, r.int(4), true);
      else if (k < 88) d = gateDesc(r.chance(0.8) && this.tss.length ? r.pick(this.tss) : r.int(0x10000), 0, SYS_TASK_GATE, r.int(4), true);
      else if (k < 94) d = gateDesc(sel, offset, SYS_INT_GATE32, r.int(4), false);
      else d = [r.u32() | 0, r.u32() | 0];
      this.wDesc(base + v * 8, d);
    }
    return { base, limit: r.chance(0.9) ? 0x7ff : r.int(0x800) };
  }

  /** A 32-bit TSS with random stacks and segments; its I/O map follows. */
  buildTss(base: number): void {
    const r = this.rng;
    const sel = (list: number[]): number => (list.length && r.chance(0.85) ? r.pick(list) : r.int(0x10000));
    for (let off = 0; off < 0x68; off += 4) this.w32(base + off, r.u32());
    this.w32(base + 4, this.addr(4, 0.02));
    this.w32(base + 8, sel(this.data0));
    this.w32(base + 0x1c, r.u32() & 0xfffff000);
    this.w32(base + 0x20, this.addr());
    this.w32(base + 0x24, r.u32() & 0x3f7fd7 | FLAG_FIXED);
    for (const off of [0x48, 0x4c, 0x50, 0x54, 0x58, 0x5c]) this.w32(base + off, sel(this.all));
    this.w32(base + 0x60, r.chance(0.7) ? 0x30 : r.int(0x10000));
    this.w16(base + 0x64, r.chance(0.1) ? 1 : 0);
    this.w16(base + 0x66, r.pick([0x68, 0x68, 0xffff, r.int(0x3000)]));
  }

  /**
   * Page directory and tables. The first PDEs (RAM and a little above) map mostly
   * identity, with 4 KiB tables or 4 MiB pages; the rest are mostly absent.
   */
  buildPaging(user: boolean, pse: boolean): number {
    const r = this.rng;
    const pd = this.allocPages(1);
    const tables: number[] = [];
    const ramPdes = Math.ceil(this.size / (4 << 20)) + 1;
    const flags = (): number => {
      let f = 1 | (r.chance(0.85) ? 2 : 0) | (user ? (r.chance(0.85) ? 4 : 0) : (r.chance(0.3) ? 4 : 0));
      f |= (r.chance(0.5) ? 0x20 : 0) | (r.chance(0.3) ? 0x40 : 0) | (r.chance(0.2) ? 0x100 : 0) | (r.chance(0.1) ? 0x18 : 0);
      return f;
    };
    const table = (pdi: number): number => {
      if (tables.length >= 4) return r.pick(tables);
      const t = this.allocPages(1);
      tables.push(t);
      for (let j = 0; j < 1024; j++) {
        const k = r.int(100);
        const frame = k < 75 ? (pdi << 22) + j * PAGE : k < 92 ? this.addr(PAGE, 0) : r.u32() & ~0xfff;
        this.w32(t + j * 4, r.chance(0.93) ? frame | flags() : r.u32() & ~1);
      }
      return t;
    };
    for (let i = 0; i < 1024; i++) {
      let pde: number;
      const near = i < ramPdes;
      const k = r.int(100);
      if (near ? k < 45 : k < 5) pde = table(i) | flags();
      else if (pse && (near ? k < 90 : k < 12)) pde = (near && r.chance(0.8) ? i << 22 : r.u32() & 0xffc00000) | flags() | 0x80;
      else pde = r.u32() & ~1;
      this.w32(pd + i * 4, pde);
    }
    return pd;
  }
}

/** Bytes of instruction fragments: the instructions most likely to reach the CPU's rare paths. */
function instructionStream(b: Builder, len: number): number[] {
  const r = b.rng;
  const out: number[] = [];
  const bytes = (n: number): void => { for (let i = 0; i < n; i++) out.push(r.int(256)); };
  const d32 = (v: number): void => { out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff); };
  const d16 = (v: number): void => { out.push(v & 0xff, (v >>> 8) & 0xff); };
  const sel = (): number => (r.chance(0.9) && b.all.length ? r.pick(b.all) | r.int(4) : r.int(0x10000));
  const modrm = (reg = r.int(8)): void => {
    const mod = r.int(4);
    const rm = r.int(8);
    out.push((mod << 6) | (reg << 3) | rm);
    if (mod === 0 && rm === 5) d32(b.addr());
    else if (mod !== 3) bytes(r.int(6));
  };
  const memOperand = (reg: number): void => {
    out.push((reg << 3) | 5);
    d32(b.addr(1, 0.05));
  };
  while (out.length < len) {
    switch (r.int(24)) {
      case 0: bytes(r.range(1, 6)); break;
      case 1: out.push(r.pick([0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65])); break;
      case 2: out.push(r.int(256)); modrm(); break;
      case 3: out.push(0x0f, r.int(256)); modrm(); break;
      case 4:
        out.push(0x0f, r.pick([0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x20, 0x21, 0x22, 0x23, 0x30, 0x31,
          0x32, 0x33, 0x34, 0x35, 0xa2, 0xaa, 0xae, 0xb2, 0xb4, 0xb5, 0xc7, 0xa0, 0xa1, 0xa8, 0xa9]));
        modrm();
        break;
      case 5: out.push(0xb8); d32(sel()); out.push(0x8e, 0xc0 | (r.int(8) << 3)); break;
      case 6: out.push(0x68); d32(sel()); out.push(r.pick([0x07, 0x17, 0x1f]), 0x90); break;
      case 7: out.push(0x0f, r.pick([0xa1, 0xa9])); break;
      case 8: out.push(r.pick([0xea, 0x9a])); d32(b.addr()); d16(sel()); break;
      case 9: out.push(0x66, r.pick([0xea, 0x9a])); d16(r.int(0x10000)); d16(sel()); break;
      case 10: {
        // IRET, RETF with a frame of plausible values pushed first.
        const frame = [r.u32() & 0x3f7fd7 | 2, sel(), b.addr()];
        if (r.chance(0.4)) frame.unshift(sel(), b.addr(), sel(), sel(), sel(), sel());
        for (const v of frame) { out.push(0x68); d32(v); }
        out.push(r.pick([0xcf, 0xcf, 0xcb, 0xca]));
        if (out[out.length - 1] === 0xca) d16(r.int(16));
        break;
      }
      case 11: out.push(r.pick([0xcd, 0xcd, 0xcd]), r.int(256)); break;
      case 12: out.push(r.pick([0xcc, 0xce, 0xf1, 0xf4, 0xfa, 0xfb, 0x9c, 0x9d, 0xc9, 0x60, 0x61, 0x0e, 0x16, 0x1e])); break;
      case 13: out.push(r.pick([0xe4, 0xe5, 0xe6, 0xe7]), r.int(256)); break;
      case 14:
        out.push(0xba); d32(r.int(0x10000));
        if (r.chance(0.5)) out.push(0xf3);
        out.push(r.pick([0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f]));
        break;
      case 15:
        if (r.chance(0.5)) { out.push(0xb9); d32(r.chance(0.5) ? r.int(64) : r.u32()); }
        out.push(r.pick([0xf3, 0xf2]), r.pick([0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf]));
        break;
      case 16: out.push(0xd8 + r.int(8)); modrm(); break;
      case 17: out.push(0x0f, 0x01); memOperand(r.pick([0, 1, 2, 3, 7])); break;
      case 18: {
        const cr = r.pick([0, 0, 2, 3, 4, 4]);
        out.push(0xb8); d32(r.u32() & r.pick([0xffffffff, 0x8005003f, 0x000002b9, 0xfffff000]));
        out.push(0x0f, 0x22, 0xc0 | (cr << 3));
        break;
      }
      case 19: out.push(r.pick([0x62, 0x63, 0xc4, 0xc5])); modrm(); break;
      case 20: out.push(0xc8); d16(r.int(0x10000)); out.push(r.int(256)); break;
      case 21: out.push(r.pick([0xe8, 0xe9])); d32(r.int(0x2000) - 0x1000); break;
      case 22: out.push(0xff); memOperand(r.pick([3, 5])); break;
      default: out.push(0xb9); d32(r.pick([0x10, 0x17, 0x1b, 0x174, 0x175, 0x176, 0x8b, r.u32()])); out.push(0x0f, r.pick([0x30, 0x32, 0x31, 0x34, 0x35])); break;
    }
  }
  return out;
}

/** Build one case in ram (already reset to the template). */
export function buildCase(rng: Rng, mode: StreamMode, ram: Uint8Array, fpu: unknown): StreamCase {
  const r = rng;
  const b = new Builder(r, ram);
  const paged = mode === 'paged0' || mode === 'paged3';
  const cpl = mode === 'ring3' || mode === 'paged3' || mode === 'vm86' ? 3 : 0;
  const tssBase = b.allocPages(3);
  const ldtCount = r.range(4, 24);
  const ldtBase = b.allocPages(1);
  const gdt = b.buildGdt(tssBase, ldtBase, ldtCount * 8 - 1);
  b.buildLdt(ldtBase, ldtCount, tssBase);
  b.buildTss(tssBase);
  const handlers: number[] = [];
  const idt = mode === 'real' ? { base: 0, limit: 0x3ff } : b.buildIdt(handlers);
  const pse = paged && r.chance(0.7);
  const cr3 = paged || mode === 'vm86' ? b.buildPaging(cpl === 3, pse) : r.u32() & 0xfffff000;

  let cr0 = CR0_ET | (r.chance(0.5) ? CR0_MP : 0) | (r.chance(0.1) ? CR0_EM : 0) | (r.chance(0.2) ? CR0_TS : 0)
    | (r.chance(0.5) ? CR0_NE : 0) | (r.chance(0.5) ? CR0_WP : 0) | (r.chance(0.3) ? CR0_AM : 0);
  if (r.chance(0.1)) cr0 |= CR0_CD | (r.chance(0.5) ? CR0_NW : 0);
  if (mode !== 'real') cr0 |= CR0_PE;
  if (paged || (mode === 'vm86' && r.chance(0.5))) cr0 |= CR0_PG;
  let cr4 = (r.chance(0.2) ? CR4_TSD : 0) | (r.chance(0.3) ? CR4_DE : 0) | (r.chance(0.3) ? CR4_PCE : 0) | (r.chance(0.5) ? CR4_OSFXSR : 0);
  if (pse) cr4 |= CR4_PSE;
  if (r.chance(0.5)) cr4 |= CR4_PGE;

  let eflags = FLAG_FIXED | (r.u32() & FLAGS_ARITH) | (r.chance(0.6) ? FLAG_IF : 0) | (r.chance(0.1) ? FLAG_TF : 0)
    | (r.chance(0.2) ? FLAG_DF : 0) | (r.int(4) << 12) | (r.chance(0.1) ? FLAG_NT : 0) | (r.chance(0.3) ? FLAG_AC : 0)
    | (r.chance(0.3) ? FLAG_ID : 0) | (r.chance(0.1) ? FLAG_RF : 0);
  if (mode === 'vm86') eflags |= FLAG_VM;

  const segs: Cache[] = new Array(6);
  const pickSel = (list: number[], fallback: number): number => (list.length ? r.pick(list) : fallback);
  if (mode === 'real' || mode === 'vm86') {
    const dpl = mode === 'vm86' ? 3 : 0;
    const limit = mode === 'real' && r.chance(0.2) ? 0xffffffff : 0xffff;
    for (let s = 0; s < 6; s++) segs[s] = realCache(r.int(ram.length >> 4 >= 0x10000 ? 0x10000 : ram.length >> 4), s === 1, dpl, s === 1 ? 0xffff : limit);
  } else {
    const codeSel = mode === 'protected16' ? 0x38 : cpl === 3 ? pickSel(b.code3, 0x18) | 3 : r.chance(0.8) ? 0x08 : pickSel(b.code0, 0x08);
    const stackSel = mode === 'protected16' ? 0x40 : cpl === 3 ? 0x20 | 3 : r.chance(0.8) ? 0x10 : pickSel(b.data0, 0x10);
    segs[1] = cacheOf(codeSel, b.descs.get(codeSel & ~7)!);
    segs[1].access |= 1;
    segs[2] = cacheOf(stackSel, b.descs.get(stackSel & ~7)!);
    for (const s of [0, 3, 4, 5]) {
      if (r.chance(0.1)) {
        segs[s] = { selector: 0, base: 0, limit: 0, access: 0 };
        continue;
      }
      const list = cpl === 3 ? b.data3 : [...b.data0, ...b.data3];
      const sel = pickSel(list, stackSel & ~3) | cpl;
      segs[s] = cacheOf(sel, b.descs.get(sel & ~7)!);
    }
  }

  // Code at EIP (and at some handlers): a stream of fragments over the random bytes.
  const codeLin = r.range(0x1000, ram.length - 0x3000);
  if (mode === 'real' || mode === 'vm86') segs[1] = realCache(Math.max(0, codeLin - r.int(0xff00)) >>> 4, true, cpl);
  const eip = (codeLin - segs[1].base) & (segs[1].access & 0x4000 ? 0xffffffff : 0xffff);
  const place = (at: number, n: number): void => {
    const bytes = instructionStream(b, n);
    for (let i = 0; i < bytes.length; i++) b.w8(at + i, bytes[i]);
  };
  place((segs[1].base + eip) >>> 0, r.range(256, 4096));
  // Handlers for the exceptions and the first interrupt vectors: in a tame world, a few
  // fragments, the error code popped, and IRET; otherwise fragments over random bytes.
  const tame = r.chance(0.6);
  handlers.forEach((h, v) => {
    if (!tame && v >= 8) return;
    const bytes = instructionStream(b, r.range(0, tame ? 24 : 256));
    if (tame) bytes.push(...(v === 8 || (v >= 10 && v <= 14) || v === 17 ? [0x83, 0xc4, 0x04] : []), 0xcf);
    for (let i = 0; i < bytes.length; i++) b.w8(h + i, bytes[i]);
  });

  const regs = Array.from({ length: 8 }, () => (r.chance(0.3) ? b.addr() : r.u32() | 0));
  const ssBig = (segs[2].access & 0x4000) !== 0;
  regs[4] = r.chance(0.9) ? ((b.addr(4, 0) - segs[2].base) & (ssBig ? 0xffffffff : 0xffff)) | 0 : r.u32() | 0;

  const state: CpuState = {
    version: 1,
    regs: regs.map((v) => v | 0),
    eip: eip | 0,
    eflags,
    segments: [segs[0], segs[1], segs[2], segs[3], segs[4], segs[5]],
    gdt,
    idt,
    ldt: { selector: 0x30, base: ldtBase, limit: ldtCount * 8 - 1 },
    tr: { selector: 0x28, base: tssBase, limit: descLimit(...b.descs.get(0x28)!), access: 0x80 | SYS_TSS32_BUSY },
    cr0: cr0 | 0,
    cr2: r.u32() | 0,
    cr3: cr3 | 0,
    cr4,
    dr: [r.u32() | 0, r.u32() | 0, r.u32() | 0, r.u32() | 0, 0, 0, 0xffff0ff0 | 0, 0x400 | (r.chance(0.1) ? 0x2000 : 0) | (r.u32() & 0xff)],
    cpl,
    msr: { sysenterCs: r.chance(0.8) ? 0x08 : 0, sysenterEsp: b.addr(4, 0), sysenterEip: b.addr(), tscOffset: 0 },
    halted: r.chance(0.03),
    irqInhibit: 0,
    instructionsRetired: 0,
    fpu,
  };
  return { mode, state, irqRate: r.pick([0, 0.001, 0.02, 0.2]) };
}

/** What one case did; `problem` says what broke, if anything did. */
export interface CaseResult {
  instructions: number;
  runs: number;
  exits: Record<string, number>;
  /** The mode at the end, and whether TR changed (a task switch): evidence that the streams leave their start mode. */
  endedIn?: string;
  taskSwitched?: boolean;
  /** How it stopped, when not by reaching its instruction count: the shutdown reason or error message. */
  stop?: string;
  problem?: string;
}

/** Run one case: vcpu.run() again and again, answering exits with random values, checking each return. */
export function runCase(rng: Rng, c: StreamCase, mem: GuardedRam, instructions: number, maxRuns: number): CaseResult {
  let intr = false;
  const vcpu: InterpVcpu = new InterpVcpu({
    ram: mem.ram,
    interrupts: {
      hasInterrupt: () => intr,
      acknowledge: () => {
        intr = false;
        return rng.int(256);
      },
    },
    readTsc: () => vcpu.instructionsRetired * 3,
  });
  const res: CaseResult = { instructions: 0, runs: 0, exits: {} };
  try {
    vcpu.restoreState(c.state);
  } catch (e) {
    res.problem = `restoreState threw: ${String(e)}`;
    return res;
  }
  const ramSize = mem.ram.length;
  let last: VmExit | null = null;
  while (res.instructions < instructions && res.runs < maxRuns) {
    if (rng.chance(c.irqRate)) intr = true;
    const budget = rng.chance(0.2) ? rng.range(1, 4) : rng.range(1, 3000);
    const before = vcpu.instructionsRetired;
    let exit: VmExit;
    try {
      exit = vcpu.run(budget);
    } catch (e) {
      res.problem = `run() threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
      return res;
    }
    res.runs++;
    last = exit;
    const done = vcpu.instructionsRetired - before;
    res.instructions += done;
    res.exits[exit.kind] = (res.exits[exit.kind] ?? 0) + 1;
    if (!(done >= 0 && done <= budget)) {
      res.problem = `run(${budget}) retired ${done} instructions`;
      return res;
    }
    const bad = checkExit(exit, ramSize);
    if (bad) {
      res.problem = bad;
      return res;
    }
    if (exit.kind === 'shutdown') {
      res.stop = `shutdown: ${exit.reason}`;
      break;
    }
    if (exit.kind === 'error') {
      res.stop = exit.message.split('\n')[0];
      if (exit.message.startsWith('internal error')) res.problem = `engine error: ${exit.message}`;
      break;
    }
    if (exit.kind === 'halt') {
      if (!rng.chance(0.7)) break;
      intr = true;
    }
    if (exit.kind === 'io' && !exit.isWrite) exit.value = rng.u32() & sizeMask(exit.size);
    if (exit.kind === 'mmio' && !exit.isWrite) exit.value = rng.u32() & sizeMask(exit.size);
  }
  const guard = mem.damagedGuard();
  if (guard !== null) res.problem = `guard byte at RAM offset ${guard} was written (last exit ${JSON.stringify(last)})`;
  const end = vcpu.saveState();
  const insane = checkState(end);
  if (!res.problem && insane) res.problem = insane;
  res.endedIn = !(end.cr0 & CR0_PE) ? 'real' : end.eflags & FLAG_VM ? 'vm86' : `cpl${end.cpl}`;
  if (end.cr0 & CR0_PG) res.endedIn += '+paging';
  res.taskSwitched = end.tr.selector !== c.state.tr.selector;
  return res;
}

function sizeMask(size: number): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

/** An exit the VMM could act on: a real port or an address outside RAM, a size of 1, 2 or 4. */
function checkExit(exit: VmExit, ramSize: number): string | null {
  if (exit.kind === 'io') {
    if (!Number.isInteger(exit.port) || exit.port < 0 || exit.port > 0xffff || ![1, 2, 4].includes(exit.size)) return `bad io exit ${JSON.stringify(exit)}`;
    if (exit.isWrite && !(Number.isInteger(exit.value) && exit.value >= 0 && exit.value <= sizeMask(exit.size))) return `bad io write value ${JSON.stringify(exit)}`;
  }
  if (exit.kind === 'mmio') {
    if (!Number.isInteger(exit.addr) || exit.addr < 0 || exit.addr > 0xffffffff || ![1, 2, 4].includes(exit.size)) return `bad mmio exit ${JSON.stringify(exit)}`;
    if (exit.addr + exit.size <= ramSize) return `mmio exit inside RAM (size ${ramSize}): ${JSON.stringify(exit)}`;
  }
  return null;
}

/** Registers and control state are 32-bit integers after any run (no NaN, no fractions, no out-of-range values). */
function checkState(s: CpuState): string | null {
  const i32 = (v: number): boolean => Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff;
  const fields: [string, number][] = [
    ['eip', s.eip], ['eflags', s.eflags], ['cr0', s.cr0], ['cr2', s.cr2], ['cr3', s.cr3], ['cr4', s.cr4], ['cpl', s.cpl],
    ...s.regs.map((v, i) => [`r${i}`, v] as [string, number]),
    ...s.segments.flatMap((g, i) => [[`seg${i}.base`, g.base], [`seg${i}.limit`, g.limit], [`seg${i}.selector`, g.selector]] as [string, number][]),
  ];
  for (const [name, v] of fields) if (!i32(v)) return `state ${name} = ${v}`;
  if (s.cpl < 0 || s.cpl > 3) return `cpl ${s.cpl}`;
  return null;
}

export interface StreamOptions {
  seed: number;
  cases: number;
  /** Run only this case (for reproducing a failure). */
  only?: number;
  instructionsPerCase?: number;
}

export interface StreamReport {
  cases: number;
  instructions: number;
  runs: number;
  exits: Record<string, number>;
  byMode: Record<string, number>;
  /** Start mode -> end mode -> cases. */
  transitions: Record<string, Record<string, number>>;
  taskSwitches: number;
  stops: Map<string, number>;
  failures: string[];
}

/** Run the cases; case i's mode is STREAM_MODES[i % 7] and its randomness comes from (seed, i) alone. */
export function runStream(o: StreamOptions): StreamReport {
  const rep: StreamReport = { cases: 0, instructions: 0, runs: 0, exits: {}, byMode: {}, transitions: {}, taskSwitches: 0, stops: new Map(), failures: [] };
  const mems = new Map<number, GuardedRam>();
  const fpu = new InterpVcpu({ ram: new Uint8Array(PAGE), interrupts: { hasInterrupt: () => false, acknowledge: () => 0 }, readTsc: () => 0 }).saveState().fpu;
  for (let i = 0; i < o.cases; i++) {
    if (o.only !== undefined && i !== o.only) continue;
    const rng = Rng.forCase(o.seed, 'stream', i);
    const mode = STREAM_MODES[i % STREAM_MODES.length];
    const size = rng.pick(RAM_SIZES);
    let mem = mems.get(size);
    if (!mem) mems.set(size, (mem = new GuardedRam(size, o.seed)));
    mem.reset();
    let res: CaseResult;
    try {
      const c = buildCase(rng, mode, mem.ram, structuredClone(fpu));
      res = runCase(rng, c, mem, o.instructionsPerCase ?? 20_000, 400);
    } catch (e) {
      res = { instructions: 0, runs: 0, exits: {}, problem: `harness: ${e instanceof Error ? e.stack : String(e)}` };
    }
    rep.cases++;
    rep.instructions += res.instructions;
    rep.runs += res.runs;
    rep.byMode[mode] = (rep.byMode[mode] ?? 0) + 1;
    if (res.endedIn) {
      const t = (rep.transitions[mode] ??= {});
      t[res.endedIn] = (t[res.endedIn] ?? 0) + 1;
    }
    if (res.taskSwitched) rep.taskSwitches++;
    for (const [k, n] of Object.entries(res.exits)) rep.exits[k] = (rep.exits[k] ?? 0) + n;
    if (res.stop) {
      const key = res.stop.replace(/0x[0-9a-f]+|\b[0-9a-f]{4,8}\b/gi, 'N').slice(0, 90);
      rep.stops.set(key, (rep.stops.get(key) ?? 0) + 1);
    }
    if (res.problem) rep.failures.push(`case ${i} (${mode}, ${size} bytes of RAM; LILYVM_STREAM_SEED=${o.seed} LILYVM_STREAM_CASE=${i}): ${res.problem}`);
  }
  return rep;
}
