// Format conversions. Values marked "hw" were checked on the host CPU (AMD EPYC) with test/unit/fpu/hw/probe.c.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FLAG_DE, FLAG_IE, FLAG_OE, FLAG_PE, FLAG_UE, INDEFINITE, Kind, RC_DOWN, RC_NEAREST, RC_UP, RC_ZERO, classify,
  fromBcd, fromF32, fromF64, fromInt, toBcd, toF32, toF64, toInt,
} from '../../../src/cpu/fpu/float80.ts';
import { bitsDouble, ctx, doubleBits, hex, Rig, v } from './helpers.ts';

function roundTripDouble(x: number): number {
  const c = ctx();
  const bits = doubleBits(x);
  const f = fromF64(c, Number(bits & 0xffffffffn), Number(bits >> 32n));
  return bitsDouble(toF64(c, f)!);
}

test('binary64 values survive float64 -> extended -> float64 exactly', () => {
  const xs = [0, -0, 1, -1, 0.1, 1 / 3, Math.PI, 1e308, -1e-308, 5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
    Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, 123456789.123456789, 2 ** 53 + 2, -(2 ** -1074)];
  for (const x of xs) assert.ok(Object.is(roundTripDouble(x), x), `${x}`);
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const hi = seed;
    seed = (seed * 1103515245 + 12345) >>> 0;
    const bits = (BigInt(hi) << 32n) | BigInt(seed);
    const x = bitsDouble(bits);
    if (Number.isNaN(x)) continue;
    assert.equal(doubleBits(roundTripDouble(x)), bits);
  }
});

test('float64 and float32 denormal sources are normalized and raise DE', () => {
  const c = ctx();
  const f = fromF64(c, 1, 0);
  assert.equal(hex(f), '3bcd:8000000000000000');
  assert.equal(c.flags, FLAG_DE);
  const c2 = ctx();
  assert.equal(hex(fromF32(c2, 0x00000001)), '3f6a:8000000000000000');
  assert.equal(c2.flags, FLAG_DE);
});

test('NaNs: widening keeps a signaling NaN signaling; storing quiets it with IE', () => {
  const c = ctx();
  const snan = fromF64(c, 1, 0x7ff00000);
  assert.equal(classify(snan), Kind.SNaN);
  assert.equal(c.flags, 0);
  const bits = toF64(c, snan)!;
  assert.equal(bits, 0x7ff8000000000001n);
  assert.equal(c.flags, FLAG_IE);
  const unmasked = ctx(RC_NEAREST, 0x3e);
  assert.equal(toF64(unmasked, snan), null);
  // An unsupported format stores the indefinite.
  assert.equal(toF32(ctx(), v(0x3fff, 0x4000000000000000n)), 0xffc00000 | 0);
});

test('float64 rounding in each mode, with PE and C1 (round-up)', () => {
  // 1 + 2^-53 + 2^-63: above the halfway point between 1 and 1 + 2^-52.
  const x = v(0x3fff, 0x8000000000000401n);
  const expect: Array<[number, bigint, boolean]> = [
    [RC_NEAREST, 0x3ff0000000000001n, true],
    [RC_DOWN, 0x3ff0000000000000n, false],
    [RC_UP, 0x3ff0000000000001n, true],
    [RC_ZERO, 0x3ff0000000000000n, false],
  ];
  for (const [rc, bits, up] of expect) {
    const c = ctx(rc);
    assert.equal(toF64(c, x), bits, `rc ${rc}`);
    assert.equal(c.flags, FLAG_PE);
    assert.equal(c.roundedUp, up);
  }
  // Exact ties go to even.
  assert.equal(toF64(ctx(), v(0x3fff, 0x8000000000000400n)), 0x3ff0000000000000n);
  assert.equal(toF64(ctx(), v(0x3fff, 0x8000000000000c00n)), 0x3ff0000000000002n);
});

test('float64 underflow: tininess is detected after rounding (hw)', () => {
  // (2 - 2^-63) * 2^-1023 = (1 - 2^-64) * 2^-1022 rounds up to the smallest normal: PE and C1, no UE.
  const c = ctx();
  assert.equal(toF64(c, v(0x3c00, 0xffffffffffffffffn)), 0x0010000000000000n);
  assert.equal(c.flags, FLAG_PE);
  assert.equal(c.roundedUp, true);
  // A true denormal result: UE and PE when masked.
  const d = ctx();
  assert.equal(toF64(d, v(0x3bce, 0xa000000000000000n)), 0x0000000000000002n);
  assert.equal(d.flags, FLAG_UE | FLAG_PE);
  // Unmasked underflow or overflow suppresses a memory store (hw).
  assert.equal(toF64(ctx(RC_NEAREST, 0x2f), v(0x3bce, 0xc000000000000000n)), null);
  // An exact denormal result is not an underflow when UE is masked.
  const exact = ctx();
  assert.equal(toF64(exact, v(0x3bce, 0xc000000000000000n)), 0x0000000000000003n);
  assert.equal(exact.flags, 0);
  assert.equal(toF32(ctx(RC_NEAREST, 0x37), v(0x43e3, 0xbf21e44003ace000n)), null);
});

test('float32 overflow: masked response depends on rounding (hw: 1e300 -> +inf with OE PE C1)', () => {
  const big = v(0x43e3, 0xbf21e44003ace000n);
  const c = ctx();
  assert.equal(toF32(c, big), 0x7f800000);
  assert.equal(c.flags, FLAG_OE | FLAG_PE);
  assert.equal(c.roundedUp, true);
  assert.equal(toF32(ctx(RC_ZERO), big), 0x7f7fffff);
  assert.equal(toF32(ctx(RC_DOWN), big), 0x7f7fffff);
  assert.equal(toF32(ctx(RC_UP), { se: big.se | 0x8000, sig: big.sig }), 0xff7fffff | 0);
});

test('extended values round-trip FLD m80 / FSTP m80 bit-exactly, including non-canonical encodings', () => {
  const values = [
    v(0x0000, 0x0000000000000001n), // smallest denormal
    v(0x8000, 0x8000000000000000n), // pseudo-denormal
    v(0x3fff, 0x4000000000000000n), // unnormal
    v(0x7fff, 0x0000000000000001n), // pseudo-NaN
    v(0x7fff, 0x0000000000000000n), // pseudo-infinity
    v(0x7fff, 0x8000000000000001n), // signaling NaN
    v(0xffff, 0xc000000000000000n), // indefinite
    v(0x7ffe, 0xffffffffffffffffn),
    v(0x4005, 0xc90fdaa22168c235n),
  ];
  for (const x of values) {
    const r = new Rig();
    r.pushF80(x);
    r.exec(0xdb, 0x3b, 0x100);
    assert.equal(hex(r.readF80(0x100)), hex(x));
    assert.equal(r.sw() & 0x3f, 0, hex(x));
  }
});

test('int64 conversions are exact at the extremes', () => {
  for (const n of [0n, 1n, -1n, (1n << 63n) - 1n, -(1n << 63n), 9007199254740993n, -1234567890123456789n]) {
    const f = fromInt(n);
    assert.equal(toInt(ctx(), f, 64), n);
  }
  assert.equal(hex(fromInt((1n << 63n) - 1n)), '403d:fffffffffffffffe');
  assert.equal(hex(fromInt(-(1n << 63n))), 'c03e:8000000000000000');
});

test('FIST range checks and the integer indefinite', () => {
  const c = ctx();
  assert.equal(toInt(c, fromInt(1n << 63n), 64), -(1n << 63n));
  assert.equal(c.flags, FLAG_IE);
  assert.equal(toInt(ctx(), fromInt(32767n), 16), 32767n);
  const c16 = ctx();
  assert.equal(toInt(c16, fromInt(32768n), 16), -32768n);
  assert.equal(c16.flags, FLAG_IE);
  // -32768.4 rounds to -32768 in range; -32768.6 rounds to -32769: invalid.
  assert.equal(toInt(ctx(), v(0xc00e, 0x8000666666666666n), 16), -32768n);
  const cbad = ctx();
  assert.equal(toInt(cbad, v(0xc00e, 0x800099999999999an), 16), -32768n);
  assert.equal(cbad.flags, FLAG_IE);
  assert.equal(toInt(ctx(RC_NEAREST, 0x3e), INDEFINITE, 32), null);
});

test('FIST rounding follows RC', () => {
  const x = v(0x4000, 0xa000000000000000n); // 2.5
  const nx = v(0xc000, 0xa000000000000000n); // -2.5
  const expect: Array<[number, bigint, bigint]> = [[RC_NEAREST, 2n, -2n], [RC_DOWN, 2n, -3n], [RC_UP, 3n, -2n], [RC_ZERO, 2n, -2n]];
  for (const [rc, p, n] of expect) {
    const c = ctx(rc);
    assert.equal(toInt(c, x, 32), p);
    assert.equal(c.flags, FLAG_PE);
    assert.equal(toInt(ctx(rc), nx, 32), n);
  }
});

test('packed BCD load and store', () => {
  const bytes = [0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80];
  const f = fromBcd(bytes);
  assert.equal(toInt(ctx(), f, 64), -123456789012345678n);
  assert.deepEqual(toBcd(ctx(), f), bytes);
  assert.deepEqual(toBcd(ctx(), fromInt(999999999999999999n)), [0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0]);
  // -0 keeps its sign byte.
  assert.deepEqual(toBcd(ctx(), v(0x8000, 0n)), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
  // Out of range: IE and the BCD indefinite (FF FF C0 00..).
  const c = ctx();
  assert.deepEqual(toBcd(c, fromInt(1000000000000000000n)), [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]);
  assert.equal(c.flags, FLAG_IE);
  // Rounding per RC: 2.5 -> 2 (nearest even) with PE.
  const r = ctx();
  assert.deepEqual(toBcd(r, v(0x4000, 0xa000000000000000n)), [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(r.flags, FLAG_PE);
  // Nibbles above 9 are taken at face value (hw): 0x0A in the ones digit is 10.
  assert.equal(toInt(ctx(), fromBcd([0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 64), 10n);
  // Bits 0-6 of the sign byte are ignored.
  assert.equal(toInt(ctx(), fromBcd([0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f]), 64), 42n);
});
