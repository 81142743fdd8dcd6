// The x87 FPU of the IA-32 interpreter: opcodes D8-DF and FXSAVE/FXRSTOR (Intel SDM Vol. 1 ch. 8, Vol. 2 instruction
// pages). Values are true 80-bit extended precision (see float80.ts and docs/fpu.md).

import {
  CMP_UNORDERED, add, compare, div, extract, mul, remainder, roundInt, scale, sqrt,
} from './arith.ts';
import {
  BCD_INDEFINITE, FLAG_DE, FLAG_IE, FLAG_SF, FLAG_ZE, INDEFINITE, Kind, ZERO, classify, f80FromWords,
  f64Words, fromBcd, fromF32, fromF64, fromInt, fromInt32, quiet, signOf, toBcd, toF32, toF64Words, toInt, withSign,
} from './float80.ts';
import type { F80, FpCtx } from './float80.ts';
import type { FpuHost } from './host.ts';
import { CONSTANTS, transcendental } from './transcendental.ts';

/** FSW bits (SDM Vol. 1 Figure 8-4). Bits 0-6 are the exception flags and SF (float80.ts FLAG_*). */
export const SW_ES = 0x80;
export const SW_C0 = 0x100;
export const SW_C1 = 0x200;
export const SW_C2 = 0x400;
export const SW_TOP_SHIFT = 11;
export const SW_C3 = 0x4000;
export const SW_B = 0x8000;
const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;
/** The FSW bits kept in this.sw: flags, SF and C0-C3 (TOP is this.top; ES and B are derived). */
const SW_STORED = 0x7f | SW_CC;

/** FCW: exception masks (bits 0-5), PC (8-9), RC (10-11), X (12). Bit 6 reads as 1; bits 7, 13-15 read as 0. */
export const CW_DEFAULT = 0x037f;
const CW_WRITABLE = 0x1f3f;
const CW_ALWAYS_ONE = 0x40;

export const MXCSR_DEFAULT = 0x1f80;
export const MXCSR_MASK = 0xffff;

/** EFLAGS bits FCOMI writes (SDM Vol. 2 FCOMI): ZF, PF, CF set from the comparison, OF, SF, AF cleared. */
const EFL_CF = 0x1;
const EFL_PF = 0x4;
const EFL_AF = 0x10;
const EFL_ZF = 0x40;
const EFL_SF = 0x80;
const EFL_OF = 0x800;

/** Condition codes for CMP_GT, CMP_LT, CMP_EQ, CMP_UNORDERED. */
const CMP_TO_CC = [0, SW_C0, SW_C3, SW_C3 | SW_C2 | SW_C0];
const CMP_TO_EFLAGS = [0, EFL_CF, EFL_ZF, EFL_ZF | EFL_PF | EFL_CF];

/** Arithmetic group encoded in ModRM.reg of D8/DA/DC/DE. */
const OP_ADD = 0;
const OP_MUL = 1;
const OP_COM = 2;
const OP_COMP = 3;
const OP_SUB = 4;
const OP_SUBR = 5;
const OP_DIV = 6;
const OP_DIVR = 7;

export interface X87RegState {
  /** sign << 15 | exponent */
  se: number;
  /** significand bits 0-31 and 32-63 */
  lo: number;
  hi: number;
}

export interface X87State {
  version: 1;
  cw: number;
  /** Full status word including TOP. */
  sw: number;
  /** Bit i set: physical register i holds a value (not empty). */
  validMask: number;
  /** Physical registers R0-R7. */
  regs: X87RegState[];
  fip: number;
  fcs: number;
  fop: number;
  fdp: number;
  fds: number;
  mxcsr: number;
  /** XMM0-7 as 128 bytes (kept for FXSAVE/FXRSTOR round trips; SSE is not implemented). */
  xmm: number[];
}

/**
 * True for the x87 instructions that do not check for pending unmasked exceptions before executing (SDM Vol. 1 §8.3.11
 * and §8.6): FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE, and the 8087/287 leftovers FNENI, FNDISI, FNSETPM.
 * The core raises #MF before any other D8-DF instruction when hasPendingException() is true.
 */
export function isNonWaiting(op: number, modrm: number): boolean {
  if (op === 0xdb) return modrm === 0xe0 || modrm === 0xe1 || modrm === 0xe2 || modrm === 0xe3 || modrm === 0xe4;
  if (modrm >= 0xc0) return op === 0xdf && modrm === 0xe0;
  const reg = (modrm >> 3) & 7;
  if (op === 0xd9) return reg === 6 || reg === 7;
  if (op === 0xdd) return reg === 6 || reg === 7;
  return false;
}

/**
 * False for the instructions whose results this emulation does not guarantee to be bit-identical with hardware:
 * F2XM1, FYL2X, FPTAN, FPATAN, FYL2XP1, FSINCOS, FSIN, FCOS (see docs/fpu.md). Their results are within one ulp and
 * their status flags other than C1 are exact.
 */
export function isExactlyEmulated(op: number, modrm: number): boolean {
  if (op !== 0xd9 || modrm < 0xf0) return true;
  return !(modrm <= 0xf3 || modrm === 0xf9 || modrm === 0xfb || modrm === 0xfe || modrm === 0xff);
}

export class X87 {
  private cw = CW_DEFAULT;
  private sw = 0;
  private top = 0;
  private validMask = 0;
  private readonly regs: F80[] = new Array<F80>(8).fill(ZERO);
  private fip = 0;
  private fcs = 0;
  private fop = 0;
  private fdp = 0;
  private fds = 0;
  private mxcsr = MXCSR_DEFAULT;
  private readonly xmm = new Uint8Array(128);
  private readonly ctx: FpCtx = { rc: 0, masks: 0x3f, flags: 0, roundedUp: false, denormalSource: false };

  constructor(private readonly host: FpuHost) {}

  // ---- public interface ----

  reset(): void {
    this.fninit();
    this.regs.fill(ZERO);
    this.mxcsr = MXCSR_DEFAULT;
    this.xmm.fill(0);
  }

  hasPendingException(): boolean {
    return (this.sw & ~this.cw & 0x3f) !== 0;
  }

  /** The full status word (TOP, ES and B included). */
  statusWord(): number {
    const es = this.hasPendingException() ? SW_ES | SW_B : 0;
    return this.sw | (this.top << SW_TOP_SHIFT) | es;
  }

  controlWord(): number {
    return this.cw;
  }

  /** The full tag word computed from register contents (SDM Vol. 1 §8.1.7). */
  tagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) tw |= this.tagOf(p) << (2 * p);
    return tw;
  }

  /** ST(i) as stored (for tests and debuggers). */
  st(i: number): F80 {
    return this.regs[(this.top + i) & 7]!;
  }

  isEmpty(i: number): boolean {
    return !((this.validMask >> ((this.top + i) & 7)) & 1);
  }

  execute(op: number, modrm: number): void {
    if (modrm >= 0xc0) this.executeReg(op, modrm);
    else this.executeMem(op, modrm);
  }

  fxsave(): void {
    const host = this.host;
    const lin = host.ea(512, true);
    if (lin & 15) host.raiseGP?.(0);
    host.checkWrite(lin, 512);
    host.write16(lin, this.cw);
    host.write16(lin + 2, this.statusWord());
    host.write8(lin + 4, this.validMask);
    host.write8(lin + 5, 0);
    host.write16(lin + 6, this.fop);
    host.write32(lin + 8, this.fip);
    host.write16(lin + 12, this.fcs);
    host.write16(lin + 14, 0);
    host.write32(lin + 16, this.fdp);
    host.write16(lin + 20, this.fds);
    host.write16(lin + 22, 0);
    host.write32(lin + 24, this.mxcsr);
    host.write32(lin + 28, MXCSR_MASK);
    for (let i = 0; i < 8; i++) {
      const at = lin + 32 + 16 * i;
      this.writeF80(at, this.st(i));
      host.write16(at + 10, 0);
      host.write32(at + 12, 0);
    }
    for (let i = 0; i < 128; i += 4) {
      const x = this.xmm;
      host.write32(lin + 160 + i, x[i]! | (x[i + 1]! << 8) | (x[i + 2]! << 16) | (x[i + 3]! << 24));
    }
  }

  fxrstor(): void {
    const host = this.host;
    const lin = host.ea(512, false);
    if (lin & 15) host.raiseGP?.(0);
    const mxcsr = host.read32(lin + 24) >>> 0;
    if (mxcsr & ~MXCSR_MASK) host.raiseGP?.(0);
    const cw = host.read16(lin);
    const sw = host.read16(lin + 2);
    const ftw = host.read8(lin + 4);
    const fop = host.read16(lin + 6);
    const fip = host.read32(lin + 8);
    const fcs = host.read16(lin + 12);
    const fdp = host.read32(lin + 16);
    const fds = host.read16(lin + 20);
    const st: F80[] = [];
    for (let i = 0; i < 8; i++) st.push(this.readF80(lin + 32 + 16 * i));
    const xmm = new Uint8Array(128);
    for (let i = 0; i < 128; i++) xmm[i] = host.read8(lin + 160 + i);
    this.loadControl(cw);
    this.loadStatus(sw);
    this.validMask = ftw & 0xff;
    this.fop = fop & 0x7ff;
    this.fip = fip >>> 0;
    this.fcs = fcs;
    this.fdp = fdp >>> 0;
    this.fds = fds;
    this.mxcsr = mxcsr & MXCSR_MASK;
    for (let i = 0; i < 8; i++) this.regs[(this.top + i) & 7] = st[i]!;
    this.xmm.set(xmm);
  }

  saveState(): X87State {
    return {
      version: 1,
      cw: this.cw,
      sw: this.sw | (this.top << SW_TOP_SHIFT),
      validMask: this.validMask,
      regs: this.regs.map((r) => ({ se: r.se, lo: Number(r.sig & 0xffffffffn), hi: Number(r.sig >> 32n) })),
      fip: this.fip,
      fcs: this.fcs,
      fop: this.fop,
      fdp: this.fdp,
      fds: this.fds,
      mxcsr: this.mxcsr,
      xmm: Array.from(this.xmm),
    };
  }

  restoreState(s: X87State): void {
    if (s.version !== 1) throw new Error(`x87 snapshot version ${String(s.version)} is not supported: take the snapshot again with this version`);
    this.loadControl(s.cw);
    this.loadStatus(s.sw);
    this.validMask = s.validMask & 0xff;
    for (let i = 0; i < 8; i++) {
      const r = s.regs[i]!;
      this.regs[i] = f80FromWords(r.lo, r.hi, r.se);
    }
    this.fip = s.fip >>> 0;
    this.fcs = s.fcs & 0xffff;
    this.fop = s.fop & 0x7ff;
    this.fdp = s.fdp >>> 0;
    this.fds = s.fds & 0xffff;
    this.mxcsr = s.mxcsr >>> 0;
    this.xmm.set(s.xmm.slice(0, 128));
  }

  // ---- register stack ----

  private phys(i: number): number {
    return (this.top + i) & 7;
  }

  private setSt(i: number, v: F80): void {
    const p = (this.top + i) & 7;
    this.regs[p] = v;
    this.validMask |= 1 << p;
  }

  private push(v: F80): void {
    this.top = (this.top - 1) & 7;
    this.regs[this.top] = v;
    this.validMask |= 1 << this.top;
  }

  private pop(): void {
    this.validMask &= ~(1 << this.top);
    this.top = (this.top + 1) & 7;
  }

  /** True when ST(7) is in use, so a push overflows. */
  private pushOverflows(): boolean {
    return ((this.validMask >> ((this.top - 1) & 7)) & 1) === 1;
  }

  private tagOf(p: number): number {
    if (!((this.validMask >> p) & 1)) return 3;
    const k = classify(this.regs[p]!);
    return k === Kind.Normal ? 0 : k === Kind.Zero ? 1 : 2;
  }

  private loadControl(cw: number): void {
    this.cw = (cw & CW_WRITABLE) | CW_ALWAYS_ONE;
  }

  private loadStatus(sw: number): void {
    this.sw = sw & SW_STORED;
    this.top = (sw >> SW_TOP_SHIFT) & 7;
  }

  private loadTagWord(tw: number): void {
    let mask = 0;
    for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) !== 3) mask |= 1 << p;
    this.validMask = mask;
  }

  private fninit(): void {
    this.cw = CW_DEFAULT;
    this.sw = 0;
    this.top = 0;
    this.validMask = 0;
    this.fip = 0;
    this.fcs = 0;
    this.fop = 0;
    this.fdp = 0;
    this.fds = 0;
  }

  // ---- exceptions and condition codes ----

  private begin(): FpCtx {
    const ctx = this.ctx;
    ctx.flags = 0;
    ctx.roundedUp = false;
    ctx.denormalSource = false;
    ctx.rc = (this.cw >> 10) & 3;
    ctx.masks = this.cw & 0x3f;
    return ctx;
  }

  /** Precision-control width for FADD/FSUB/FMUL/FDIV/FSQRT (SDM Vol. 1 §8.1.5.2; the reserved value 01 acts as 64). */
  private precision(): number {
    const pc = (this.cw >> 8) & 3;
    return pc === 0 ? 24 : pc === 2 ? 53 : 64;
  }

  /**
   * An unmasked invalid-operation, denormal or zero-divide exception: the instruction leaves its operands alone and
   * reports only the exceptions found before the arithmetic (priorities: SDM Vol. 1 §4.9.2).
   */
  private suppressed(): boolean {
    const ctx = this.ctx;
    if ((ctx.flags & ~ctx.masks & (FLAG_IE | FLAG_DE | FLAG_ZE)) === 0) return false;
    ctx.flags &= FLAG_IE | FLAG_DE | FLAG_ZE | FLAG_SF;
    return true;
  }

  /** Records ctx.flags and sets C1 (round-up indicator, or the stack-fault direction). */
  private finish(c1: boolean): void {
    this.sw = (this.sw & ~SW_C1) | this.ctx.flags | (c1 ? SW_C1 : 0);
  }

  private stackFault(overflow: boolean): void {
    this.ctx.flags |= FLAG_IE | FLAG_SF;
    this.ctx.roundedUp = overflow;
  }

  private ieMasked(): boolean {
    return (this.cw & FLAG_IE) !== 0;
  }

  private setCC(cc: number): void {
    this.sw = (this.sw & ~SW_CC) | cc;
  }

  private notePointers(op: number, modrm: number): void {
    this.fop = ((op & 7) << 8) | modrm;
    this.fip = this.host.instrEip >>> 0;
    this.fcs = this.host.instrCs & 0xffff;
    if (modrm < 0xc0) {
      this.fdp = this.host.eaOffset >>> 0;
      this.fds = this.host.eaSelector & 0xffff;
    }
  }

  // ---- memory ----

  private readF80(lin: number): F80 {
    const h = this.host;
    return f80FromWords(h.read32(lin), h.read32(lin + 4), h.read16(lin + 8));
  }

  private writeF80(lin: number, v: F80): void {
    const h = this.host;
    h.write32(lin, Number(v.sig & 0xffffffffn) | 0);
    h.write32(lin + 4, Number(v.sig >> 32n) | 0);
    h.write16(lin + 8, v.se);
  }

  private readMemOperand(op: number): F80 {
    const h = this.host;
    const ctx = this.ctx;
    switch (op) {
      case 0xd8:
        return fromF32(ctx, h.read32(h.ea(4, false)));
      case 0xdc: {
        const lin = h.ea(8, false);
        return fromF64(ctx, h.read32(lin), h.read32(lin + 4));
      }
      case 0xda:
        return fromInt32(h.read32(h.ea(4, false)));
      default: {
        const v = h.read16(h.ea(2, false));
        return fromInt32((v << 16) >> 16);
      }
    }
  }

  // ---- dispatch ----

  private executeMem(op: number, modrm: number): void {
    const reg = (modrm >> 3) & 7;
    switch (op) {
      case 0xd8:
      case 0xda:
      case 0xdc:
      case 0xde:
        this.begin();
        this.arithMem(op, reg);
        break;
      case 0xd9:
        switch (reg) {
          case 0: this.fldMem(4); break;
          case 2: this.fstFloat(4, false); break;
          case 3: this.fstFloat(4, true); break;
          case 4: this.fldenv(); return;
          case 5: this.fldcw(); return;
          case 6: this.fnstenv(); return;
          case 7: this.fnstcw(); return;
          default: this.host.raiseUD();
        }
        break;
      case 0xdb:
        switch (reg) {
          case 0: this.fldMem(-4); break;
          case 2: this.fist(4, false); break;
          case 3: this.fist(4, true); break;
          case 5: this.fldMem(10); break;
          case 7: this.fstp80(); break;
          default: this.host.raiseUD(); // includes FISTTP (SSE3)
        }
        break;
      case 0xdd:
        switch (reg) {
          case 0: this.fldMem(8); break;
          case 2: this.fstFloat(8, false); break;
          case 3: this.fstFloat(8, true); break;
          case 4: this.frstor(); return;
          case 6: this.fnsave(); return;
          case 7: this.fnstswMem(); return;
          default: this.host.raiseUD();
        }
        break;
      case 0xdf:
        switch (reg) {
          case 0: this.fldMem(-2); break;
          case 2: this.fist(2, false); break;
          case 3: this.fist(2, true); break;
          case 4: this.fldMem(-10); break;
          case 5: this.fldMem(-8); break;
          case 6: this.fbstp(); break;
          case 7: this.fist(8, true); break;
          default: this.host.raiseUD();
        }
        break;
      default:
        this.host.raiseUD();
    }
    this.notePointers(op, modrm);
  }

  private executeReg(op: number, modrm: number): void {
    const reg = (modrm >> 3) & 7;
    const i = modrm & 7;
    switch (op) {
      case 0xd8:
        this.begin();
        if (reg === OP_COM || reg === OP_COMP) this.fcomReg(i, reg === OP_COMP ? 1 : 0, false);
        else this.arithReg(reg, 0, i, false);
        break;
      case 0xd9:
        this.execD9(modrm, reg, i);
        break;
      case 0xda:
        if (modrm === 0xe9) {
          this.begin();
          this.fcomReg(1, 2, true);
        } else if (reg < 4) {
          this.fcmov(reg, i, false);
        } else {
          this.host.raiseUD();
        }
        break;
      case 0xdb:
        if (reg < 4) {
          this.fcmov(reg, i, true);
        } else if (reg === 5 || reg === 6) {
          this.begin();
          this.fcomi(i, reg === 5, false);
        } else if (modrm === 0xe2) {
          this.sw &= ~(0x7f);
          return;
        } else if (modrm === 0xe3) {
          this.fninit();
          return;
        } else if (modrm === 0xe0 || modrm === 0xe1 || modrm === 0xe4) {
          return;
        } else {
          this.host.raiseUD();
        }
        break;
      case 0xdc:
        this.begin();
        if (reg === OP_COM || reg === OP_COMP) this.fcomReg(i, reg === OP_COMP ? 1 : 0, false);
        else this.arithReg(reg >= 4 ? reg ^ 1 : reg, i, 0, false);
        break;
      case 0xdd:
        this.begin();
        switch (reg) {
          case 0: this.ffree(i, false); break;
          case 1: this.fxch(i); break;
          case 2: this.fstReg(i, false); break;
          case 3: this.fstReg(i, true); break;
          case 4: this.fcomReg(i, 0, true); break;
          case 5: this.fcomReg(i, 1, true); break;
          default: this.host.raiseUD();
        }
        break;
      case 0xde:
        this.begin();
        if (reg === OP_COM) this.fcomReg(i, 1, false);
        else if (reg === OP_COMP) {
          if (i !== 1) this.host.raiseUD();
          this.fcomReg(1, 2, false);
        } else this.arithReg(reg >= 4 ? reg ^ 1 : reg, i, 0, true);
        break;
      case 0xdf:
        this.begin();
        switch (reg) {
          case 0: this.ffree(i, true); break;
          case 1: this.fxch(i); break;
          case 2:
          case 3: this.fstReg(i, true); break;
          case 4:
            if (i !== 0) this.host.raiseUD();
            this.host.setAx(this.statusWord());
            return;
          case 5: this.fcomi(i, true, true); break;
          case 6: this.fcomi(i, false, true); break;
          default: this.host.raiseUD();
        }
        break;
      default:
        this.host.raiseUD();
    }
    this.notePointers(op, modrm);
  }

  private execD9(modrm: number, reg: number, i: number): void {
    this.begin();
    switch (reg) {
      case 0: this.fldReg(i); return;
      case 1: this.fxch(i); return;
      case 2:
        if (i !== 0) this.host.raiseUD();
        return;
      case 3:
        // D9 D8+i (undocumented FSTP1): with ST(0) empty this CPU just pops, without a stack fault.
        if (this.isEmpty(0)) {
          this.pop();
          this.sw &= ~SW_C1;
          return;
        }
        this.fstReg(i, true);
        return;
    }
    switch (modrm) {
      case 0xe0: this.fchsAbs(false); break;
      case 0xe1: this.fchsAbs(true); break;
      case 0xe4: this.ftst(); break;
      case 0xe5: this.fxam(); break;
      case 0xe8: case 0xe9: case 0xea: case 0xeb: case 0xec: case 0xed: case 0xee:
        this.fldConst(modrm & 7);
        break;
      case 0xf6:
        this.top = (this.top - 1) & 7;
        this.sw &= ~SW_C1;
        break;
      case 0xf7:
        this.top = (this.top + 1) & 7;
        this.sw &= ~SW_C1;
        break;
      case 0xf4: this.fxtract(); break;
      case 0xf5: this.fprem(true); break;
      case 0xf8: this.fprem(false); break;
      case 0xfa: this.unaryOp(modrm); break;
      case 0xfc: this.unaryOp(modrm); break;
      case 0xfd: this.fscale(); break;
      case 0xf0: case 0xfe: case 0xff: this.unaryOp(modrm); break;
      case 0xf1: case 0xf3: case 0xf9: this.binaryPopOp(modrm); break;
      case 0xf2: case 0xfb: this.pushingOp(modrm); break;
      default: this.host.raiseUD();
    }
  }

  // ---- loads and stores ----

  /** FLD/FILD/FBLD with a memory source: kind 4/8/10 = float32/64/80, -2/-4/-8 = int16/32/64, -10 = packed BCD. */
  private fldMem(kind: number): void {
    const h = this.host;
    const ctx = this.begin();
    let v: F80;
    switch (kind) {
      case 4:
        v = fromF32(ctx, h.read32(h.ea(4, false)));
        break;
      case 8: {
        const lin = h.ea(8, false);
        v = fromF64(ctx, h.read32(lin), h.read32(lin + 4));
        break;
      }
      case 10:
        v = this.readF80(h.ea(10, false));
        break;
      case -2:
        v = fromInt32((h.read16(h.ea(2, false)) << 16) >> 16);
        break;
      case -4:
        v = fromInt32(h.read32(h.ea(4, false)));
        break;
      case -8: {
        const lin = h.ea(8, false);
        v = fromInt((BigInt(h.read32(lin + 4)) << 32n) | BigInt(h.read32(lin) >>> 0));
        break;
      }
      default: {
        const lin = h.ea(10, false);
        const bytes: number[] = [];
        for (let k = 0; k < 10; k++) bytes.push(h.read8(lin + k));
        v = fromBcd(bytes);
      }
    }
    if (kind === 4 || kind === 8) {
      if (classify(v) === Kind.SNaN) {
        ctx.flags |= FLAG_IE;
        v = quiet(v);
      }
    }
    this.pushChecked(v);
  }

  /** Pushes v unless the stack overflows or an unmasked exception (already in ctx) suppresses the load. */
  private pushChecked(v: F80): void {
    if (this.pushOverflows()) {
      this.ctx.flags = 0;
      this.stackFault(true);
      if (this.ieMasked()) this.push(INDEFINITE);
      this.finish(true);
      return;
    }
    // An unmasked DE from a denormal float32/float64 source does not stop the load on this CPU.
    if ((this.ctx.flags & ~this.ctx.masks & (FLAG_IE | FLAG_ZE)) !== 0) {
      this.finish(false);
      return;
    }
    this.push(v);
    this.finish(false);
  }

  private fldReg(i: number): void {
    if (this.isEmpty(i)) {
      this.stackFault(false);
      if (this.ieMasked()) this.push(INDEFINITE);
      this.finish(false);
      return;
    }
    this.pushChecked(this.st(i));
  }

  private fldConst(index: number): void {
    this.pushChecked(index === 6 ? ZERO : CONSTANTS(index, this.ctx.rc));
  }

  /** FST/FSTP m32/m64. */
  private fstFloat(size: 4 | 8, pop: boolean): void {
    const h = this.host;
    const ctx = this.begin();
    const lin = h.ea(size, true);
    let value = this.st(0);
    if (this.isEmpty(0)) {
      this.stackFault(false);
      if (!this.ieMasked()) {
        this.finish(false);
        return;
      }
      value = INDEFINITE;
    }
    if (size === 4) {
      const bits = toF32(ctx, value);
      if (bits === null) {
        this.finish(false);
        return;
      }
      h.write32(lin, bits);
    } else {
      if (!toF64Words(ctx, value)) {
        this.finish(false);
        return;
      }
      h.checkWrite(lin, 8);
      h.write32(lin, f64Words.lo);
      h.write32(lin + 4, f64Words.hi);
    }
    if (pop) this.pop();
    this.finish(ctx.roundedUp);
  }

  private fstp80(): void {
    const h = this.host;
    this.begin();
    const lin = h.ea(10, true);
    let value = this.st(0);
    if (this.isEmpty(0)) {
      this.stackFault(false);
      if (!this.ieMasked()) {
        this.finish(false);
        return;
      }
      value = INDEFINITE;
    }
    h.checkWrite(lin, 10);
    this.writeF80(lin, value);
    this.pop();
    this.finish(false);
  }

  /** FIST/FISTP m16/m32/m64. */
  private fist(size: 2 | 4 | 8, pop: boolean): void {
    const h = this.host;
    const ctx = this.begin();
    const lin = h.ea(size, true);
    let n: bigint | null;
    const empty = this.isEmpty(0);
    if (empty) {
      this.stackFault(false);
      n = this.ieMasked() ? -(1n << BigInt(size * 8 - 1)) : null;
    } else {
      n = toInt(ctx, this.st(0), (size * 8) as 16 | 32 | 64);
    }
    if (n === null) {
      this.finish(false);
      return;
    }
    if (size === 2) {
      h.write16(lin, Number(n) & 0xffff);
    } else if (size === 4) {
      h.write32(lin, Number(n) | 0);
    } else {
      h.checkWrite(lin, 8);
      h.write32(lin, Number(BigInt.asUintN(32, n)) | 0);
      h.write32(lin + 4, Number(BigInt.asIntN(32, n >> 32n)));
    }
    if (pop) this.pop();
    this.finish(ctx.roundedUp);
  }

  private fbstp(): void {
    const h = this.host;
    const ctx = this.begin();
    const lin = h.ea(10, true);
    let bytes: number[] | null;
    if (this.isEmpty(0)) {
      this.stackFault(false);
      bytes = this.ieMasked() ? BCD_INDEFINITE.slice() : null;
    } else {
      bytes = toBcd(ctx, this.st(0));
    }
    if (bytes === null) {
      this.finish(false);
      return;
    }
    h.checkWrite(lin, 10);
    for (let k = 0; k < 10; k++) h.write8(lin + k, bytes[k]!);
    this.pop();
    this.finish(ctx.roundedUp);
  }

  private fstReg(i: number, pop: boolean): void {
    if (this.isEmpty(0)) {
      this.stackFault(false);
      if (this.ieMasked()) {
        this.setSt(i, INDEFINITE);
        if (pop) this.pop();
      }
      this.finish(false);
      return;
    }
    this.setSt(i, this.st(0));
    if (pop) this.pop();
    this.finish(false);
  }

  private fxch(i: number): void {
    const e0 = this.isEmpty(0);
    const ei = this.isEmpty(i);
    if (e0 || ei) {
      this.stackFault(false);
      if (!this.ieMasked()) {
        this.finish(false);
        return;
      }
      if (e0) this.setSt(0, INDEFINITE);
      if (ei) this.setSt(i, INDEFINITE);
    }
    const t = this.st(0);
    this.setSt(0, this.st(i));
    this.setSt(i, t);
    this.finish(false);
  }

  private ffree(i: number, pop: boolean): void {
    this.validMask &= ~(1 << this.phys(i));
    if (pop) this.pop();
    this.sw &= ~SW_C1;
  }

  private fcmov(reg: number, i: number, negate: boolean): void {
    const getFlags = this.host.getFlags;
    if (!getFlags) throw new Error('FCMOVcc needs FpuHost.getFlags(): the CPU core must provide EFLAGS to the FPU');
    const flags = getFlags.call(this.host);
    let cond: boolean;
    switch (reg) {
      case 0: cond = (flags & EFL_CF) !== 0; break;
      case 1: cond = (flags & EFL_ZF) !== 0; break;
      case 2: cond = (flags & (EFL_CF | EFL_ZF)) !== 0; break;
      default: cond = (flags & EFL_PF) !== 0;
    }
    if (negate) cond = !cond;
    this.begin();
    if (this.isEmpty(0) || this.isEmpty(i)) {
      this.stackFault(false);
      if (this.ieMasked()) this.setSt(0, INDEFINITE);
      this.finish(false);
      return;
    }
    // C1 is left unchanged.
    if (cond) this.setSt(0, this.st(i));
  }

  // ---- arithmetic ----

  /** a op b; bDen marks b as a denormal in its memory format. */
  private compute(kind: number, a: F80, b: F80, bDen = false): F80 {
    const ctx = this.ctx;
    const p = this.precision();
    switch (kind) {
      case OP_ADD: return add(ctx, a, b, false, p, false, bDen);
      case OP_MUL: return mul(ctx, a, b, p, false, bDen);
      case OP_SUB: return add(ctx, a, b, true, p, false, bDen);
      case OP_SUBR: return add(ctx, b, a, true, p, bDen, false);
      case OP_DIV: return div(ctx, a, b, p, false, bDen);
      default: return div(ctx, b, a, p, bDen, false);
    }
  }

  /** ST(dst) = ST(dst) op ST(src), popping afterwards when pop. */
  private arithReg(kind: number, dst: number, src: number, pop: boolean): void {
    if (this.isEmpty(dst) || this.isEmpty(src)) {
      this.stackFault(false);
      if (this.ieMasked()) {
        this.setSt(dst, INDEFINITE);
        if (pop) this.pop();
      }
      this.finish(false);
      return;
    }
    const r = this.compute(kind, this.st(dst), this.st(src));
    if (this.suppressed()) {
      this.finish(false);
      return;
    }
    this.setSt(dst, r);
    if (pop) this.pop();
    this.finish(this.ctx.roundedUp);
  }

  private arithMem(op: number, reg: number): void {
    const b = this.readMemOperand(op);
    const bDen = this.ctx.denormalSource;
    this.ctx.flags = 0;
    if (reg === OP_COM || reg === OP_COMP) {
      this.fcomValue(b, reg === OP_COMP ? 1 : 0, false, bDen);
      return;
    }
    if (this.isEmpty(0)) {
      this.ctx.flags = 0;
      this.stackFault(false);
      if (this.ieMasked()) this.setSt(0, INDEFINITE);
      this.finish(false);
      return;
    }
    const r = this.compute(reg, this.st(0), b, bDen);
    if (this.suppressed()) {
      this.finish(false);
      return;
    }
    this.setSt(0, r);
    this.finish(this.ctx.roundedUp);
  }

  // ---- comparisons ----

  private fcomReg(i: number, pops: number, unordered: boolean): void {
    if (this.isEmpty(i)) {
      this.compareFault(pops);
      return;
    }
    this.fcomValue(this.st(i), pops, unordered);
  }

  private compareFault(pops: number): void {
    this.ctx.flags = 0;
    this.stackFault(false);
    this.setCC(CMP_TO_CC[CMP_UNORDERED]!);
    if (this.ieMasked()) for (let k = 0; k < pops; k++) this.pop();
    this.finish(false);
  }

  private fcomValue(b: F80, pops: number, unordered: boolean, bDen = false): void {
    if (this.isEmpty(0)) {
      this.compareFault(pops);
      return;
    }
    const r = compare(this.ctx, this.st(0), b, unordered, bDen);
    if (this.suppressed()) {
      // The condition codes are still written (unordered after an invalid operand); only the pops are skipped.
      this.setCC(CMP_TO_CC[r]!);
      this.finish(false);
      return;
    }
    this.setCC(CMP_TO_CC[r]!);
    for (let k = 0; k < pops; k++) this.pop();
    this.finish(false);
  }

  /** FCOMI/FUCOMI(P): ZF PF CF from the comparison, written as unordered even when an unmasked invalid suppresses the pop. */
  private fcomi(i: number, unordered: boolean, pop: boolean): void {
    const h = this.host;
    if (!h.getFlags || !h.setFlags) throw new Error('FCOMI needs FpuHost.getFlags()/setFlags(): the CPU core must provide EFLAGS to the FPU');
    let r: number;
    let doPop = pop;
    if (this.isEmpty(0) || this.isEmpty(i)) {
      this.stackFault(false);
      r = CMP_UNORDERED;
      if (!this.ieMasked()) doPop = false;
    } else {
      r = compare(this.ctx, this.st(0), this.st(i), unordered);
      if (this.suppressed()) doPop = false;
    }
    const flags = h.getFlags();
    h.setFlags((flags & ~(EFL_CF | EFL_PF | EFL_AF | EFL_ZF | EFL_SF | EFL_OF)) | CMP_TO_EFLAGS[r]!);
    if (doPop) this.pop();
    // C1 is cleared by a stack fault and otherwise left unchanged.
    if (this.ctx.flags & FLAG_SF) this.finish(false);
    else this.sw |= this.ctx.flags;
  }

  private ftst(): void {
    if (this.isEmpty(0)) {
      this.compareFault(0);
      return;
    }
    this.fcomValue(ZERO, 0, false);
  }

  private fxam(): void {
    const p = this.phys(0);
    const v = this.regs[p]!;
    let cc: number;
    if (!((this.validMask >> p) & 1)) {
      cc = SW_C3 | SW_C0;
    } else {
      switch (classify(v)) {
        case Kind.Unsupported: cc = 0; break;
        case Kind.QNaN:
        case Kind.SNaN: cc = SW_C0; break;
        case Kind.Normal: cc = SW_C2; break;
        case Kind.Inf: cc = SW_C2 | SW_C0; break;
        case Kind.Zero: cc = SW_C3; break;
        default: cc = SW_C3 | SW_C2;
      }
    }
    this.setCC(cc | (signOf(v) ? SW_C1 : 0));
  }

  // ---- other arithmetic ----

  private fchsAbs(abs: boolean): void {
    if (this.isEmpty(0)) {
      this.stackFault(false);
      if (this.ieMasked()) this.setSt(0, INDEFINITE);
      this.finish(false);
      return;
    }
    const v = this.st(0);
    this.setSt(0, withSign(v, abs ? 0 : signOf(v) ^ 1));
    this.finish(false);
  }

  /** Replaces ST(0) with f(ST(0)): FSQRT, FRNDINT, F2XM1, FSIN, FCOS. */
  private unaryOp(modrm: number): void {
    // FSIN/FCOS report an out-of-range operand in C2 and clear it otherwise.
    if (modrm === 0xfe || modrm === 0xff) this.sw &= ~SW_C2;
    if (this.isEmpty(0)) {
      this.stackFault(false);
      if (this.ieMasked()) this.setSt(0, INDEFINITE);
      this.finish(false);
      return;
    }
    const ctx = this.ctx;
    const a = this.st(0);
    let r: F80 | null;
    if (modrm === 0xfa) r = sqrt(ctx, a, this.precision());
    else if (modrm === 0xfc) r = roundInt(ctx, a);
    else r = transcendental(ctx, modrm, a, ZERO).r0;
    if (this.suppressed()) {
      this.finish(false);
      return;
    }
    if (r === null) {
      this.sw |= SW_C2;
      this.finish(false);
      return;
    }
    this.setSt(0, r);
    this.finish(ctx.roundedUp);
  }

  /** ST(1) = f(ST(1), ST(0)) and pop: FYL2X, FPATAN, FYL2XP1. */
  private binaryPopOp(modrm: number): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      this.stackFault(false);
      if (this.ieMasked()) {
        this.setSt(1, INDEFINITE);
        this.pop();
      }
      this.finish(false);
      return;
    }
    const r = transcendental(this.ctx, modrm, this.st(0), this.st(1)).r0!;
    if (this.suppressed()) {
      this.finish(false);
      return;
    }
    this.setSt(1, r);
    this.pop();
    this.finish(this.ctx.roundedUp);
  }

  /** FPTAN and FSINCOS: ST(0) = r0, then push r1. */
  private pushingOp(modrm: number): void {
    this.sw &= ~SW_C2;
    if (this.isEmpty(0)) {
      this.stackFault(false);
      if (this.ieMasked()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      this.finish(false);
      return;
    }
    if (this.pushOverflows()) {
      this.stackFault(true);
      if (this.ieMasked()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      this.finish(true);
      return;
    }
    const res = transcendental(this.ctx, modrm, this.st(0), ZERO);
    if (this.suppressed()) {
      this.finish(false);
      return;
    }
    if (res.r0 === null) {
      this.sw |= SW_C2;
      this.finish(false);
      return;
    }
    this.setSt(0, res.r0);
    this.push(res.r1!);
    this.finish(this.ctx.roundedUp);
  }

  private fxtract(): void {
    if (this.isEmpty(0)) {
      this.stackFault(false);
      if (this.ieMasked()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      this.finish(false);
      return;
    }
    if (this.pushOverflows()) {
      this.stackFault(true);
      if (this.ieMasked()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      this.finish(true);
      return;
    }
    const r = extract(this.ctx, this.st(0));
    if (this.suppressed()) {
      this.finish(false);
      return;
    }
    this.setSt(0, r.exponent);
    this.push(r.significand);
    this.finish(false);
  }

  /**
   * FPREM/FPREM1. C2 = partial remainder; a complete one reports quotient bits Q2 Q1 Q0 in C0 C3 C1. A partial one
   * clears C0 C3 C1, and a stack fault, NaN or invalid operand clears only C2 and C1 (as this CPU does).
   */
  private fprem(ieee: boolean): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      this.stackFault(false);
      if (this.ieMasked()) this.setSt(0, INDEFINITE);
      this.sw &= ~SW_C2;
      this.finish(false);
      return;
    }
    const r = remainder(this.ctx, this.st(0), this.st(1), ieee);
    if (this.suppressed() || r.special) {
      if (!this.suppressed()) this.setSt(0, r.value);
      this.sw &= ~SW_C2;
      this.finish(false);
      return;
    }
    this.setSt(0, r.value);
    const q = r.quotient;
    this.setCC((q & 4 ? SW_C0 : 0) | (q & 2 ? SW_C3 : 0) | (r.partial ? SW_C2 : 0));
    this.finish((q & 1) !== 0);
  }

  private fscale(): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      this.stackFault(false);
      if (this.ieMasked()) this.setSt(0, INDEFINITE);
      this.finish(false);
      return;
    }
    const r = scale(this.ctx, this.st(0), this.st(1));
    if (this.suppressed()) {
      this.finish(false);
      return;
    }
    this.setSt(0, r);
    this.finish(this.ctx.roundedUp);
  }

  // ---- control ----

  private fldcw(): void {
    const h = this.host;
    this.loadControl(h.read16(h.ea(2, false)));
  }

  private fnstcw(): void {
    const h = this.host;
    h.write16(h.ea(2, true), this.cw);
  }

  private fnstswMem(): void {
    const h = this.host;
    h.write16(h.ea(2, true), this.statusWord());
  }

  private envSize(): number {
    return this.host.o32 ? 28 : 14;
  }

  /** Writes the FPU environment (SDM Vol. 1 Figures 8-9 to 8-12) at lin. */
  private writeEnv(lin: number): void {
    const h = this.host;
    const cw = this.cw;
    const sw = this.statusWord();
    const tw = this.tagWord();
    const pm = h.isProtectedMode();
    if (h.o32) {
      h.write32(lin, 0xffff0000 | cw);
      h.write32(lin + 4, 0xffff0000 | sw);
      h.write32(lin + 8, 0xffff0000 | tw);
      if (pm) {
        h.write32(lin + 12, this.fip);
        h.write32(lin + 16, this.fcs | (this.fop << 16));
        h.write32(lin + 20, this.fdp);
        h.write32(lin + 24, 0xffff0000 | this.fds);
      } else {
        const ip = (this.fip + (this.fcs << 4)) >>> 0;
        const dp = (this.fdp + (this.fds << 4)) >>> 0;
        h.write32(lin + 12, 0xffff0000 | (ip & 0xffff));
        h.write32(lin + 16, ((ip >>> 16) << 12) | this.fop);
        h.write32(lin + 20, 0xffff0000 | (dp & 0xffff));
        h.write32(lin + 24, (dp >>> 16) << 12);
      }
    } else {
      h.write16(lin, cw);
      h.write16(lin + 2, sw);
      h.write16(lin + 4, tw);
      if (pm) {
        h.write16(lin + 6, this.fip & 0xffff);
        h.write16(lin + 8, this.fcs);
        h.write16(lin + 10, this.fdp & 0xffff);
        h.write16(lin + 12, this.fds);
      } else {
        const ip = (this.fip + (this.fcs << 4)) >>> 0;
        const dp = (this.fdp + (this.fds << 4)) >>> 0;
        h.write16(lin + 6, ip & 0xffff);
        h.write16(lin + 8, (((ip >>> 16) & 0xf) << 12) | this.fop);
        h.write16(lin + 10, dp & 0xffff);
        h.write16(lin + 12, ((dp >>> 16) & 0xf) << 12);
      }
    }
  }

  /** Reads an environment image; applies it only through the returned closure so all reads happen first. */
  private readEnv(lin: number): () => void {
    const h = this.host;
    const pm = h.isProtectedMode();
    let cw: number, sw: number, tw: number, fip: number, fcs: number, fop: number, fdp: number, fds: number;
    fop = this.fop;
    if (h.o32) {
      cw = h.read16(lin);
      sw = h.read16(lin + 4);
      tw = h.read16(lin + 8);
      if (pm) {
        fip = h.read32(lin + 12) >>> 0;
        const w = h.read32(lin + 16);
        fcs = w & 0xffff;
        fop = (w >>> 16) & 0x7ff;
        fdp = h.read32(lin + 20) >>> 0;
        fds = h.read16(lin + 24);
      } else {
        const w = h.read32(lin + 16);
        fip = (h.read16(lin + 12) | (((w >>> 12) & 0xffff) << 16)) >>> 0;
        fop = w & 0x7ff;
        fdp = (h.read16(lin + 20) | (((h.read32(lin + 24) >>> 12) & 0xffff) << 16)) >>> 0;
        fcs = 0;
        fds = 0;
      }
    } else {
      cw = h.read16(lin);
      sw = h.read16(lin + 2);
      tw = h.read16(lin + 4);
      if (pm) {
        fip = h.read16(lin + 6);
        fcs = h.read16(lin + 8);
        fdp = h.read16(lin + 10);
        fds = h.read16(lin + 12);
        fop = 0;
      } else {
        const w = h.read16(lin + 8);
        fip = h.read16(lin + 6) | ((w >>> 12) << 16);
        fop = w & 0x7ff;
        fdp = h.read16(lin + 10) | ((h.read16(lin + 12) >>> 12) << 16);
        fcs = 0;
        fds = 0;
      }
    }
    return () => {
      this.loadControl(cw);
      this.loadStatus(sw);
      this.loadTagWord(tw);
      this.fip = fip;
      this.fcs = fcs;
      this.fop = fop;
      this.fdp = fdp;
      this.fds = fds;
    };
  }

  private fnstenv(): void {
    const h = this.host;
    const size = this.envSize();
    const lin = h.ea(size, true);
    h.checkWrite(lin, size);
    this.writeEnv(lin);
    this.cw |= 0x3f;
  }

  private fldenv(): void {
    const h = this.host;
    const apply = this.readEnv(h.ea(this.envSize(), false));
    apply();
  }

  private fnsave(): void {
    const h = this.host;
    const envSize = this.envSize();
    const lin = h.ea(envSize + 80, true);
    h.checkWrite(lin, envSize + 80);
    this.writeEnv(lin);
    for (let i = 0; i < 8; i++) this.writeF80(lin + envSize + 10 * i, this.st(i));
    this.fninit();
  }

  private frstor(): void {
    const h = this.host;
    const envSize = this.envSize();
    const lin = h.ea(envSize + 80, false);
    const apply = this.readEnv(lin);
    const st: F80[] = [];
    for (let i = 0; i < 8; i++) st.push(this.readF80(lin + envSize + 10 * i));
    apply();
    for (let i = 0; i < 8; i++) this.regs[(this.top + i) & 7] = st[i]!;
  }
}
