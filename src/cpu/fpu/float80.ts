// The x87 double extended-precision format and conversions to and from memory formats
// (Intel SDM Vol. 1 §4.2, §4.8, §8.2). All arithmetic on significands is exact BigInt arithmetic;
// every result is rounded once by roundPack().

/** An 80-bit register value: se = sign << 15 | biased exponent; sig = the 64-bit significand with its explicit integer bit (63). */
export interface F80 {
  readonly se: number;
  readonly sig: bigint;
}

export const BIAS = 16383;
export const EMIN = -16382;
export const EMAX = 16383;
export const EXP_ALL_ONES = 0x7fff;
export const SIG_INT_BIT = 0x8000000000000000n;
export const SIG_QUIET_BIT = 0x4000000000000000n;
export const SIG_MASK = 0xffffffffffffffffn;

/** Exception flags in their FSW bit positions. */
export const FLAG_IE = 0x01;
export const FLAG_DE = 0x02;
export const FLAG_ZE = 0x04;
export const FLAG_OE = 0x08;
export const FLAG_UE = 0x10;
export const FLAG_PE = 0x20;
export const FLAG_SF = 0x40;

/** Rounding control (FCW bits 10-11). */
export const RC_NEAREST = 0;
export const RC_DOWN = 1;
export const RC_UP = 2;
export const RC_ZERO = 3;

/** Unmasked overflow/underflow results delivered to a register have their exponent adjusted by this (SDM Vol. 1 §4.9.1.4). */
export const EXP_BIAS_ADJUST = 0x6000;

export const enum Kind {
  Zero,
  Normal,
  /** Denormal or pseudo-denormal (exponent 0). */
  Denormal,
  Inf,
  QNaN,
  SNaN,
  /** Unnormal, pseudo-NaN, pseudo-infinity: invalid operands since the 387 (SDM Vol. 1 §8.2.2). */
  Unsupported,
}

/** Rounding and exception context of one operation; flags accumulate in FSW bit positions. */
export interface FpCtx {
  rc: number;
  /** FCW exception masks (bits 0-5). */
  masks: number;
  flags: number;
  /** The rounded result's magnitude is larger than the exact one (reported in C1). */
  roundedUp: boolean;
  /** Set by fromF32/fromF64 for a denormal source: the operand is normal in 80 bits but still counts as denormal. */
  denormalSource: boolean;
}

export function f80(sign: number, exp: number, sig: bigint): F80 {
  return { se: (sign << 15) | exp, sig };
}

export const ZERO: F80 = f80(0, 0, 0n);
export const NEG_ZERO: F80 = f80(1, 0, 0n);
export const ONE: F80 = f80(0, BIAS, SIG_INT_BIT);
export const INF: F80 = f80(0, EXP_ALL_ONES, SIG_INT_BIT);
export const NEG_INF: F80 = f80(1, EXP_ALL_ONES, SIG_INT_BIT);
/** The QNaN floating-point indefinite. */
export const INDEFINITE: F80 = f80(1, EXP_ALL_ONES, 0xc000000000000000n);

export function signOf(v: F80): number {
  return v.se >>> 15;
}

export function expOf(v: F80): number {
  return v.se & 0x7fff;
}

export function classify(v: F80): Kind {
  const exp = v.se & 0x7fff;
  const sig = v.sig;
  if (exp === 0) return sig === 0n ? Kind.Zero : Kind.Denormal;
  if (sig < SIG_INT_BIT) return Kind.Unsupported;
  if (exp === EXP_ALL_ONES) {
    if (sig === SIG_INT_BIT) return Kind.Inf;
    return sig & SIG_QUIET_BIT ? Kind.QNaN : Kind.SNaN;
  }
  return Kind.Normal;
}

export function isNaNKind(k: Kind): boolean {
  return k === Kind.QNaN || k === Kind.SNaN;
}

export function withSign(v: F80, sign: number): F80 {
  return { se: (v.se & 0x7fff) | (sign << 15), sig: v.sig };
}

export function quiet(v: F80): F80 {
  return { se: v.se, sig: v.sig | SIG_QUIET_BIT };
}

const BIG: bigint[] = [];
const LOW_MASK: bigint[] = [];
for (let i = 0; i <= 320; i++) {
  BIG.push(BigInt(i));
  LOW_MASK.push((1n << BigInt(i)) - 1n);
}

export function big(n: number): bigint {
  return n >= 0 && n <= 320 ? BIG[n]! : BigInt(n);
}

export function lowMask(n: number): bigint {
  return n <= 320 ? LOW_MASK[n]! : (1n << BigInt(n)) - 1n;
}

const f64Scratch = new Float64Array(1);
const u32Scratch = new Uint32Array(f64Scratch.buffer);
const POW2: bigint[] = [];
for (let i = 0; i <= 1100; i++) POW2.push(1n << BigInt(i));

/** Number of significant bits of a non-negative BigInt (0 for 0). */
export function bitLength(x: bigint): number {
  if (x === 0n) return 0;
  f64Scratch[0] = Number(x);
  let e = (u32Scratch[1]! >>> 20) - 1023;
  // Number(x) may have rounded up to the next power of two.
  if (e >= 53 && x < POW2[e]!) e--;
  return e + 1;
}

/** A finite rounded value kept * 2^lsb whose leading bit has exponent e, or an infinity. */
export interface Rounded {
  sign: number;
  inf: boolean;
  kept: bigint;
  lsb: number;
  e: number;
}

let rKept = 0n;
let rLsb = 0;
let rInexact = false;
let rUp = false;

/**
 * Rounds mag * 2^q (plus a nonzero fraction below 2^q when sticky) at bit position lsb; n is bitLength(mag). Callers
 * keep at least two bits below lsb. A result that carries into bit p is renormalized (lsb + 1).
 */
function roundAt(mag: bigint, n: number, q: number, sticky: boolean, lsb: number, p: number, sign: number, rc: number): void {
  const shift = lsb - q;
  let kept: bigint;
  let above = false;
  let tie = false;
  let inexact: boolean;
  if (shift <= 0) {
    kept = mag << big(-shift);
    inexact = sticky;
  } else if (shift > n) {
    kept = 0n;
    inexact = mag !== 0n || sticky;
  } else {
    kept = mag >> big(shift);
    const rem = mag & lowMask(shift);
    const half = POW2[shift - 1] ?? 1n << big(shift - 1);
    inexact = rem !== 0n || sticky;
    if (rem > half || (rem === half && sticky)) above = true;
    else if (rem === half) tie = true;
  }
  let up = false;
  if (inexact) {
    switch (rc) {
      case RC_NEAREST:
        up = above || (tie && (kept & 1n) === 1n);
        break;
      case RC_DOWN:
        up = sign === 1;
        break;
      case RC_UP:
        up = sign === 0;
        break;
    }
  }
  if (up) {
    kept += 1n;
    if (p > 0 && kept === POW2[p]) {
      kept >>= 1n;
      lsb++;
    }
  }
  rKept = kept;
  rLsb = lsb;
  rInexact = inexact;
  rUp = up;
}

/**
 * Rounds (-1)^sign * mag * 2^q (+ sticky fraction) to precision p with normal exponents [emin, emax], detecting
 * tininess after rounding as x87 hardware does. biasAdjust is EXP_BIAS_ADJUST for register destinations; for memory
 * destinations it is 0 and null is returned when an unmasked overflow or underflow suppresses the store.
 * n is bitLength(mag) when the caller knows it.
 */
export function roundPack(
  ctx: FpCtx, sign: number, mag: bigint, q: number, sticky: boolean,
  p: number, emin: number, emax: number, biasAdjust: number, n = -1,
): Rounded | null {
  if (mag === 0n) {
    if (!sticky) return { sign, inf: false, kept: 0n, lsb: 0, e: 0 };
    mag = 1n;
    q -= 2;
    n = 1;
  }
  if (n < 0) n = bitLength(mag);
  const e = q + n - 1;
  let tiny = false;
  if (e < emin) {
    tiny = true;
    if (e === emin - 1) {
      roundAt(mag, n, q, sticky, e - p + 1, p, sign, ctx.rc);
      if (rLsb + p - 1 >= emin) tiny = false;
    }
  }
  if (tiny && !(ctx.masks & FLAG_UE)) {
    ctx.flags |= FLAG_UE;
    if (biasAdjust === 0) return null;
    if (e + biasAdjust >= emin) {
      roundAt(mag, n, q, sticky, e - p + 1, p, sign, ctx.rc);
      if (rInexact) ctx.flags |= FLAG_PE;
      ctx.roundedUp = rUp;
      return { sign, inf: false, kept: rKept, lsb: rLsb + biasAdjust, e: rLsb + p - 1 + biasAdjust };
    }
    // Too small even for the adjusted exponent (FSCALE): delivered like the masked response.
  }
  let eR: number;
  if (e >= emin) {
    roundAt(mag, n, q, sticky, e - p + 1, p, sign, ctx.rc);
    eR = rLsb + p - 1;
  } else {
    roundAt(mag, n, q, sticky, emin - p + 1, p, sign, ctx.rc);
    eR = rKept === 0n ? emin : rLsb + bitLength(rKept) - 1;
  }
  if (eR > emax) {
    ctx.flags |= FLAG_OE;
    if (!(ctx.masks & FLAG_OE) && (biasAdjust === 0 || eR - biasAdjust <= emax)) {
      if (biasAdjust === 0) return null;
      if (rInexact) ctx.flags |= FLAG_PE;
      ctx.roundedUp = rUp;
      return { sign, inf: false, kept: rKept, lsb: rLsb - biasAdjust, e: eR - biasAdjust };
    }
    ctx.flags |= FLAG_PE;
    if (!(ctx.masks & FLAG_OE) && biasAdjust !== 0) {
      // Too large even for the adjusted exponent (FSCALE): the CPU delivers a signed infinity, C1 set, whatever the rounding mode.
      ctx.roundedUp = true;
      return { sign, inf: true, kept: 0n, lsb: 0, e: 0 };
    }
    const rc = ctx.rc;
    const toInf = rc === RC_NEAREST || (rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign === 1);
    ctx.roundedUp = toInf;
    if (toInf) return { sign, inf: true, kept: 0n, lsb: 0, e: 0 };
    return { sign, inf: false, kept: lowMask(p), lsb: emax - p + 1, e: emax };
  }
  if (rInexact) {
    ctx.flags |= FLAG_PE;
    if (tiny) ctx.flags |= FLAG_UE;
  }
  ctx.roundedUp = rUp;
  return { sign, inf: false, kept: rKept, lsb: rLsb, e: eR };
}

export function packF80(r: Rounded): F80 {
  if (r.inf) return r.sign ? NEG_INF : INF;
  if (r.kept === 0n) return r.sign ? NEG_ZERO : ZERO;
  const e = r.e;
  if (e < EMIN) {
    // Denormal: integer bit clear, exponent field 0 (value = sig * 2^(EMIN - 63)).
    const sh = r.lsb - (EMIN - 63);
    return f80(r.sign, 0, sh >= 0 ? r.kept << big(sh) : r.kept >> big(-sh));
  }
  const sh = r.lsb - (e - 63);
  const sig = sh === 0 ? r.kept : sh > 0 ? r.kept << big(sh) : r.kept >> big(-sh);
  return f80(r.sign, (e + BIAS) & 0x7fff, sig);
}

/** Rounds an exact value to a register result with precision p (64, or 53/24 under precision control). */
export function roundToF80(ctx: FpCtx, sign: number, mag: bigint, q: number, sticky: boolean, p: number, n = -1): F80 {
  return packF80(roundPack(ctx, sign, mag, q, sticky, p, EMIN, EMAX, EXP_BIAS_ADJUST, n)!);
}

/** A finite nonzero value as sig * 2^(e - 63) with sig normalized (bit 63 set). */
export interface Unpacked {
  sign: number;
  e: number;
  sig: bigint;
}

export function unpack(v: F80, kind?: Kind): Unpacked {
  const exp = v.se & 0x7fff;
  if (kind === Kind.Normal) return { sign: v.se >>> 15, e: exp - BIAS, sig: v.sig };
  let sig = v.sig;
  let e = (exp === 0 ? 1 : exp) - BIAS;
  if (sig < SIG_INT_BIT) {
    const n = bitLength(sig);
    sig <<= big(64 - n);
    e -= 64 - n;
  }
  return { sign: v.se >>> 15, e, sig };
}

// ---- memory formats ----

/** Exact widening; a signaling NaN stays signaling (the instruction decides about IE). Denormal sources raise DE and set ctx.denormalSource. */
export function fromF32(ctx: FpCtx, bits: number): F80 {
  const sign = bits >>> 31;
  const exp = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  if (exp === 0xff) {
    if (frac === 0) return sign ? NEG_INF : INF;
    return f80(sign, EXP_ALL_ONES, SIG_INT_BIT | (BigInt(frac) << 40n));
  }
  if (exp === 0) {
    if (frac === 0) return sign ? NEG_ZERO : ZERO;
    ctx.flags |= FLAG_DE;
    ctx.denormalSource = true;
    const n = 32 - Math.clz32(frac);
    return f80(sign, -126 - (24 - n) + BIAS, BigInt(frac) << big(64 - n));
  }
  return f80(sign, exp - 127 + BIAS, BigInt(frac | 0x800000) << 40n);
}

export function fromF64(ctx: FpCtx, lo: number, hi: number): F80 {
  const sign = hi >>> 31;
  const exp = (hi >>> 20) & 0x7ff;
  const fracHi = hi & 0xfffff;
  if (exp !== 0 && exp !== 0x7ff) {
    // The 53-bit significand times 2^11 is still an exact double, so one BigInt conversion suffices.
    return f80(sign, exp - 1023 + BIAS, BigInt(((fracHi | 0x100000) * 4294967296 + (lo >>> 0)) * 2048));
  }
  const frac = (BigInt(fracHi) << 32n) | BigInt(lo >>> 0);
  if (exp === 0x7ff) {
    if (frac === 0n) return sign ? NEG_INF : INF;
    return f80(sign, EXP_ALL_ONES, SIG_INT_BIT | (frac << 11n));
  }
  if (exp === 0) {
    if (frac === 0n) return sign ? NEG_ZERO : ZERO;
    ctx.flags |= FLAG_DE;
    ctx.denormalSource = true;
    const n = bitLength(frac);
    return f80(sign, -1022 - (53 - n) + BIAS, frac << big(64 - n));
  }
  return f80(sign, exp - 1023 + BIAS, SIG_INT_BIT | (frac << 11n));
}

/** Exact conversion of an integer (|v| < 2^64). */
export function fromInt(v: bigint): F80 {
  if (v === 0n) return ZERO;
  const sign = v < 0n ? 1 : 0;
  const mag = sign ? -v : v;
  const n = bitLength(mag);
  return f80(sign, n - 1 + BIAS, mag << big(64 - n));
}

export function fromInt32(v: number): F80 {
  if (v === 0) return ZERO;
  const sign = v < 0 ? 1 : 0;
  const mag = Math.abs(v);
  const n = mag >= 0x80000000 ? 32 : 32 - Math.clz32(mag);
  return f80(sign, n - 1 + BIAS, BigInt(mag) << big(64 - n));
}

/**
 * Converts a register value to a binary32/binary64 memory format (p, emin, emax, expBits). Returns the encoding as a
 * BigInt, or null when an unmasked exception suppresses the store.
 */
function toBinary(ctx: FpCtx, v: F80, p: number, emin: number, emax: number, expBits: number): bigint | null {
  const kind = classify(v);
  const sign = v.se >>> 15;
  const fracBits = p - 1;
  const signBit = big(sign) << big(expBits + fracBits);
  const expAllOnes = big((1 << expBits) - 1) << big(fracBits);
  switch (kind) {
    case Kind.Zero:
      return signBit;
    case Kind.Inf:
      return signBit | expAllOnes;
    case Kind.SNaN:
    case Kind.QNaN:
    case Kind.Unsupported: {
      if (kind !== Kind.QNaN) {
        ctx.flags |= FLAG_IE;
        if (!(ctx.masks & FLAG_IE)) return null;
      }
      const src = kind === Kind.Unsupported ? INDEFINITE : quiet(v);
      const s = big(src.se >>> 15) << big(expBits + fracBits);
      return s | expAllOnes | ((src.sig >> big(64 - p)) & lowMask(fracBits));
    }
  }
  // A denormal source raises no DE here (only UE/PE from the rounding), as on this CPU.
  const u = unpack(v);
  const r = roundPack(ctx, sign, u.sig, u.e - 63, false, p, emin, emax, 0);
  if (r === null) return null;
  if (r.inf) return signBit | expAllOnes;
  if (r.kept === 0n) return signBit;
  const e = r.e;
  if (e < emin) return signBit | (r.kept << big(r.lsb - (emin - fracBits)));
  const frac = (r.kept << big(r.lsb - (e - fracBits))) & lowMask(fracBits);
  return signBit | (big(e - emin + 1) << big(fracBits)) | frac;
}

export function toF32(ctx: FpCtx, v: F80): number | null {
  const e = (v.se & 0x7fff) - BIAS;
  if (e >= -126 && e <= 127 && v.sig >= SIG_INT_BIT) {
    // Fast path: a normal result; only a carry out of the top exponent takes the general path.
    const sig = v.sig;
    const hi32 = Number(sig >> 32n);
    let mant = hi32 >>> 8;
    const rem = hi32 & 0xff;
    const sticky = (sig & 0xffffffffn) !== 0n;
    let eOut = e;
    let up = false;
    const inexact = rem !== 0 || sticky;
    if (inexact) {
      up = roundsUp(ctx.rc, v.se >>> 15, rem > 0x80 || (rem === 0x80 && sticky), rem === 0x80 && !sticky, mant);
      if (up && ++mant === 0x1000000) {
        mant = 0x800000;
        eOut++;
      }
    }
    if (eOut <= 127) {
      if (inexact) ctx.flags |= FLAG_PE;
      ctx.roundedUp = up;
      return ((v.se >>> 15) << 31) | ((eOut + 127) << 23) | (mant & 0x7fffff);
    }
  }
  const r = toBinary(ctx, v, 24, -126, 127, 8);
  return r === null ? null : Number(r) | 0;
}

function roundsUp(rc: number, sign: number, above: boolean, tie: boolean, kept: number): boolean {
  switch (rc) {
    case RC_NEAREST:
      return above || (tie && (kept & 1) === 1);
    case RC_DOWN:
      return sign === 1;
    case RC_UP:
      return sign === 0;
    default:
      return false;
  }
}

/** The result of toF64Words: the low and high 32-bit words of the binary64 encoding. */
export const f64Words = { lo: 0, hi: 0 };

/** FST m64: the encoding in f64Words, or false when an unmasked exception suppresses the store. */
export function toF64Words(ctx: FpCtx, v: F80): boolean {
  const e = (v.se & 0x7fff) - BIAS;
  if (ctx.rc === RC_NEAREST && e >= -1022 && e < 1023 && v.sig >= SIG_INT_BIT) {
    // Number(bigint) rounds to nearest-even at 53 bits, exactly FST m64's rounding here; mixed comparisons tell
    // whether it was inexact and which way it went. Scaling by a power of two in the normal range is exact.
    const sig = v.sig;
    const d = Number(sig);
    const up = d > sig;
    if (up || d < sig) ctx.flags |= FLAG_PE;
    ctx.roundedUp = up;
    f64Scratch[0] = (v.se & 0x8000 ? -d : d) * 2 ** -63 * 2 ** e;
    f64Words.lo = u32Scratch[0]! | 0;
    f64Words.hi = u32Scratch[1]! | 0;
    return true;
  }
  if (e >= -1022 && e <= 1023 && v.sig >= SIG_INT_BIT) {
    const sig = v.sig;
    const hi32 = Number(sig >> 32n);
    const lo32 = Number(sig & 0xffffffffn);
    // The 53-bit significand: all of hi32 and the top 21 bits of lo32 (exact in a double).
    let mant = hi32 * 2097152 + (lo32 >>> 11);
    const rem = lo32 & 0x7ff;
    let eOut = e;
    let up = false;
    if (rem !== 0) {
      up = roundsUp(ctx.rc, v.se >>> 15, rem > 0x400, rem === 0x400, mant % 2);
      if (up && ++mant === 9007199254740992) {
        mant = 4503599627370496;
        eOut++;
      }
    }
    if (eOut <= 1023) {
      if (rem !== 0) ctx.flags |= FLAG_PE;
      ctx.roundedUp = up;
      f64Words.hi = ((v.se >>> 15) << 31) | ((eOut + 1023) << 20) | (Math.floor(mant / 4294967296) & 0xfffff);
      f64Words.lo = mant >>> 0;
      return true;
    }
  }
  const bits = toBinary(ctx, v, 53, -1022, 1023, 11);
  if (bits === null) return false;
  f64Words.lo = Number(bits & 0xffffffffn) | 0;
  f64Words.hi = Number(bits >> 32n) | 0;
  return true;
}

export function toF64(ctx: FpCtx, v: F80): bigint | null {
  if (!toF64Words(ctx, v)) return null;
  return (BigInt(f64Words.hi >>> 0) << 32n) | BigInt(f64Words.lo >>> 0);
}

export function pow2(n: number): bigint {
  return POW2[n] ?? 1n << BigInt(n);
}

/** Rounds a finite value to an integer per ctx.rc (exact BigInt), reporting PE and C1. */
export function roundToInteger(ctx: FpCtx, v: F80): bigint {
  if (classify(v) === Kind.Zero) return 0n;
  const u = unpack(v);
  const q = u.e - 63;
  if (q >= 0) return u.sign ? -(u.sig << big(q)) : u.sig << big(q);
  roundAt(u.sig, 64, q, false, 0, 0, u.sign, ctx.rc);
  if (rInexact) ctx.flags |= FLAG_PE;
  ctx.roundedUp = rUp;
  return u.sign ? -rKept : rKept;
}

/** FIST/FISTP: integer of the given width, or the integer indefinite (masked invalid), or null (unmasked invalid). */
export function toInt(ctx: FpCtx, v: F80, bits: 16 | 32 | 64): bigint | null {
  const kind = classify(v);
  const indefinite = -(1n << big(bits - 1));
  if (kind === Kind.Inf || kind === Kind.QNaN || kind === Kind.SNaN || kind === Kind.Unsupported) {
    ctx.flags |= FLAG_IE;
    return ctx.masks & FLAG_IE ? indefinite : null;
  }
  const saved = ctx.flags;
  const n = roundToInteger(ctx, v);
  if (n < indefinite || n > -indefinite - 1n) {
    ctx.flags = saved | FLAG_IE;
    ctx.roundedUp = false;
    return ctx.masks & FLAG_IE ? indefinite : null;
  }
  return n;
}

/** The packed BCD indefinite (SDM Vol. 1 §4.7): bytes 7-9 = C0 FF FF. */
export const BCD_INDEFINITE = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];

/** FBSTP: 10 bytes of packed BCD, or null when an unmasked invalid suppresses the store. */
export function toBcd(ctx: FpCtx, v: F80): number[] | null {
  const kind = classify(v);
  if (kind === Kind.Inf || kind === Kind.QNaN || kind === Kind.SNaN || kind === Kind.Unsupported) {
    ctx.flags |= FLAG_IE;
    return ctx.masks & FLAG_IE ? BCD_INDEFINITE.slice() : null;
  }
  const saved = ctx.flags;
  let n = roundToInteger(ctx, v);
  const neg = (v.se >>> 15) === 1;
  if (n < 0n) n = -n;
  if (n > 999999999999999999n) {
    ctx.flags = saved | FLAG_IE;
    ctx.roundedUp = false;
    return ctx.masks & FLAG_IE ? BCD_INDEFINITE.slice() : null;
  }
  const out = new Array<number>(10).fill(0);
  let s = n.toString();
  s = s.padStart(18, '0');
  for (let i = 0; i < 9; i++) {
    const hiDigit = s.charCodeAt(16 - 2 * i) - 48;
    const loDigit = s.charCodeAt(17 - 2 * i) - 48;
    out[i] = (hiDigit << 4) | loDigit;
  }
  out[9] = neg ? 0x80 : 0;
  return out;
}

/** FBLD: 18 digits, sign in bit 7 of byte 9. Nibbles above 9 are taken at face value. */
export function fromBcd(bytes: ArrayLike<number>): F80 {
  let n = 0n;
  let hi = 0;
  let lo = 0;
  for (let i = 8; i >= 0; i--) {
    const b = bytes[i]!;
    if (i >= 5) hi = hi * 100 + (b >> 4) * 10 + (b & 15);
    else lo = lo * 100 + (b >> 4) * 10 + (b & 15);
  }
  n = BigInt(hi) * 10000000000n + BigInt(lo);
  const r = fromInt(n);
  return bytes[9]! & 0x80 ? withSign(r, 1) : r;
}

export function f80ToBytes(v: F80, out: number[] | Uint8Array, at: number): void {
  let s = v.sig;
  for (let i = 0; i < 8; i++) {
    out[at + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  out[at + 8] = v.se & 0xff;
  out[at + 9] = v.se >>> 8;
}

export function f80FromWords(lo: number, hi: number, se: number): F80 {
  return { se: se & 0xffff, sig: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0) };
}
