import { FLAG_FIXED, FLAG_IF } from '../../src/cpu/constants.ts';
import { isExactlyEmulated } from '../../src/cpu/fpu/x87.ts';
import type { OpcodeEntry } from '../../src/cpu/table/types.ts';
import { Builder, FLAGS_COMPARED } from './generate.ts';
import type { FpuCompare, GenCase } from './generate.ts';
import { CODE_BASE, CODE_ENTRY, DATA_BASE } from './layout.ts';
import type { Rng } from './rng.ts';

/**
 * x87 cases: a preamble loads the register stack from memory (FLD m80) and maybe a
 * control word (FLDCW), then the instruction under test runs, sometimes followed by
 * FWAIT so a pending unmasked exception is raised as #MF.
 */

type MemKind = 'f32' | 'f64' | 'f80' | 'i16' | 'i32' | 'i64' | 'bcd' | 'cw' | 'sw' | 'env' | 'save' | 'none';

/** Memory operand of each D8-DF /digit, or undefined where the encoding is #UD or out of scope. */
const MEM_FORMS: Record<number, (MemKind | undefined)[]> = {
  0xd8: ['f32', 'f32', 'f32', 'f32', 'f32', 'f32', 'f32', 'f32'],
  0xd9: ['f32', 'none', 'f32', 'f32', 'env', 'cw', 'env', 'cw'],
  0xda: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  // /1 FISTTP is SSE3 (this CPU model has no SSE3): left out.
  0xdb: ['i32', undefined, 'i32', 'i32', 'none', 'f80', 'none', 'f80'],
  0xdc: ['f64', 'f64', 'f64', 'f64', 'f64', 'f64', 'f64', 'f64'],
  0xdd: ['f64', undefined, 'f64', 'f64', 'save', 'none', 'save', 'sw'],
  0xde: ['i16', 'i16', 'i16', 'i16', 'i16', 'i16', 'i16', 'i16'],
  0xdf: ['i16', undefined, 'i16', 'i16', 'bcd', 'i64', 'bcd', 'i64'],
};

const MEM_LEN: Record<MemKind, number> = {
  f32: 4, f64: 8, f80: 10, i16: 2, i32: 4, i64: 8, bcd: 10, cw: 2, sw: 2, env: 28, save: 108, none: 4,
};

const PREAMBLE_VALUES = DATA_BASE + 0x100;
const CW_ADDR = DATA_BASE + 0xf0;

function f80FromDouble(x: number): bigint {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x, true);
  const bits = buf.getBigUint64(0, true);
  const sign = bits >> 63n;
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  let e80: number;
  let sig: bigint;
  if (exp === 0x7ff) {
    e80 = 0x7fff;
    sig = (1n << 63n) | (frac << 11n);
  } else if (exp === 0) {
    if (frac === 0n) {
      e80 = 0;
      sig = 0n;
    } else {
      let f = frac;
      let e = -1022;
      while (!(f & (1n << 52n))) {
        f <<= 1n;
        e--;
      }
      e80 = e + 16383;
      sig = f << 11n;
    }
  } else {
    e80 = exp - 1023 + 16383;
    sig = (1n << 63n) | (frac << 11n);
  }
  return (sign << 79n) | (BigInt(e80) << 64n) | sig;
}

function randomF80(rng: Rng): bigint {
  const r = rng.int(24);
  const sign = BigInt(rng.int(2)) << 79n;
  const sig = (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
  switch (r) {
    case 0: return sign | (BigInt(rng.range(1, 0x7ffe)) << 64n) | (sig | (1n << 63n));
    case 1: return sign | (sig & ((1n << 63n) - 1n));
    case 2: return sign | (0x7fffn << 64n) | (1n << 63n) | (sig & ((1n << 62n) - 1n) | 1n);
    case 3: return sign | (BigInt(rng.range(1, 0x7ffe)) << 64n) | (sig & ((1n << 63n) - 1n));
    case 4: return sign | (BigInt(rng.range(0x3ff0, 0x4040)) << 64n) | (sig | (1n << 63n));
    case 5: return sign | (0x7ffen << 64n) | ((1n << 64n) - 1n);
    default: return f80FromDouble(doubleValue(rng));
  }
}

const DOUBLES = [
  0, -0, 1, -1, 2, 0.5, 1.5, 2.5, -2.5, 3, 10, Math.PI, -Math.PI, Math.E, 1e10, 1e-10, 1e300, -1e-300,
  2 ** 63, -(2 ** 63), 2 ** 31, -(2 ** 31), 2 ** 15, 65535.5, 32767.5, 0.1, 1 / 3, Number.MAX_VALUE,
  2.2250738585072014e-308, 5e-324, Infinity, -Infinity, NaN, 4503599627370496.5, 1e18, 123456789.75,
];

function doubleValue(rng: Rng): number {
  const r = rng.int(10);
  if (r < 6) return rng.pick(DOUBLES);
  if (r < 8) return (rng.u32() / 2 ** 32 - 0.5) * 2 ** rng.range(-40, 70);
  const buf = new DataView(new ArrayBuffer(8));
  buf.setUint32(0, rng.u32(), true);
  buf.setUint32(4, rng.u32(), true);
  return buf.getFloat64(0, true);
}

function f32Bits(rng: Rng): number {
  const r = rng.int(10);
  if (r < 2) return rng.pick([0, 0x80000000, 0x3f800000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 1, 0x807fffff, 0x7f7fffff, 0x00800000]);
  if (r < 4) return rng.u32();
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, doubleValue(rng), true);
  return buf.getUint32(0, true);
}

function f64Bits(rng: Rng): bigint {
  const buf = new DataView(new ArrayBuffer(8));
  if (rng.chance(0.15)) {
    buf.setUint32(0, rng.u32(), true);
    buf.setUint32(4, rng.pick([0x7ff00000, 0x7ff80000, 0xfff00000, 0, 0x80000000, rng.u32()]), true);
  } else {
    buf.setFloat64(0, doubleValue(rng), true);
  }
  return buf.getBigUint64(0, true);
}

function intValue(rng: Rng, bits: number): bigint {
  const r = rng.int(8);
  let v: bigint;
  if (r < 3) v = BigInt(rng.pick([0, 1, -1, 2, 10, -10, 1000, 32767, -32768, 2147483647, -2147483648]));
  else if (r < 4) v = -(1n << BigInt(bits - 1));
  else if (r < 5) v = BigInt(rng.range(-100, 100));
  else v = (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
  return BigInt.asUintN(bits, v);
}

function bcdValue(rng: Rng): bigint {
  let v = 0n;
  const digits = rng.pick([1, 2, 5, 9, 18, 18]);
  for (let i = 0; i < digits; i++) v |= BigInt(rng.chance(0.03) ? rng.range(10, 15) : rng.int(10)) << BigInt(4 * i);
  if (rng.chance(0.4)) v |= 0x80n << 72n;
  return v;
}

function controlWord(rng: Rng): number {
  const r = rng.int(10);
  if (r < 5) return 0x037f;
  const rc = rng.int(4) << 10;
  const pc = rng.pick([0, 2, 3, 3]) << 8;
  const masks = r < 8 ? 0x3f : rng.u32() & 0x3f;
  return 0x40 | rc | pc | masks;
}

function memValue(kind: MemKind, rng: Rng): { value: bigint; len: number } | undefined {
  switch (kind) {
    case 'f32': return { value: BigInt(f32Bits(rng)), len: 4 };
    case 'f64': return { value: f64Bits(rng), len: 8 };
    case 'f80': return { value: randomF80(rng), len: 10 };
    case 'i16': return { value: intValue(rng, 16), len: 2 };
    case 'i32': return { value: intValue(rng, 32), len: 4 };
    case 'i64': return { value: intValue(rng, 64), len: 8 };
    case 'bcd': return { value: bcdValue(rng), len: 10 };
    case 'cw': return { value: BigInt(controlWord(rng)), len: 2 };
    default: return undefined;
  }
}

/** Register forms (ModRM 0xC0..0xFF) of each escape that are worth a case: all of them; #UD ones check the decoder. */
export function generateX87(e: OpcodeEntry, key: string, index: number, rng: Rng, lowMapped: boolean): GenCase | undefined {
  const op = e.opcode;
  const b = new Builder(rng, lowMapped);
  b.eflags = FLAG_FIXED | FLAG_IF | (rng.u32() & 0x8d5);
  const pre: number[] = [];
  if (rng.chance(0.4)) {
    b.patch(CW_ADDR, controlWord(rng), 2);
    pre.push(0xd9, 0x2d, ...le32(CW_ADDR));
  }
  const depth = rng.pick([0, 1, 2, 2, 3, 3, 4, 8]);
  let st0: bigint | undefined;
  for (let i = 0; i < depth; i++) {
    const at = PREAMBLE_VALUES + 16 * i;
    st0 = randomF80(rng);
    b.patch(at, st0, 10);
    pre.push(0xdb, 0x2d, ...le32(at));
  }
  let form: 'mem' | 'reg' = e.modrmForm ?? (rng.chance(0.5) ? 'mem' : 'reg');
  let reg = e.ext ?? rng.int(8);
  let kind: MemKind | undefined;
  if (form === 'mem') {
    kind = MEM_FORMS[op]?.[reg];
    if (kind === undefined) {
      if (e.ext !== undefined) return undefined;
      for (let k = 0; k < 8 && kind === undefined; k++) kind = MEM_FORMS[op]?.[(reg = (reg + 1) & 7)];
    }
  }
  if (form === 'reg' && op === 0xdb && reg === 1 && e.ext === undefined) reg = 0;
  if (rng.chance(0.05)) b.o16 = true;
  b.prefixes = b.o16 ? [0x66] : [];
  b.body.push(...pre);
  const opAt = b.body.length;
  b.body.push(op);
  b.modrmAt = b.body.length;
  let modrm: number;
  if (form === 'mem') {
    const len = MEM_LEN[kind!];
    const target = rng.chance(0.95) ? DATA_BASE + 0x400 + rng.int(0x2000) : b.pickTarget(len);
    b.memTarget = b.encodeMem(reg, target);
    modrm = b.body[b.modrmAt];
    const v = memValue(kind!, rng);
    if (v) b.patch(b.memTarget, v.value, v.len);
    if (kind === 'env' || kind === 'save') {
      if (reg === 4) patchEnv(b, kind === 'save', rng);
    }
  } else {
    modrm = 0xc0 | (reg << 3) | rng.int(8);
    b.body.push(modrm);
  }
  if (rng.chance(0.15)) b.body.push(0x9b);
  const exact = isExactlyEmulated(op, modrm);
  let fpu: FpuCompare = exact ? 'exact' : 'inexact';
  if (op === 0xd9 && (modrm === 0xf0 || modrm === 0xf9) && st0 !== undefined && outsideDomain(st0, modrm === 0xf0 ? 1 : 0.2928932188134524)) {
    // F2XM1 with |x| > 1 and FYL2XP1 with |x| >= 1 - sqrt(2)/2 are undefined (SDM; docs/fpu.md): only the stack is compared.
    fpu = 'stack';
  }
  return {
    id: 0,
    key,
    group: key,
    mnemonic: e.mnemonic,
    index,
    regs: b.regs,
    eflags: b.eflags,
    memSeed: b.memSeed,
    codeOffset: CODE_ENTRY - CODE_BASE,
    code: b.code(),
    patches: b.patches,
    traits: ['x87', ...(form === 'mem' && reg === 6 && (kind === 'env' || kind === 'save') ? [kind === 'env' ? 'fnstenv' : 'fnsave'] : [])],
    envAt: form === 'mem' && reg === 6 && (kind === 'env' || kind === 'save') ? { addr: b.memTarget, o16: b.o16 && opAt === 0 } : undefined,
    cmp: {
      flagsMask: FLAGS_COMPARED,
      regMask: b.regMask,
      fpu,
      memIgnore: b.memIgnore,
      // Which byte of a multi-part x87 access a page fault reports differs (AMD: the last one for stores).
      cr2Within: form === 'mem' && MEM_LEN[kind!] > 4 ? { addr: b.memTarget, len: MEM_LEN[kind!] } : undefined,
    },
  };
}

function patchEnv(b: Builder, save: boolean, rng: Rng): void {
  const base = b.memTarget;
  const o16 = b.o16;
  const w = o16 ? 2 : 4;
  b.patch(base, controlWord(rng), 2);
  b.patch(base + w, rng.u32() & 0x7f7f & ~0x80, 2);
  b.patch(base + 2 * w, rng.chance(0.5) ? 0xffff : rng.u32() & 0xffff, 2);
  if (save) {
    const regsAt = base + (o16 ? 14 : 28);
    for (let i = 0; i < 8; i++) b.patch(regsAt + 10 * i, randomF80(rng), 10);
  }
}

/** |x| of an 80-bit value is at least limit (NaNs and infinities count as outside; limit 1 means strictly above 1). */
function outsideDomain(x: bigint, limit: number): boolean {
  const exp = Number((x >> 64n) & 0x7fffn);
  if (exp === 0x7fff) return true;
  const mag = Number(x & ((1n << 64n) - 1n)) * 2 ** (Math.max(exp, 1) - 16383 - 63);
  return limit === 1 ? mag > 1 : mag >= limit;
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
