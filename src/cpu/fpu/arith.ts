// x87 arithmetic on 80-bit values: exact BigInt computation, one rounding (Intel SDM Vol. 1 §4.8, §4.9, §8.5;
// Vol. 2 instruction pages for the special-operand tables).

import {
  BIAS, FLAG_DE, SIG_INT_BIT, FLAG_IE, FLAG_ZE, INDEFINITE, INF, Kind, NEG_INF, NEG_ZERO, RC_DOWN, ZERO, big, bitLength, classify, f80, pow2,
  fromInt, isNaNKind, packF80, quiet, roundToF80, roundToInteger, signOf, unpack,
} from './float80.ts';
import type { F80, FpCtx } from './float80.ts';

/** Comparison results in C3 C2 C0 / ZF PF CF order. */
export const CMP_GT = 0;
export const CMP_LT = 1;
export const CMP_EQ = 2;
export const CMP_UNORDERED = 3;

const POW2_66 = 1n << 66n;
const POW2_127 = 1n << 127n;

function zeroOf(sign: number): F80 {
  return sign ? NEG_ZERO : ZERO;
}

function infOf(sign: number): F80 {
  return sign ? NEG_INF : INF;
}

/** The NaN a two-operand instruction returns (SDM Vol. 1 Table 4-7), or null when neither operand is a NaN or unsupported. */
export function propagateNaN(ctx: FpCtx, a: F80, ka: Kind, b: F80, kb: Kind): F80 | null {
  if (ka === Kind.Unsupported || kb === Kind.Unsupported) {
    ctx.flags |= FLAG_IE;
    return INDEFINITE;
  }
  const aNaN = ka === Kind.QNaN || ka === Kind.SNaN;
  const bNaN = kb === Kind.QNaN || kb === Kind.SNaN;
  if (!aNaN && !bNaN) return null;
  if (ka === Kind.SNaN || kb === Kind.SNaN) ctx.flags |= FLAG_IE;
  if (aNaN && bNaN) {
    if (ka !== kb) return ka === Kind.QNaN ? a : b;
    if (a.sig !== b.sig) return quiet(a.sig > b.sig ? a : b);
    return quiet(signOf(a) === 0 ? a : b);
  }
  return quiet(aNaN ? a : b);
}

function unaryNaN(ctx: FpCtx, a: F80, ka: Kind): F80 | null {
  if (ka === Kind.Unsupported) {
    ctx.flags |= FLAG_IE;
    return INDEFINITE;
  }
  if (ka === Kind.SNaN) {
    ctx.flags |= FLAG_IE;
    return quiet(a);
  }
  return ka === Kind.QNaN ? a : null;
}

function invalid(ctx: FpCtx): F80 {
  ctx.flags |= FLAG_IE;
  return INDEFINITE;
}

/** Rounds an operand to precision p (x + 0 and similar). */
function roundValue(ctx: FpCtx, v: F80, sign: number, p: number): F80 {
  const u = unpack(v);
  return roundToF80(ctx, sign, u.sig, u.e - 63, false, p);
}

/** a + b, or a - b when subtract; p is the precision-control width. */
export function add(ctx: FpCtx, a: F80, b: F80, subtract: boolean, p: number, aDen = false, bDen = false): F80 {
  const ka = classify(a);
  const kb = classify(b);
  const nan = propagateNaN(ctx, a, ka, b, kb);
  if (nan) return nan;
  const sa = signOf(a);
  const sb = signOf(b) ^ (subtract ? 1 : 0);
  if (ka === Kind.Inf || kb === Kind.Inf) {
    if (ka === Kind.Inf && kb === Kind.Inf && sa !== sb) return invalid(ctx);
    if (ka === Kind.Denormal || kb === Kind.Denormal || aDen || bDen) ctx.flags |= FLAG_DE;
    return ka === Kind.Inf ? infOf(sa) : infOf(sb);
  }
  if (ka === Kind.Denormal || kb === Kind.Denormal || aDen || bDen) ctx.flags |= FLAG_DE;
  if (ka === Kind.Zero) {
    if (kb === Kind.Zero) return zeroOf(sa === sb ? sa : ctx.rc === RC_DOWN ? 1 : 0);
    return roundValue(ctx, b, sb, p);
  }
  if (kb === Kind.Zero) return roundValue(ctx, a, sa, p);
  let ua = unpack(a, ka);
  let ub = unpack(b, kb);
  let signA = sa;
  let signB = sb;
  if (ua.e < ub.e) {
    const t = ua;
    ua = ub;
    ub = t;
    signA = sb;
    signB = sa;
  }
  const d = ua.e - ub.e;
  let ma: bigint;
  let mb: bigint;
  let q: number;
  if (d <= 70) {
    ma = ua.sig << big(d);
    mb = ub.sig;
    q = ub.e - 63;
  } else {
    // b lies wholly below the rounding position: it only acts as a sticky bit.
    ma = ua.sig << 3n;
    mb = 1n;
    q = ua.e - 66;
  }
  let mag: bigint;
  let sign = signA;
  if (signA === signB) {
    mag = ma + mb;
    if (d <= 70) return roundToF80(ctx, sign, mag, q, false, p, mag >= pow2(64 + d) ? 65 + d : 64 + d);
  } else {
    mag = ma - mb;
    if (mag < 0n) {
      mag = -mag;
      sign = signB;
    } else if (mag === 0n) {
      return zeroOf(ctx.rc === RC_DOWN ? 1 : 0);
    }
  }
  return roundToF80(ctx, sign, mag, q, false, p);
}

export function mul(ctx: FpCtx, a: F80, b: F80, p: number, aDen = false, bDen = false): F80 {
  const ka = classify(a);
  const kb = classify(b);
  const nan = propagateNaN(ctx, a, ka, b, kb);
  if (nan) return nan;
  const sign = signOf(a) ^ signOf(b);
  if (ka === Kind.Inf || kb === Kind.Inf) {
    if (ka === Kind.Zero || kb === Kind.Zero) return invalid(ctx);
    if (ka === Kind.Denormal || kb === Kind.Denormal || aDen || bDen) ctx.flags |= FLAG_DE;
    return infOf(sign);
  }
  if (ka === Kind.Denormal || kb === Kind.Denormal || aDen || bDen) ctx.flags |= FLAG_DE;
  if (ka === Kind.Zero || kb === Kind.Zero) return zeroOf(sign);
  const ua = unpack(a, ka);
  const ub = unpack(b, kb);
  const prod = ua.sig * ub.sig;
  return roundToF80(ctx, sign, prod, ua.e + ub.e - 126, false, p, prod >= POW2_127 ? 128 : 127);
}

export function div(ctx: FpCtx, a: F80, b: F80, p: number, aDen = false, bDen = false): F80 {
  const ka = classify(a);
  const kb = classify(b);
  const nan = propagateNaN(ctx, a, ka, b, kb);
  if (nan) return nan;
  const sign = signOf(a) ^ signOf(b);
  if (ka === Kind.Inf) {
    if (kb === Kind.Inf) return invalid(ctx);
    if (kb === Kind.Denormal || bDen) ctx.flags |= FLAG_DE;
    return infOf(sign);
  }
  if (kb === Kind.Inf) {
    if (ka === Kind.Denormal || aDen) ctx.flags |= FLAG_DE;
    return zeroOf(sign);
  }
  if (kb === Kind.Zero) {
    if (ka === Kind.Zero) return invalid(ctx);
    ctx.flags |= FLAG_ZE;
    return infOf(sign);
  }
  if (ka === Kind.Denormal || kb === Kind.Denormal || aDen || bDen) ctx.flags |= FLAG_DE;
  if (ka === Kind.Zero) return zeroOf(sign);
  const ua = unpack(a, ka);
  const ub = unpack(b, kb);
  const num = ua.sig << 66n;
  const quo = num / ub.sig;
  return roundToF80(ctx, sign, quo, ua.e - ub.e - 66, quo * ub.sig !== num, p, quo >= POW2_66 ? 67 : 66);
}

/** Integer square root (floor) of a non-negative BigInt. */
export function isqrt(x: bigint): bigint {
  if (x < 2n) return x;
  // The double estimate is good to 53 bits, so one Newton step suffices for the roots of up to ~200-bit x used here.
  let y = BigInt(Math.floor(Math.sqrt(Number(x))));
  if (y === 0n) y = 1n;
  y = (y + x / y) >> 1n;
  while (y * y > x) y--;
  while ((y + 1n) * (y + 1n) <= x) y++;
  return y;
}

export function sqrt(ctx: FpCtx, a: F80, p: number): F80 {
  const ka = classify(a);
  const nan = unaryNaN(ctx, a, ka);
  if (nan) return nan;
  if (ka === Kind.Zero) return a;
  if (signOf(a)) return invalid(ctx);
  if (ka === Kind.Inf) return a;
  if (ka === Kind.Denormal) ctx.flags |= FLAG_DE;
  const u = unpack(a);
  const k = (u.e - 63 - 68) & 1 ? 69 : 68;
  const x = u.sig << big(k);
  const root = isqrt(x);
  return roundToF80(ctx, 0, root, (u.e - 63 - k) / 2, root * root !== x, p);
}

/** Orders two values; NaNs and unsupported formats are unordered and raise IE unless unorderedOk and quiet. */
export function compare(ctx: FpCtx, a: F80, b: F80, unorderedOk: boolean, bDen = false): number {
  const ka = classify(a);
  const kb = classify(b);
  if (ka === Kind.Unsupported || kb === Kind.Unsupported) {
    ctx.flags |= FLAG_IE;
    return CMP_UNORDERED;
  }
  if (isNaNKind(ka) || isNaNKind(kb)) {
    if (!unorderedOk || ka === Kind.SNaN || kb === Kind.SNaN) ctx.flags |= FLAG_IE;
    return CMP_UNORDERED;
  }
  if (ka === Kind.Denormal || kb === Kind.Denormal || bDen) ctx.flags |= FLAG_DE;
  return compareOrdered(a, ka, b, kb);
}

function compareOrdered(a: F80, ka: Kind, b: F80, kb: Kind): number {
  const sa = signOf(a);
  const sb = signOf(b);
  if (ka === Kind.Zero && kb === Kind.Zero) return CMP_EQ;
  if (ka === Kind.Zero) return sb ? CMP_GT : CMP_LT;
  if (kb === Kind.Zero) return sa ? CMP_LT : CMP_GT;
  if (sa !== sb) return sa ? CMP_LT : CMP_GT;
  let c: number;
  if (ka === Kind.Inf || kb === Kind.Inf) {
    c = ka === kb ? 0 : ka === Kind.Inf ? 1 : -1;
  } else {
    const ua = unpack(a);
    const ub = unpack(b);
    c = ua.e !== ub.e ? (ua.e > ub.e ? 1 : -1) : ua.sig === ub.sig ? 0 : ua.sig > ub.sig ? 1 : -1;
  }
  if (c === 0) return CMP_EQ;
  return (c > 0) !== (sa === 1) ? CMP_GT : CMP_LT;
}

/** FRNDINT (64-bit precision, rounding control). */
export function roundInt(ctx: FpCtx, a: F80): F80 {
  const ka = classify(a);
  const nan = unaryNaN(ctx, a, ka);
  if (nan) return nan;
  if (ka === Kind.Zero || ka === Kind.Inf) return a;
  if (ka === Kind.Denormal) ctx.flags |= FLAG_DE;
  const u = unpack(a);
  if (u.e >= 63) return a;
  const n = roundToInteger(ctx, a);
  const kept = n < 0n ? -n : n;
  return packF80({ sign: u.sign, inf: false, kept, lsb: 0, e: bitLength(kept) - 1 });
}

/** FSCALE: a * 2^trunc(b). */
export function scale(ctx: FpCtx, a: F80, b: F80): F80 {
  const ka = classify(a);
  const kb = classify(b);
  const nan = propagateNaN(ctx, a, ka, b, kb);
  if (nan) return nan;
  const sb = signOf(b);
  if (ka === Kind.Inf) {
    if (kb === Kind.Inf && sb) return invalid(ctx);
    if (kb === Kind.Denormal) ctx.flags |= FLAG_DE;
    return a;
  }
  if (ka === Kind.Zero) {
    if (kb === Kind.Inf && !sb) return invalid(ctx);
    if (kb === Kind.Denormal) ctx.flags |= FLAG_DE;
    return a;
  }
  if (ka === Kind.Denormal || kb === Kind.Denormal) ctx.flags |= FLAG_DE;
  if (kb === Kind.Inf) return sb ? zeroOf(signOf(a)) : infOf(signOf(a));
  let n = 0;
  if (kb !== Kind.Zero && kb !== Kind.Denormal) {
    const ub = unpack(b);
    if (ub.e >= 20) n = sb ? -(1 << 20) : 1 << 20;
    else n = Number(ub.sig >> big(63 - ub.e)) * (sb ? -1 : 1);
  }
  const ua = unpack(a);
  return roundToF80(ctx, ua.sign, ua.sig, ua.e - 63 + n, false, 64);
}

export interface ExtractResult {
  exponent: F80;
  significand: F80;
}

/** FXTRACT. */
export function extract(ctx: FpCtx, a: F80): ExtractResult {
  const ka = classify(a);
  const nan = unaryNaN(ctx, a, ka);
  if (nan) return { exponent: nan, significand: nan };
  const sign = signOf(a);
  if (ka === Kind.Zero) {
    ctx.flags |= FLAG_ZE;
    return { exponent: NEG_INF, significand: a };
  }
  if (ka === Kind.Inf) return { exponent: INF, significand: a };
  if (ka === Kind.Denormal) ctx.flags |= FLAG_DE;
  const u = unpack(a);
  return { exponent: fromInt(BigInt(u.e)), significand: f80(sign, BIAS, u.sig) };
}

export interface RemainderResult {
  value: F80;
  /** Low three quotient bits (C0 = Q2, C3 = Q1, C1 = Q0). */
  quotient: number;
  /** Partial remainder (C2). */
  partial: boolean;
  /** A NaN or invalid operand: the quotient bits are not reported. */
  special?: boolean;
}

/** FPREM (truncating quotient) and FPREM1 (IEEE, quotient rounded to nearest even). */
export function remainder(ctx: FpCtx, a: F80, b: F80, ieee: boolean): RemainderResult {
  const ka = classify(a);
  const kb = classify(b);
  const nan = propagateNaN(ctx, a, ka, b, kb);
  if (nan) return { value: nan, quotient: 0, partial: false, special: true };
  if (ka === Kind.Inf || kb === Kind.Zero) return { value: invalid(ctx), quotient: 0, partial: false, special: true };
  if (ka === Kind.Denormal || kb === Kind.Denormal) ctx.flags |= FLAG_DE;
  if (ka === Kind.Zero) return { value: a, quotient: 0, partial: false };
  if (kb === Kind.Inf) {
    // The remainder is the dividend, normalized: a pseudo-denormal (exponent 0, integer bit set) comes back with exponent 1.
    const pseudo = ka === Kind.Denormal && (a.sig & SIG_INT_BIT) !== 0n;
    return { value: pseudo ? f80(a.se >> 15, 1, a.sig) : a, quotient: 0, partial: false };
  }
  const ua = unpack(a, ka);
  const ub = unpack(b, kb);
  const d = ua.e - ub.e;
  if (d >= 64) {
    const n = 32 + (d & 31);
    const num = ua.sig << big(n);
    const qq = num / ub.sig;
    const r = num - qq * ub.sig;
    const value = r === 0n ? zeroOf(ua.sign) : roundToF80(ctx, ua.sign, r, ua.e - 63 - n, false, 64);
    return { value, quotient: 0, partial: true };
  }
  let num: bigint;
  let den: bigint;
  let q: number;
  if (d >= 0) {
    num = ua.sig << big(d);
    den = ub.sig;
    q = ub.e - 63;
  } else {
    num = ua.sig;
    den = ub.sig << big(-d);
    q = ua.e - 63;
  }
  let quo = num / den;
  let r = num - quo * den;
  let sign = ua.sign;
  if (ieee) {
    const twice = r << 1n;
    if (twice > den || (twice === den && (quo & 1n) === 1n)) {
      quo += 1n;
      r = den - r;
      sign ^= 1;
    }
  }
  const value = r === 0n ? zeroOf(ua.sign) : roundToF80(ctx, sign, r, q, false, 64);
  return { value, quotient: Number(quo & 7n), partial: false };
}
