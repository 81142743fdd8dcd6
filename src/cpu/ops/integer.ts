import type { Cpu } from '../cpu.ts';
import { CpuFault, LZ_LOGIC, LZ_SUB } from '../cpu.ts';
import {
  EAX, EBP, EBX, ECX, EDX, ESP, DS, SS, EXC_BR, EXC_DE,
  FLAG_AF, FLAG_CF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF,
} from '../constants.ts';
import { dec, inc } from './alu.ts';
import { editFlags, setResultFlags } from './flags.ts';

const CF_OF = FLAG_CF | FLAG_OF;

// ---- TEST

export function testEbGb(cpu: Cpu): void {
  const r = cpu.readE8() & cpu.getReg8(cpu.regField);
  cpu.setLazy(LZ_LOGIC, r, 0, r, 8);
}
export function testEvGv(cpu: Cpu): void {
  if (cpu.o32) {
    const r = cpu.readE32() & cpu.r32[cpu.regField];
    cpu.setLazy(LZ_LOGIC, r, 0, r, 32);
  } else {
    const r = cpu.readE16() & cpu.r16[cpu.regField << 1];
    cpu.setLazy(LZ_LOGIC, r, 0, r, 16);
  }
}
export function testALIb(cpu: Cpu): void {
  const r = cpu.r8[0] & cpu.fetch8();
  cpu.setLazy(LZ_LOGIC, r, 0, r, 8);
}
export function testEAXIz(cpu: Cpu): void {
  if (cpu.o32) {
    const r = cpu.r32[EAX] & cpu.fetch32();
    cpu.setLazy(LZ_LOGIC, r, 0, r, 32);
  } else {
    const r = cpu.r16[0] & cpu.fetch16();
    cpu.setLazy(LZ_LOGIC, r, 0, r, 16);
  }
}

// ---- group 3 (F6/F7)

export function testEbIb(cpu: Cpu): void {
  const a = cpu.readE8();
  const r = a & cpu.fetch8();
  cpu.setLazy(LZ_LOGIC, r, 0, r, 8);
}
export function testEvIz(cpu: Cpu): void {
  if (cpu.o32) {
    const a = cpu.readE32();
    const r = a & cpu.fetch32();
    cpu.setLazy(LZ_LOGIC, r, 0, r, 32);
  } else {
    const a = cpu.readE16();
    const r = a & cpu.fetch16();
    cpu.setLazy(LZ_LOGIC, r, 0, r, 16);
  }
}
export function notEb(cpu: Cpu): void {
  cpu.writeRmwE8(~cpu.readRmwE8() & 0xff);
}
export function notEv(cpu: Cpu): void {
  if (cpu.o32) cpu.writeRmwE32(~cpu.readRmwE32());
  else cpu.writeRmwE16(~cpu.readRmwE16() & 0xffff);
}
export function negEb(cpu: Cpu): void {
  const a = cpu.readRmwE8();
  const r = -a & 0xff;
  cpu.setLazy(LZ_SUB, 0, a, r, 8);
  cpu.writeRmwE8(r);
}
export function negEv(cpu: Cpu): void {
  if (cpu.o32) {
    const a = cpu.readRmwE32();
    const r = -a | 0;
    cpu.setLazy(LZ_SUB, 0, a, r, 32);
    cpu.writeRmwE32(r);
  } else {
    const a = cpu.readRmwE16();
    const r = -a & 0xffff;
    cpu.setLazy(LZ_SUB, 0, a, r, 16);
    cpu.writeRmwE16(r);
  }
}

/** MUL/IMUL set CF = OF = "the high half is significant"; this CPU leaves SF/ZF/AF/PF unchanged. */
function setMulFlags(cpu: Cpu, overflow: boolean): void {
  editFlags(cpu, overflow ? CF_OF : 0, CF_OF);
}

export function mulEb(cpu: Cpu): void {
  const r = cpu.r8[0] * cpu.readE8();
  cpu.r16[0] = r;
  setMulFlags(cpu, r > 0xff);
}
export function imulEb(cpu: Cpu): void {
  const r = ((cpu.r8[0] << 24) >> 24) * ((cpu.readE8() << 24) >> 24);
  cpu.r16[0] = r;
  setMulFlags(cpu, r !== (r << 24) >> 24);
}

/** High 32 bits of the last mul32/imul32 (the low half is the return value). */
let productHigh = 0;

/** Unsigned 32x32 -> 64 multiply: returns the low half (int32), high half in productHigh. */
function mul32(a: number, b: number): number {
  const lo = Math.imul(a, b);
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const mid = ((al * bl) >>> 16) + (ah * bl & 0xffff) + (al * bh & 0xffff);
  productHigh = (ah * bh + ((ah * bl) >>> 16) + ((al * bh) >>> 16) + (mid >>> 16)) | 0;
  return lo;
}

/** Signed 32x32 -> 64 multiply (same conventions as mul32). */
function imul32(a: number, b: number): number {
  const lo = mul32(a, b);
  let hi = productHigh;
  if (a < 0) hi -= b;
  if (b < 0) hi -= a;
  productHigh = hi | 0;
  return lo;
}

export function mulEv(cpu: Cpu): void {
  if (cpu.o32) {
    const lo = mul32(cpu.r32[EAX], cpu.readE32());
    cpu.r32[EAX] = lo;
    cpu.r32[EDX] = productHigh;
    setMulFlags(cpu, productHigh !== 0);
  } else {
    const r = cpu.r16[0] * cpu.readE16();
    cpu.r16[0] = r;
    cpu.r16[EDX << 1] = r >>> 16;
    setMulFlags(cpu, r > 0xffff);
  }
}
export function imulEv(cpu: Cpu): void {
  if (cpu.o32) {
    const lo = imul32(cpu.r32[EAX], cpu.readE32());
    cpu.r32[EAX] = lo;
    cpu.r32[EDX] = productHigh;
    setMulFlags(cpu, productHigh !== lo >> 31);
  } else {
    const r = ((cpu.r16[0] << 16) >> 16) * ((cpu.readE16() << 16) >> 16);
    cpu.r16[0] = r;
    cpu.r16[EDX << 1] = r >> 16;
    setMulFlags(cpu, r !== (r << 16) >> 16);
  }
}

/** IMUL Gv,Ev / Gv,Ev,Iz / Gv,Ev,Ib (0F AF, 69, 6B): a truncated signed product. */
function imulTruncate(cpu: Cpu, a: number, b: number): void {
  const reg = cpu.regField;
  if (cpu.o32) {
    const r = Math.imul(a, b);
    cpu.r32[reg] = r;
    setMulFlags(cpu, r !== a * b);
  } else {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    cpu.r16[reg << 1] = r;
    setMulFlags(cpu, r !== (r << 16) >> 16);
  }
}
export function imulGvEv(cpu: Cpu): void {
  imulTruncate(cpu, cpu.getRegV(cpu.regField), cpu.readEv());
}
export function imulGvEvIz(cpu: Cpu): void {
  const a = cpu.readEv();
  imulTruncate(cpu, a, cpu.fetchImmV());
}
export function imulGvEvIb(cpu: Cpu): void {
  const a = cpu.readEv();
  imulTruncate(cpu, a, (cpu.fetch8() << 24) >> 24);
}

/** DIV/IDIV leave CF and OF; this CPU sets AF and clears SF, ZF and PF. */
function setDivFlags(cpu: Cpu): void {
  editFlags(cpu, FLAG_AF, FLAG_AF | FLAG_SF | FLAG_ZF | FLAG_PF);
}

function divideError(): never {
  throw new CpuFault(EXC_DE, 0);
}

export function divEb(cpu: Cpu): void {
  const d = cpu.readE8();
  if (d === 0) divideError();
  const n = cpu.r16[0];
  const q = (n / d) | 0;
  if (q > 0xff) divideError();
  cpu.r16[0] = q | ((n - q * d) << 8);
  setDivFlags(cpu);
}
export function idivEb(cpu: Cpu): void {
  const d = (cpu.readE8() << 24) >> 24;
  if (d === 0) divideError();
  const n = (cpu.r16[0] << 16) >> 16;
  const q = (n / d) | 0;
  if (q !== (q << 24) >> 24) divideError();
  cpu.r16[0] = (q & 0xff) | ((n - q * d) << 8);
  setDivFlags(cpu);
}

/** Quotient and remainder of the last div64 (unsigned, as doubles). */
let divQuotient = 0;
let divRemainder = 0;

/** Unsigned (hi:lo) / d for hi < d (so the quotient fits in 32 bits); all as unsigned doubles. */
function div64(hi: number, lo: number, d: number): void {
  if (hi === 0) {
    divQuotient = Math.floor(lo / d);
    divRemainder = lo - divQuotient * d;
    return;
  }
  // Two 16-bit steps keep every intermediate below 2^48, exact in a double.
  const n1 = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(n1 / d);
  const n0 = (n1 - q1 * d) * 65536 + (lo & 0xffff);
  const q0 = Math.floor(n0 / d);
  divQuotient = q1 * 65536 + q0;
  divRemainder = n0 - q0 * d;
}

export function divEv(cpu: Cpu): void {
  if (cpu.o32) {
    const d = cpu.readE32() >>> 0;
    if (d === 0) divideError();
    const hi = cpu.r32[EDX] >>> 0;
    if (hi >= d) divideError();
    div64(hi, cpu.r32[EAX] >>> 0, d);
    cpu.r32[EAX] = divQuotient;
    cpu.r32[EDX] = divRemainder;
  } else {
    const d = cpu.readE16();
    if (d === 0) divideError();
    const n = (cpu.r16[EDX << 1] * 65536) + cpu.r16[0];
    const q = Math.floor(n / d);
    if (q > 0xffff) divideError();
    cpu.r16[0] = q;
    cpu.r16[EDX << 1] = n - q * d;
  }
  setDivFlags(cpu);
}

export function idivEv(cpu: Cpu): void {
  if (cpu.o32) {
    const d = cpu.readE32();
    if (d === 0) divideError();
    let hi = cpu.r32[EDX];
    let lo = cpu.r32[EAX];
    const negN = hi < 0;
    if (negN) {
      lo = -lo | 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
    }
    const dAbs = Math.abs(d);
    if ((hi >>> 0) >= dAbs) divideError();
    div64(hi >>> 0, lo >>> 0, dAbs);
    const q = negN !== d < 0 ? -divQuotient : divQuotient;
    if (q > 0x7fffffff || q < -0x80000000) divideError();
    cpu.r32[EAX] = q;
    cpu.r32[EDX] = negN ? -divRemainder : divRemainder;
  } else {
    const d = (cpu.readE16() << 16) >> 16;
    if (d === 0) divideError();
    const n = (cpu.r16[EDX << 1] << 16) | cpu.r16[0];
    const q = (n / d) | 0;
    if (q !== (q << 16) >> 16) divideError();
    cpu.r16[0] = q;
    cpu.r16[EDX << 1] = n - q * d;
  }
  setDivFlags(cpu);
}

// ---- INC/DEC Eb/Ev (FE/FF /0 /1)

export function incEb(cpu: Cpu): void { cpu.writeRmwE8(inc(cpu, cpu.readRmwE8(), 8)); }
export function decEb(cpu: Cpu): void { cpu.writeRmwE8(dec(cpu, cpu.readRmwE8(), 8)); }
export function incEv(cpu: Cpu): void {
  if (cpu.o32) cpu.writeRmwE32(inc(cpu, cpu.readRmwE32(), 32));
  else cpu.writeRmwE16(inc(cpu, cpu.readRmwE16(), 16));
}
export function decEv(cpu: Cpu): void {
  if (cpu.o32) cpu.writeRmwE32(dec(cpu, cpu.readRmwE32(), 32));
  else cpu.writeRmwE16(dec(cpu, cpu.readRmwE16(), 16));
}

// ---- conversions, flags in AH, XLAT, SALC

export function cbw(cpu: Cpu): void {
  if (cpu.o32) cpu.r32[EAX] = (cpu.r16[0] << 16) >> 16;
  else cpu.r16[0] = (cpu.r8[0] << 24) >> 24;
}
export function cwd(cpu: Cpu): void {
  if (cpu.o32) cpu.r32[EDX] = cpu.r32[EAX] >> 31;
  else cpu.r16[EDX << 1] = (cpu.r16[0] << 16) >> 31;
}

const AH_FLAGS = FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF | FLAG_CF;
export function sahf(cpu: Cpu): void {
  editFlags(cpu, cpu.r8[1], AH_FLAGS);
}
export function lahf(cpu: Cpu): void {
  cpu.r8[1] = (cpu.getFlags() & AH_FLAGS) | 2;
}

export function xlat(cpu: Cpu): void {
  const off = cpu.a32 ? (cpu.r32[EBX] + cpu.r8[0]) | 0 : (cpu.r16[EBX << 1] + cpu.r8[0]) & 0xffff;
  const seg = cpu.segOverride >= 0 ? cpu.segOverride : DS;
  cpu.r8[0] = cpu.read8(cpu.linear(seg, off, 1, false));
}

/** D6: AL = CF ? FF : 0 (undocumented, executed by this CPU). */
export function salc(cpu: Cpu): void {
  cpu.r8[0] = cpu.getCF() ? 0xff : 0;
}

// ---- PUSHA/POPA, ENTER/LEAVE

/** Write `len` bytes of v at SS:(sp + delta), wrapping by the stack width. */
function stackWrite(cpu: Cpu, delta: number, v: number, o32: boolean): void {
  if (o32) cpu.write32(cpu.stackLin(delta, 4, true), v);
  else cpu.write16(cpu.stackLin(delta, 2, true), v);
}

export function pusha(cpu: Cpu): void {
  const o32 = cpu.o32;
  const w = o32 ? 4 : 2;
  const sp = cpu.r32[ESP];
  for (let i = 0; i < 8; i++) {
    const v = i === ESP ? sp : cpu.r32[i];
    stackWrite(cpu, -w * (i + 1), o32 ? v : v & 0xffff, o32);
  }
  cpu.setSp(cpu.getSp() - 8 * w);
}

/**
 * POPA loads EDI, ESI, EBP, (skips ESP), EBX, EDX, ECX, EAX in that order. As on this
 * CPU, a fault part-way leaves the registers already loaded changed (ESP is restored).
 */
export function popa(cpu: Cpu): void {
  if (cpu.o32) {
    for (let i = 0; i < 8; i++) if (i !== 3) cpu.r32[7 - i] = cpu.peek32(i * 4);
    cpu.setSp(cpu.getSp() + 32);
  } else {
    for (let i = 0; i < 8; i++) if (i !== 3) cpu.r16[(7 - i) << 1] = cpu.peek16(i * 2);
    cpu.setSp(cpu.getSp() + 16);
  }
}

/**
 * ENTER Iw,Ib (SDM ENTER). Nothing is committed until every access has been done;
 * this CPU also probes the final stack pointer for a write before finishing.
 */
export function enter(cpu: Cpu): void {
  const alloc = cpu.fetch16();
  const level = cpu.fetch8() & 31;
  const o32 = cpu.o32;
  const w = o32 ? 4 : 2;
  const ss32 = cpu.ss32;
  const sp0 = cpu.getSp();
  stackWrite(cpu, -w, o32 ? cpu.r32[EBP] : cpu.r16[EBP << 1], o32);
  let delta = -w;
  // FrameTemp is ESP with a 32-bit operand size even on a 16-bit stack (SDM ENTER): the upper half of ESP stays.
  const frameTemp = ss32 ? (sp0 - w) | 0 : o32 ? (cpu.r32[ESP] & 0xffff0000) | ((sp0 - w) & 0xffff) : (sp0 - w) & 0xffff;
  if (level > 0) {
    let bp = ss32 ? cpu.r32[EBP] : cpu.r16[EBP << 1];
    for (let i = 1; i < level; i++) {
      bp = ss32 ? (bp - w) | 0 : (bp - w) & 0xffff;
      const lin = cpu.linear(SS, bp, w, false);
      const v = o32 ? cpu.read32(lin) : cpu.read16(lin);
      delta -= w;
      stackWrite(cpu, delta, v, o32);
    }
    delta -= w;
    stackWrite(cpu, delta, frameTemp, o32);
  }
  const newSp = ss32 ? (sp0 + delta - alloc) | 0 : (sp0 + delta - alloc) & 0xffff;
  cpu.checkWrite(cpu.linear(SS, newSp, w, true), w);
  if (o32) cpu.r32[EBP] = frameTemp;
  else cpu.r16[EBP << 1] = frameTemp;
  cpu.setSp(newSp);
}

export function leave(cpu: Cpu): void {
  const ss32 = cpu.ss32;
  const bp = ss32 ? cpu.r32[EBP] : cpu.r16[EBP << 1];
  const lin = cpu.linear(SS, bp, cpu.o32 ? 4 : 2, false);
  if (cpu.o32) {
    const v = cpu.read32(lin);
    cpu.setSp(bp + 4);
    cpu.r32[EBP] = v;
  } else {
    const v = cpu.read16(lin);
    cpu.setSp(ss32 ? bp + 2 : (bp + 2) & 0xffff);
    cpu.r16[EBP << 1] = v;
  }
}

// ---- LOOP/LOOPE/LOOPNE/JCXZ (E0-E3)

/** kind: 0 LOOPNE, 1 LOOPE, 2 LOOP. The count register is CX or ECX by address size. */
export function loop(cpu: Cpu, kind: number): void {
  const rel = (cpu.fetch8() << 24) >> 24;
  let count: number;
  if (cpu.a32) count = (cpu.r32[ECX] - 1) | 0;
  else count = (cpu.r16[ECX << 1] - 1) & 0xffff;
  let taken = count !== 0;
  if (taken && kind !== 2) taken = (cpu.getZF() !== 0) === (kind === 1);
  if (taken) cpu.jumpNear(cpu.eip + rel);
  if (cpu.a32) cpu.r32[ECX] = count;
  else cpu.r16[ECX << 1] = count;
}

export function jcxz(cpu: Cpu): void {
  const rel = (cpu.fetch8() << 24) >> 24;
  const count = cpu.a32 ? cpu.r32[ECX] : cpu.r16[ECX << 1];
  if (count === 0) cpu.jumpNear(cpu.eip + rel);
}

// ---- BOUND

export function bound(cpu: Cpu): void {
  const reg = cpu.regField;
  if (cpu.o32) {
    const lin = cpu.ea(8, false);
    const lower = cpu.read32(lin);
    const upper = cpu.read32((lin + 4) | 0);
    const v = cpu.r32[reg];
    if (v < lower || v > upper) throw new CpuFault(EXC_BR, 0);
  } else {
    const lin = cpu.ea(4, false);
    const lower = (cpu.read16(lin) << 16) >> 16;
    const upper = (cpu.read16((lin + 2) | 0) << 16) >> 16;
    const v = (cpu.r16[reg << 1] << 16) >> 16;
    if (v < lower || v > upper) throw new CpuFault(EXC_BR, 0);
  }
}

// ---- BCD (flags the SDM leaves undefined follow this CPU; docs/cpu.md)

function setAlFlags(cpu: Cpu, al: number, other: number): void {
  setResultFlags(cpu, al, 8, other);
}

export function daa(cpu: Cpu): void {
  const old = cpu.r8[0];
  const oldCf = cpu.getCF();
  let al = old;
  let f = 0;
  if ((old & 0xf) > 9 || cpu.getAF()) {
    al += 6;
    f |= FLAG_AF;
  }
  if (old > 0x99 || oldCf) {
    al += 0x60;
    f |= FLAG_CF;
  }
  al &= 0xff;
  if (~old & al & 0x80) f |= FLAG_OF;
  cpu.r8[0] = al;
  setAlFlags(cpu, al, f);
}

export function das(cpu: Cpu): void {
  const old = cpu.r8[0];
  const oldCf = cpu.getCF();
  let al = old;
  let f = 0;
  if ((old & 0xf) > 9 || cpu.getAF()) {
    if (al < 6) f |= FLAG_CF;
    al -= 6;
    f |= FLAG_AF;
  }
  if (old > 0x99 || oldCf) {
    al -= 0x60;
    f |= FLAG_CF;
  }
  al &= 0xff;
  if (old & ~al & 0x80) f |= FLAG_OF;
  cpu.r8[0] = al;
  setAlFlags(cpu, al, f);
}

/** AAA/AAS: this CPU adds/subtracts 106h to AX and takes SF/ZF/PF/OF from that 16-bit result. */
export function aaa(cpu: Cpu): void { asciiAdjust(cpu, false); }
export function aas(cpu: Cpu): void { asciiAdjust(cpu, true); }

function asciiAdjust(cpu: Cpu, subtract: boolean): void {
  const ax = cpu.r16[0];
  let t = ax;
  let f = 0;
  if ((ax & 0xf) > 9 || cpu.getAF()) {
    t = (subtract ? ax - 0x106 : ax + 0x106) & 0xffff;
    f = FLAG_AF | FLAG_CF;
    if ((subtract ? ax & ~t : ~ax & t) & 0x8000) f |= FLAG_OF;
  }
  cpu.r16[0] = t & 0xff0f;
  setResultFlags(cpu, t, 16, f);
}

export function aam(cpu: Cpu): void {
  const imm = cpu.fetch8();
  if (imm === 0) divideError();
  const al = cpu.r8[0];
  const lo = al % imm;
  cpu.r8[1] = (al / imm) | 0;
  cpu.r8[0] = lo;
  setAlFlags(cpu, lo, 0);
}

/** AAD: this CPU sets all six flags as for the byte addition AL + AH*imm. */
export function aad(cpu: Cpu): void {
  const imm = cpu.fetch8();
  const a = cpu.r8[0];
  const b = (cpu.r8[1] * imm) & 0xff;
  const r = (a + b) & 0xff;
  cpu.r16[0] = r;
  let f = (a + b > 0xff ? FLAG_CF : 0) | ((a ^ b ^ r) & FLAG_AF);
  if (~(a ^ b) & (a ^ r) & 0x80) f |= FLAG_OF;
  setAlFlags(cpu, r, f);
}
