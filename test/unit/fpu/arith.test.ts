// Arithmetic on extended values: rounding to the precision-control width, special operands, remainders.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { add, compare, CMP_EQ, CMP_GT, CMP_LT, CMP_UNORDERED, div, extract, mul, remainder, roundInt, scale, sqrt } from '../../../src/cpu/fpu/arith.ts';
import {
  FLAG_DE, FLAG_IE, FLAG_OE, FLAG_PE, FLAG_UE, FLAG_ZE, INDEFINITE, INF, NEG_INF, ONE, RC_DOWN, RC_NEAREST, RC_UP,
  RC_ZERO, fromInt,
} from '../../../src/cpu/fpu/float80.ts';
import { ctx, hex, v } from './helpers.ts';

const THREE = fromInt(3n);
const TWO = fromInt(2n);

test('1/3 rounded to 24, 53 and 64 bits in each rounding mode', () => {
  const expect: Array<[number, number, string]> = [
    [64, RC_NEAREST, '3ffd:aaaaaaaaaaaaaaab'],
    [64, RC_DOWN, '3ffd:aaaaaaaaaaaaaaaa'],
    [64, RC_UP, '3ffd:aaaaaaaaaaaaaaab'],
    [64, RC_ZERO, '3ffd:aaaaaaaaaaaaaaaa'],
    [53, RC_NEAREST, '3ffd:aaaaaaaaaaaaa800'],
    [53, RC_UP, '3ffd:aaaaaaaaaaaab000'],
    [24, RC_NEAREST, '3ffd:aaaaab0000000000'],
    [24, RC_ZERO, '3ffd:aaaaaa0000000000'],
  ];
  for (const [p, rc, want] of expect) {
    const c = ctx(rc);
    assert.equal(hex(div(c, ONE, THREE, p)), want, `p=${p} rc=${rc}`);
    assert.equal(c.flags, FLAG_PE);
  }
});

test('0.1 + 0.2 in double precision is 0.30000000000000004', () => {
  const d01 = v(0x3ffb, 0xccccccccccccd000n);
  const d02 = v(0x3ffc, 0xccccccccccccd000n);
  // 0.30000000000000004 = 0x3FD3333333333334
  assert.equal(hex(add(ctx(), d01, d02, false, 53)), '3ffd:999999999999a000');
  // With 64-bit precision the sum is exact (one bit more than a double holds).
  assert.equal(hex(add(ctx(), d01, d02, false, 64)), '3ffd:9999999999999c00');
});

test('x - x is +0, or -0 when rounding down; inf - inf is invalid', () => {
  const x = v(0x4000, 0xc000000000000000n);
  assert.equal(hex(add(ctx(), x, x, true, 64)), '0000:0000000000000000');
  assert.equal(hex(add(ctx(RC_DOWN), x, x, true, 64)), '8000:0000000000000000');
  const c = ctx();
  assert.equal(add(c, INF, INF, true, 64), INDEFINITE);
  assert.equal(c.flags, FLAG_IE);
  assert.equal(hex(add(ctx(), INF, INF, false, 64)), hex(INF));
});

test('addition far below the rounding position acts as a sticky bit', () => {
  const one = ONE;
  const tiny = v(0x3f00, 0x8000000000000000n);
  assert.equal(hex(add(ctx(RC_UP), one, tiny, false, 64)), '3fff:8000000000000001');
  assert.equal(hex(add(ctx(RC_NEAREST), one, tiny, false, 64)), '3fff:8000000000000000');
  assert.equal(hex(add(ctx(RC_DOWN), one, tiny, true, 64)), '3ffe:ffffffffffffffff');
  assert.equal(hex(add(ctx(RC_NEAREST), one, tiny, true, 64)), '3fff:8000000000000000');
});

test('multiplication, division and zero divide', () => {
  assert.equal(hex(mul(ctx(), THREE, TWO, 64)), hex(fromInt(6n)));
  const c = ctx();
  assert.equal(hex(div(c, ONE, v(0x8000, 0n), 64)), hex(NEG_INF));
  assert.equal(c.flags, FLAG_ZE);
  const z = ctx();
  assert.equal(div(z, v(0, 0n), v(0, 0n), 64), INDEFINITE);
  assert.equal(z.flags, FLAG_IE);
  const m = ctx();
  assert.equal(mul(m, INF, v(0, 0n), 64), INDEFINITE);
  assert.equal(m.flags, FLAG_IE);
});

test('overflow: masked gives infinity or the largest value; unmasked rebiases the exponent by 24576', () => {
  const big = v(0x7ff0, 0x8000000000000000n);
  const c = ctx();
  assert.equal(hex(mul(c, big, big, 64)), hex(INF));
  assert.equal(c.flags, FLAG_OE | FLAG_PE);
  assert.equal(hex(mul(ctx(RC_ZERO), big, big, 64)), '7ffe:ffffffffffffffff');
  assert.equal(hex(mul(ctx(RC_ZERO), big, big, 53)), '7ffe:fffffffffffff800');
  // hw: 7ff0 * 7ff0 with OE unmasked -> 5fe1:8000000000000000, OE only.
  const u = ctx(RC_NEAREST, 0x37);
  assert.equal(hex(mul(u, big, big, 64)), '5fe1:8000000000000000');
  assert.equal(u.flags, FLAG_OE);
});

test('underflow: denormal results, exact tiny results, and the unmasked rebias (hw)', () => {
  const small = v(0x0010, 0x8000000000000000n);
  const u = ctx(RC_NEAREST, 0x2f);
  assert.equal(hex(mul(u, small, small, 64)), '2021:8000000000000000');
  assert.equal(u.flags, FLAG_UE);
  // min normal * 1.5 * 0.5: an exact denormal, no flags when masked.
  const e = ctx();
  assert.equal(hex(mul(e, v(0x0001, 0xc000000000000000n), v(0x3ffe, 0x8000000000000000n), 64)), '0000:6000000000000000');
  assert.equal(e.flags, 0);
  // The same with UE unmasked: UE, and the result is rebiased.
  const eu = ctx(RC_NEAREST, 0x2f);
  assert.equal(hex(mul(eu, v(0x0001, 0xc000000000000000n), v(0x3ffe, 0x8000000000000000n), 64)), '6000:c000000000000000');
  assert.equal(eu.flags, FLAG_UE);
});

test('denormal operands raise DE; a NaN operand takes precedence', () => {
  const den = v(0x0000, 0x0000000000000001n);
  const c = ctx();
  mul(c, den, v(0x3fff, 0xc000000000000000n), 64);
  assert.equal(c.flags & FLAG_DE, FLAG_DE);
  const q = ctx();
  const qnan = v(0x7fff, 0xc000000000000001n);
  assert.equal(hex(add(q, qnan, den, false, 64)), hex(qnan));
  assert.equal(q.flags, 0);
});

test('NaN propagation follows the larger significand, positive on ties (hw)', () => {
  const s1 = v(0x7fff, 0xa000000000000001n);
  const s2 = v(0x7fff, 0xb000000000000000n);
  const q1 = v(0x7fff, 0xc000000000000000n);
  const q2neg = v(0xffff, 0xd000000000000000n);
  assert.equal(hex(add(ctx(), s1, q1, false, 64)), hex(q1));
  assert.equal(hex(add(ctx(), s1, s2, false, 64)), '7fff:f000000000000000');
  assert.equal(hex(add(ctx(), q2neg, v(0x7fff, 0xd000000000000000n), false, 64)), '7fff:d000000000000000');
  assert.equal(hex(mul(ctx(), s1, ONE, 64)), '7fff:e000000000000001');
});

test('sqrt', () => {
  assert.equal(hex(sqrt(ctx(), fromInt(16n), 64)), hex(fromInt(4n)));
  const c = ctx();
  assert.equal(hex(sqrt(c, TWO, 64)), '3fff:b504f333f9de6484');
  assert.equal(c.flags, FLAG_PE);
  assert.equal(hex(sqrt(ctx(), TWO, 53)), '3fff:b504f333f9de6800');
  const n = ctx();
  assert.equal(sqrt(n, fromInt(-1n), 64), INDEFINITE);
  assert.equal(n.flags, FLAG_IE);
  assert.equal(hex(sqrt(ctx(), v(0x8000, 0n), 64)), '8000:0000000000000000');
});

test('compare orders values, zeros equal, NaNs unordered', () => {
  assert.equal(compare(ctx(), ONE, TWO, false), CMP_LT);
  assert.equal(compare(ctx(), TWO, ONE, false), CMP_GT);
  assert.equal(compare(ctx(), v(0, 0n), v(0x8000, 0n), false), CMP_EQ);
  assert.equal(compare(ctx(), NEG_INF, fromInt(-5n), false), CMP_LT);
  const q = ctx();
  assert.equal(compare(q, ONE, v(0x7fff, 0xc000000000000000n), true), CMP_UNORDERED);
  assert.equal(q.flags, 0);
  const f = ctx();
  assert.equal(compare(f, ONE, v(0x7fff, 0xc000000000000000n), false), CMP_UNORDERED);
  assert.equal(f.flags, FLAG_IE);
});

test('FRNDINT honours RC and keeps the sign of a zero result', () => {
  const x = v(0xbffe, 0xc000000000000000n); // -0.75
  assert.equal(hex(roundInt(ctx(RC_NEAREST), x)), hex(fromInt(-1n)));
  assert.equal(hex(roundInt(ctx(RC_ZERO), x)), '8000:0000000000000000');
  assert.equal(hex(roundInt(ctx(RC_UP), x)), '8000:0000000000000000');
  assert.equal(hex(roundInt(ctx(RC_DOWN), x)), hex(fromInt(-1n)));
  const big = v(0x403e, 0xffffffffffffffffn);
  assert.equal(roundInt(ctx(), big), big);
});

test('FSCALE, FXTRACT', () => {
  assert.equal(hex(scale(ctx(), THREE, v(0x4001, 0x9000000000000000n))), hex(fromInt(48n)));
  assert.equal(hex(scale(ctx(), THREE, v(0xbfff, 0xc000000000000000n))), '3fff:c000000000000000');
  const x = extract(ctx(), fromInt(-48n));
  assert.equal(hex(x.exponent), hex(fromInt(5n)));
  assert.equal(hex(x.significand), 'bfff:c000000000000000');
  const z = ctx();
  const zx = extract(z, v(0x8000, 0n));
  assert.equal(hex(zx.exponent), hex(NEG_INF));
  assert.equal(z.flags, FLAG_ZE);
});

test('FPREM truncates and FPREM1 rounds the quotient; C2 marks a partial remainder', () => {
  const seven = fromInt(7n);
  const r = remainder(ctx(), seven, TWO, false);
  assert.equal(hex(r.value), hex(ONE));
  assert.equal(r.quotient, 3);
  assert.equal(r.partial, false);
  const r1 = remainder(ctx(), seven, TWO, true);
  // 7 / 2 = 3.5 rounds to 4 (even): remainder -1.
  assert.equal(hex(r1.value), 'bfff:8000000000000000');
  assert.equal(r1.quotient, 4);
  const huge = v(0x4100, 0x8000000000000001n);
  const p = remainder(ctx(), huge, THREE, false);
  assert.equal(p.partial, true);
  const inv = ctx();
  assert.equal(remainder(inv, INF, TWO, false).value, INDEFINITE);
  assert.equal(inv.flags, FLAG_IE);
});

test('the PE flag is never raised by exact results', () => {
  const c = ctx();
  add(c, fromInt(1n << 40n), fromInt(12345n), false, 64);
  mul(c, fromInt(123456789n), fromInt(987654321n), 64);
  div(c, fromInt(1n << 60n), fromInt(1n << 20n), 64);
  assert.equal(c.flags & (FLAG_PE | FLAG_UE | FLAG_OE), 0);
});
