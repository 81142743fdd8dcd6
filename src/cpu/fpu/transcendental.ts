// x87 transcendental instructions and constants (Intel SDM Vol. 2: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS,
// FSINCOS, FLDxx). Results are computed with about 190 significant bits and rounded once to 64 bits, so they are
// correctly rounded except in rare near-halfway cases; hardware is only specified to be within one ulp.

import { propagateNaN } from './arith.ts';
import {
  BIAS, FLAG_DE, FLAG_IE, FLAG_PE, FLAG_ZE, INDEFINITE, INF, Kind, NEG_INF, NEG_ZERO, ONE, ZERO,
  big, bitLength, classify, f80, lowMask, quiet, roundToF80, signOf, unpack,
} from './float80.ts';
import type { F80, FpCtx } from './float80.ts';

/** A binary floating value m * 2^e with about PREC significant bits; inexact marks a rounded computation. */
interface BF {
  m: bigint;
  e: number;
  inexact: boolean;
}

const PREC = 128;

/** Normalizes to at most PREC bits, truncating with a sticky (jam) bit so a later rounding still sees which side the exact value lies. */
function bf(m: bigint, e: number, inexact: boolean): BF {
  const neg = m < 0n;
  let mag = neg ? -m : m;
  const n = bitLength(mag);
  if (n > PREC) {
    const sh = n - PREC;
    const s = big(sh);
    const lost = (mag & lowMask(sh)) !== 0n;
    mag >>= s;
    if (lost) {
      mag |= 1n;
      inexact = true;
    }
    e += sh;
  }
  return { m: neg ? -mag : mag, e, inexact };
}

function bmul(a: BF, b: BF): BF {
  return bf(a.m * b.m, a.e + b.e, a.inexact || b.inexact);
}

function badd(a: BF, b: BF): BF {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  const ta = a.e + absBits(a.m);
  const tb = b.e + absBits(b.m);
  // A far smaller operand only decides the direction: replace it with one unit below the larger's precision.
  if (ta - tb > PREC + 8) b = { m: b.m < 0n ? -1n : 1n, e: ta - PREC - 8, inexact: true };
  else if (tb - ta > PREC + 8) a = { m: a.m < 0n ? -1n : 1n, e: tb - PREC - 8, inexact: true };
  const e = Math.min(a.e, b.e);
  return bf((a.m << big(a.e - e)) + (b.m << big(b.e - e)), e, a.inexact || b.inexact);
}

function bneg(a: BF): BF {
  return { m: -a.m, e: a.e, inexact: a.inexact };
}

function bsub(a: BF, b: BF): BF {
  return badd(a, bneg(b));
}

function absBits(m: bigint): number {
  return bitLength(m < 0n ? -m : m);
}

function bdiv(a: BF, b: BF): BF {
  const sh = PREC + 2 - absBits(a.m) + absBits(b.m);
  const num = sh >= 0 ? a.m << big(sh) : a.m >> big(-sh);
  const q = num / b.m;
  return bf(q, a.e - b.e - sh, a.inexact || b.inexact || q * b.m !== num);
}

function bint(n: number): BF {
  return { m: BigInt(n), e: 0, inexact: false };
}

function bsqrt(a: BF): BF {
  let sh = 2 * PREC + 2 - absBits(a.m);
  if ((a.e - sh) & 1) sh++;
  const x = a.m << big(sh);
  let y = BigInt(Math.floor(Math.sqrt(Number(x))));
  for (let i = 0; i < 4; i++) y = (y + x / y) >> 1n;
  while (y * y > x) y--;
  while ((y + 1n) * (y + 1n) <= x) y++;
  return bf(y, (a.e - sh) / 2, a.inexact || y * y !== x);
}

/** The exponent of the leading bit plus one (|a| < 2^top). */
function topOf(a: BF): number {
  return a.m === 0n ? -Infinity : a.e + absBits(a.m);
}


// ---- constants (computed once with 320 fractional bits) ----

const CONST_BITS = 320;

function atanInvFixed(n: bigint): bigint {
  const one = 1n << big(CONST_BITS);
  let sum = 0n;
  let pow = one / n;
  const n2 = n * n;
  for (let k = 0n; pow !== 0n; k++) {
    const t = pow / (2n * k + 1n);
    sum += k & 1n ? -t : t;
    pow /= n2;
  }
  return sum;
}

function atanhInvFixed(n: bigint): bigint {
  const one = 1n << big(CONST_BITS);
  let sum = 0n;
  let pow = one / n;
  const n2 = n * n;
  for (let k = 0n; pow !== 0n; k++) {
    sum += pow / (2n * k + 1n);
    pow /= n2;
  }
  return sum;
}

const PI_FIXED = 16n * atanInvFixed(5n) - 4n * atanInvFixed(239n);
const LN2_FIXED = 2n * atanhInvFixed(3n);
const LN10_FIXED = LN2_FIXED * 3n + 2n * atanhInvFixed(9n);
const PI: BF = bf(PI_FIXED, -CONST_BITS, true);
const LN2: BF = bf(LN2_FIXED, -CONST_BITS, true);
/** The 66-bit pi the x87 uses for FSIN/FCOS/FSINCOS/FPTAN argument reduction (SDM Vol. 1 §8.3.10). */
const PI66_HALF: BF = { m: 0xc90fdaa22168c234cn, e: -67, inexact: false };

/** log2(10), log2(e), pi, log10(2), ln(2) with 320 fractional bits, for FLDL2T..FLDLN2. */
const CONSTANT_FIXED: bigint[] = [
  ((LN10_FIXED << big(CONST_BITS)) / LN2_FIXED),
  ((1n << big(2 * CONST_BITS)) / LN2_FIXED),
  PI_FIXED,
  ((LN2_FIXED << big(CONST_BITS)) / LN10_FIXED),
  LN2_FIXED,
];

/** FLD1 (index 0), FLDL2T (1), FLDL2E (2), FLDPI (3), FLDLG2 (4), FLDLN2 (5), rounded per RC without setting PE. */
export function CONSTANTS(index: number, rc: number): F80 {
  if (index === 0) return ONE;
  const scratch: FpCtx = { rc, masks: 0x3f, flags: 0, roundedUp: false, denormalSource: false };
  return roundToF80(scratch, 0, CONSTANT_FIXED[index - 1]!, -CONST_BITS, true, 64);
}

// ---- elementary functions on BF ----

function bFromF80(v: F80): BF {
  const u = unpack(v);
  return { m: u.sign ? -u.sig : u.sig, e: u.e - 63, inexact: false };
}

function toF80(ctx: FpCtx, x: BF): F80 {
  ctx.flags |= FLAG_PE;
  if (x.m === 0n) return ZERO;
  const neg = x.m < 0n;
  return roundToF80(ctx, neg ? 1 : 0, neg ? -x.m : x.m, x.e, false, 64);
}

// The series below are evaluated in fixed point with FX fractional bits, as factors of the leading term (e.g.
// atanh z = z * (1 + z^2/3 + ...)), so tiny arguments keep their full relative precision. When a series stops, one
// unit in the sign of the first omitted term is added, so a later directed rounding sees which side the value is on.
const FX = 140;
const FX_BIG = BigInt(FX);
const FX_ONE = 1n << FX_BIG;

function toFixed(x: BF): bigint {
  const sh = x.e + FX;
  return sh >= 0 ? x.m << big(sh) : x.m >> big(-sh);
}

function fromFixed(f: bigint): BF {
  return bf(f, -FX, true);
}

/** e^t - 1 for |t| < 1: t * sum t^k / (k + 1)!. */
function expm1Small(t: BF): BF {
  const f = toFixed(t);
  let term = FX_ONE;
  let sum = FX_ONE;
  let k = 2n;
  for (; ; k++) {
    term = (term * f) >> FX_BIG;
    term /= k;
    if (term === 0n) break;
    sum += term;
  }
  sum += f < 0n && (k & 1n) === 0n ? -1n : 1n;
  return bmul(t, fromFixed(sum));
}

/** Sum of (+/-u)^k / (2k + 1) for 0 <= u < 1 in fixed point. */
function oddSeries(u: bigint, alternate: boolean): bigint {
  let pow = FX_ONE;
  let sum = FX_ONE;
  let k = 1n;
  for (; ; k++) {
    pow = (pow * u) >> FX_BIG;
    if (pow === 0n) break;
    const t = pow / (2n * k + 1n);
    sum += alternate && (k & 1n) ? -t : t;
  }
  return sum + (alternate && (k & 1n) ? -1n : 1n);
}

/** atanh(z) for |z| < 1/2. */
function atanhSmall(z: BF): BF {
  return bmul(z, fromFixed(oddSeries(toFixed(bmul(z, z)), false)));
}

/** atan(z) for |z| <= 1/4. */
function atanSmall(z: BF): BF {
  return bmul(z, fromFixed(oddSeries(toFixed(bmul(z, z)), true)));
}

/** atan(z) for 0 <= z <= 1, halving the argument until it is small (slow; builds the table). */
function atan01Slow(z: BF): BF {
  let halvings = 0;
  while (topOf(z) > -2) {
    z = bdiv(z, badd(bint(1), bsqrt(badd(bint(1), bmul(z, z)))));
    halvings++;
  }
  const r = atanSmall(z);
  return { m: r.m, e: r.e + halvings, inexact: r.inexact };
}

/** Tables are indexed by j for the points j/64; arguments are reduced to within 1/128 of a point. */
const STEPS = 64;

function point(j: number): BF {
  return { m: BigInt(j), e: -6, inexact: false };
}

function approx(x: BF): number {
  return Number(x.m) * 2 ** x.e;
}

let atanTable: BF[] | null = null;

/** atan(z) for 0 <= z <= 1: atan(c) + atan((z - c) / (1 + zc)) with c the nearest table point. */
function atan01(z: BF): BF {
  if (!atanTable) {
    atanTable = [];
    for (let j = 0; j <= STEPS; j++) atanTable.push(j === 0 ? bint(0) : atan01Slow(point(j)));
  }
  const j = Math.max(0, Math.min(STEPS, Math.round(approx(z) * STEPS)));
  if (j === 0) return atanSmall(z);
  const c = point(j);
  const u = bdiv(bsub(z, c), badd(bint(1), bmul(z, c)));
  return u.m === 0n ? atanTable[j]! : badd(atanTable[j]!, atanSmall(u));
}

/** 2 / ln 2. */
const TWO_OVER_LN2: BF = bdiv(bint(2), LN2);

let log2Table: BF[] | null = null;

/** log2(x) for x > 0 (exact for powers of two): k + log2(c) + 2 atanh((y - c) / (y + c)) / ln 2, y = x / 2^k in [1, 2). */
function log2(x: BF): BF {
  if (!log2Table) {
    log2Table = [bint(0)];
    for (let j = 1; j <= STEPS; j++) {
      const c = { m: BigInt(STEPS + j), e: -6, inexact: false };
      log2Table.push(bmul(atanhSmall(bdiv(bsub(c, bint(1)), badd(c, bint(1)))), TWO_OVER_LN2));
    }
  }
  const k = topOf(x) - 1;
  const y: BF = { m: x.m, e: x.e - k, inexact: x.inexact };
  const j = Math.max(0, Math.min(STEPS - 1, Math.floor((approx(y) - 1) * STEPS)));
  const c = { m: BigInt(STEPS + j), e: -6, inexact: false };
  const z = bdiv(bsub(y, c), badd(y, c));
  let r = badd(bint(k), log2Table[j]!);
  if (z.m !== 0n) r = badd(r, bmul(atanhSmall(z), TWO_OVER_LN2));
  return r;
}

/** log2(1 + x) for |x| < 1 - sqrt(2)/2. */
function log2p1(x: BF): BF {
  const z = bdiv(x, badd(bint(2), x));
  return bmul(atanhSmall(z), TWO_OVER_LN2);
}

/** 2^x - 1. */
let exp2Table: BF[] | null = null;

/** 2^x - 1: for |x| <= 1, 2^c * (2^(x - c) - 1) + (2^c - 1) with c the nearest table point. */
function exp2m1(x: BF): BF {
  const t = topOf(x);
  if (t <= -7) return expm1Small(bmul(x, LN2));
  if (t <= 0) {
    if (!exp2Table) {
      exp2Table = [];
      for (let j = -STEPS; j <= STEPS; j++) exp2Table.push(expm1Small(bmul(point(j), LN2)));
    }
    const j = Math.max(-STEPS, Math.min(STEPS, Math.round(approx(x) * STEPS)));
    const em1 = exp2Table[j + STEPS]!;
    const f = bsub(x, point(j));
    if (f.m === 0n) return em1;
    return badd(bmul(badd(em1, bint(1)), expm1Small(bmul(f, LN2))), em1);
  }
  // |x| >= 1 (outside F2XM1's defined range): 2^n * 2^f - 1 with f in [0, 1).
  const neg = x.m < 0n;
  const sh = -x.e;
  let n: bigint;
  if (sh <= 0) n = x.m << big(-sh);
  else n = neg ? -((-x.m + (1n << big(sh)) - 1n) >> big(sh)) : x.m >> big(sh);
  if (n > 20000n) return { m: 1n, e: 20000, inexact: true };
  if (n < -20000n) return { m: -1n, e: 0, inexact: true };
  const f = badd(x, bneg({ m: n, e: 0, inexact: false }));
  const p = badd(expm1Small(bmul(f, LN2)), bint(1));
  return badd({ m: p.m, e: p.e + Number(n), inexact: p.inexact }, bint(-1));
}

interface SinCos {
  sin: BF;
  cos: BF;
}

let sinCosTable: SinCos[] | null = null;

/** sin and cos of r for |r| <= pi/4 (about): sin/cos(c + t) from the table point c and the small t. */
function sinCosReduced(r: BF): SinCos {
  const j = Math.round(approx(r) * STEPS);
  if (j === 0) return sinCosSmall(r);
  if (!sinCosTable) {
    sinCosTable = [];
    for (let i = 0; i <= STEPS; i++) sinCosTable.push(sinCosSmall(point(i)));
  }
  const entry = sinCosTable[Math.abs(j)]!;
  const sa = j < 0 ? bneg(entry.sin) : entry.sin;
  const ca = entry.cos;
  const t = bsub(r, point(j));
  if (t.m === 0n) return { sin: sa, cos: ca };
  const st = sinCosSmall(t);
  return {
    sin: badd(bmul(sa, st.cos), bmul(ca, st.sin)),
    cos: bsub(bmul(ca, st.cos), bmul(sa, st.sin)),
  };
}

/** sin and cos of r by their series (|r| <= 1): sin r = r * sum (-r^2)^k / (2k + 1)!, cos r = sum (-r^2)^k / (2k)!. */
function sinCosSmall(r: BF): SinCos {
  const u = toFixed(bmul(r, r));
  let sterm = FX_ONE;
  let sfac = FX_ONE;
  let cterm = FX_ONE;
  let cos = FX_ONE;
  let sJam = 0n;
  for (let k = 1n; cterm !== 0n || sterm !== 0n; k++) {
    const sign = k & 1n ? -1n : 1n;
    if (cterm !== 0n) {
      cterm = ((cterm * u) >> FX_BIG) / ((2n * k - 1n) * (2n * k));
      cos += cterm === 0n ? sign : sign * cterm;
    }
    if (sterm !== 0n) {
      sterm = ((sterm * u) >> FX_BIG) / ((2n * k) * (2n * k + 1n));
      if (sterm === 0n) sJam = sign;
      else sfac += sign * sterm;
    }
  }
  return { sin: bmul(r, fromFixed(sfac + sJam)), cos: fromFixed(cos) };
}

/** sin and cos of x, reduced modulo the 66-bit pi/2 exactly like the hardware. */
function sinCos(x: BF): SinCos {
  // k = nearest integer to x / (pi66/2); r = x - k * pi66/2 computed exactly.
  let k: bigint;
  const xNum = approx(x);
  if (Math.abs(xNum) < 2 ** 40) {
    k = BigInt(Math.round(xNum / (Math.PI / 2)));
  } else {
    const qApprox = bdiv(x, PI66_HALF);
    const sh = -qApprox.e;
    if (sh <= 0) k = qApprox.m << big(-sh);
    else k = (qApprox.m + (1n << big(sh - 1))) >> big(sh);
  }
  let r: BF = x;
  if (k !== 0n) {
    const e = Math.min(x.e, PI66_HALF.e);
    const exact = (x.m << big(x.e - e)) - ((k * PI66_HALF.m) << big(PI66_HALF.e - e));
    r = bf(exact, e, x.inexact);
  }
  const sc = sinCosReduced(r);
  switch (Number(BigInt.asUintN(2, k))) {
    case 0: return sc;
    case 1: return { sin: sc.cos, cos: bneg(sc.sin) };
    case 2: return { sin: bneg(sc.sin), cos: bneg(sc.cos) };
    default: return { sin: bneg(sc.cos), cos: sc.sin };
  }
}

// ---- instructions ----

export interface TranscendentalResult {
  /** The new ST(0) (F2XM1, FSIN, FCOS, FPTAN's tangent, FSINCOS's sine), or ST(1) for FYL2X/FYL2XP1/FPATAN; null = operand out of range (C2 = 1). */
  r0: F80 | null;
  /** The value pushed by FPTAN (1.0) and FSINCOS (the cosine). */
  r1?: F80;
}

function invalid(ctx: FpCtx): F80 {
  ctx.flags |= FLAG_IE;
  return INDEFINITE;
}

function zeroOf(sign: number): F80 {
  return sign ? NEG_ZERO : ZERO;
}

function infOf(sign: number): F80 {
  return sign ? NEG_INF : INF;
}

function unaryNaN(ctx: FpCtx, a: F80, ka: Kind): F80 | null {
  if (ka === Kind.Unsupported) return invalid(ctx);
  if (ka === Kind.SNaN) {
    ctx.flags |= FLAG_IE;
    return quiet(a);
  }
  return ka === Kind.QNaN ? a : null;
}

/** |x| >= 2^63: FSIN/FCOS/FSINCOS/FPTAN leave the operand alone and set C2. */
function outOfRange(a: F80): boolean {
  return (a.se & 0x7fff) >= BIAS + 63;
}

/** modrm selects the D9 Ex/Fx instruction; st0 and st1 are ST(0) and ST(1). */
export function transcendental(ctx: FpCtx, modrm: number, st0: F80, st1: F80): TranscendentalResult {
  const k0 = classify(st0);
  switch (modrm) {
    case 0xf0: {
      const nan = unaryNaN(ctx, st0, k0);
      if (nan) return { r0: nan };
      if (k0 === Kind.Zero) return { r0: st0 };
      if (k0 === Kind.Inf) return { r0: signOf(st0) ? f80(1, BIAS, 0x8000000000000000n) : st0 };
      if (k0 === Kind.Denormal) ctx.flags |= FLAG_DE;
      if ((st0.se & 0x7fff) >= BIAS && !((st0.se & 0x7fff) === BIAS && st0.sig === 0x8000000000000000n)) {
        // |x| > 1 is outside F2XM1's domain: this CPU returns the operand unchanged and reports PE.
        ctx.flags |= FLAG_PE;
        return { r0: st0 };
      }
      return { r0: toF80(ctx, exp2m1(bFromF80(st0))) };
    }
    case 0xfe:
    case 0xff:
    case 0xf2:
    case 0xfb: {
      const nan = unaryNaN(ctx, st0, k0);
      if (nan) return { r0: nan, r1: nan };
      if (k0 === Kind.Inf) {
        const ind = invalid(ctx);
        return { r0: ind, r1: ind };
      }
      if (k0 !== Kind.Zero && outOfRange(st0)) return { r0: null };
      if (k0 === Kind.Denormal) ctx.flags |= FLAG_DE;
      if (k0 === Kind.Zero) {
        if (modrm === 0xfe) return { r0: st0 };
        if (modrm === 0xff) return { r0: ONE };
        return { r0: st0, r1: ONE };
      }
      const sc = sinCos(bFromF80(st0));
      if (modrm === 0xfe) return { r0: toF80(ctx, sc.sin) };
      if (modrm === 0xff) return { r0: toF80(ctx, sc.cos) };
      if (modrm === 0xf2) {
        const tan = toF80(ctx, bdiv(sc.sin, sc.cos));
        return { r0: tan, r1: ONE };
      }
      const sin = toF80(ctx, sc.sin);
      const up = ctx.roundedUp;
      const cos = toF80(ctx, sc.cos);
      ctx.roundedUp = up;
      return { r0: sin, r1: cos };
    }
    case 0xf1:
    case 0xf9:
      return { r0: yl2x(ctx, st1, st0, modrm === 0xf9) };
    default:
      return { r0: patan(ctx, st1, st0) };
  }
}

/** FYL2X: y * log2(x); FYL2XP1: y * log2(x + 1). */
function yl2x(ctx: FpCtx, y: F80, x: F80, plusOne: boolean): F80 {
  const kx = classify(x);
  const ky = classify(y);
  const nan = propagateNaN(ctx, x, kx, y, ky);
  if (nan) return nan;
  const sx = signOf(x);
  const sy = signOf(y);
  // The logarithm as a sign and a class: its value is only needed when finite and nonzero.
  let logSign: number;
  let logKind: Kind;
  if (plusOne) {
    if (kx === Kind.Inf && sx) return invalid(ctx);
    logSign = sx;
    logKind = kx === Kind.Zero ? Kind.Zero : kx === Kind.Inf ? Kind.Inf : Kind.Normal;
  } else {
    if (sx && kx !== Kind.Zero) return invalid(ctx);
    if (kx === Kind.Zero) {
      logSign = 1;
      logKind = Kind.Inf;
    } else if (kx === Kind.Inf) {
      logSign = 0;
      logKind = Kind.Inf;
    } else {
      const u = unpack(x);
      const isOne = u.e === 0 && u.sig === 0x8000000000000000n;
      logSign = u.e < 0 ? 1 : 0;
      logKind = isOne ? Kind.Zero : Kind.Normal;
    }
  }
  const sign = logSign ^ sy;
  if (logKind === Kind.Inf) {
    if (ky === Kind.Zero) return invalid(ctx);
    if (ky === Kind.Denormal || kx === Kind.Denormal) ctx.flags |= FLAG_DE;
    if (kx === Kind.Zero && ky !== Kind.Inf && !plusOne) ctx.flags |= FLAG_ZE;
    return infOf(sign);
  }
  if (ky === Kind.Inf) {
    if (logKind === Kind.Zero) return invalid(ctx);
    if (kx === Kind.Denormal) ctx.flags |= FLAG_DE;
    return infOf(sign);
  }
  if (kx === Kind.Denormal || ky === Kind.Denormal) ctx.flags |= FLAG_DE;
  if (logKind === Kind.Zero || ky === Kind.Zero) return zeroOf(sign);
  let lg: BF;
  if (plusOne) {
    // FYL2XP1 is defined for |x| < 1 - sqrt(2)/2; beyond that, log2(1 + x) is used while 1 + x > 0, and this CPU's
    // answer for x <= -1 (the operand x itself) otherwise.
    const bx = bFromF80(x);
    if ((x.se & 0x7fff) < BIAS - 2) lg = log2p1(bx);
    else {
      const onePlus = badd(bint(1), bx);
      if (onePlus.m <= 0n) return toF80(ctx, bx);
      lg = log2(onePlus);
    }
  } else {
    lg = log2(bFromF80(x));
  }
  return toF80(ctx, bmul(bFromF80(y), lg));
}

/** FPATAN: atan2(y, x), the angle of the point (x, y). */
function patan(ctx: FpCtx, y: F80, x: F80): F80 {
  const kx = classify(x);
  const ky = classify(y);
  const nan = propagateNaN(ctx, x, kx, y, ky);
  if (nan) return nan;
  if (kx === Kind.Denormal || ky === Kind.Denormal) ctx.flags |= FLAG_DE;
  const sx = signOf(x);
  const sy = signOf(y);
  let angle: BF;
  if (ky === Kind.Zero || (kx === Kind.Inf && ky !== Kind.Inf)) {
    if (!sx) return zeroOf(sy);
    angle = PI;
  } else if (kx === Kind.Zero || (ky === Kind.Inf && kx !== Kind.Inf)) {
    angle = { m: PI.m, e: PI.e - 1, inexact: true };
  } else if (kx === Kind.Inf) {
    angle = { m: PI.m, e: PI.e - 2, inexact: true };
    if (sx) angle = bsub(PI, angle);
  } else {
    const ax = bFromF80(f80(0, x.se & 0x7fff, x.sig));
    const ay = bFromF80(f80(0, y.se & 0x7fff, y.sig));
    const ux = unpack(x);
    const uy = unpack(y);
    const yBigger = uy.e > ux.e || (uy.e === ux.e && uy.sig > ux.sig);
    if (yBigger) angle = bsub({ m: PI.m, e: PI.e - 1, inexact: true }, atan01(bdiv(ax, ay)));
    else angle = atan01(bdiv(ay, ax));
    if (sx) angle = bsub(PI, angle);
  }
  if (sy) angle = bneg(angle);
  return toF80(ctx, angle);
}
