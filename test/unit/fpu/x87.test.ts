// Instruction-level behaviour of the X87 unit: stack, status word, environment layouts, save/restore.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INDEFINITE } from '../../../src/cpu/fpu/float80.ts';
import { CW_DEFAULT, isExactlyEmulated, isNonWaiting, X87 } from '../../../src/cpu/fpu/x87.ts';
import { FakeHost, FaultError, GpError, UdError } from './fake-host.ts';
import { hex, Rig, SCRATCH, v } from './helpers.ts';

const SW_C0 = 0x100;
const SW_C1 = 0x200;
const SW_C2 = 0x400;
const SW_C3 = 0x4000;
const SW_ES_B = 0x8080;

test('FNINIT state: FCW 037F, empty stack, TOP 0', () => {
  const r = new Rig();
  r.pushDouble(1);
  r.exec(0xdb, 0xe3);
  assert.equal(r.fpu.controlWord(), CW_DEFAULT);
  assert.equal(r.sw(), 0);
  assert.equal(r.fpu.tagWord(), 0xffff);
});

test('FLDCW keeps bits 0-5, 8-12 and reads bit 6 as 1 (hw: 0 -> 0040, FFFF -> 1F7F)', () => {
  const r = new Rig();
  r.setCw(0);
  assert.equal(r.fpu.controlWord(), 0x0040);
  r.setCw(0xffff);
  assert.equal(r.fpu.controlWord(), 0x1f7f);
  r.exec(0xd9, 0x3b, 0x10);
  assert.equal(r.u16(0x10), 0x1f7f);
});

test('push, pop and TOP; FLD ST(i), FXCH, FSTP ST(i)', () => {
  const r = new Rig();
  r.pushDouble(1);
  r.pushDouble(2);
  assert.equal(r.top(), 6);
  r.exec(0xd9, 0xc1); // FLD ST(1)
  assert.equal(r.st0Double(), 1);
  r.exec(0xd9, 0xca); // FXCH ST(2)
  assert.equal(r.st0Double(), 1);
  r.exec(0xdd, 0xd9); // FSTP ST(1)
  assert.equal(r.top(), 6);
  assert.equal(r.st0Double(), 1);
});

test('stack overflow: masked pushes the indefinite with IE SF C1; unmasked leaves the stack alone', () => {
  const r = new Rig();
  for (let i = 0; i < 8; i++) r.exec(0xd9, 0xe8);
  r.exec(0xd9, 0xee); // FLDZ on a full stack
  assert.equal(r.sw() & 0x7f, 0x41);
  assert.equal(r.sw() & SW_C1, SW_C1);
  assert.equal(hex(r.fpu.st(0)), hex(INDEFINITE));
  const u = new Rig();
  u.setCw(0x37e);
  for (let i = 0; i < 8; i++) u.exec(0xd9, 0xe8);
  u.exec(0xd9, 0xee);
  assert.equal(u.sw(), SW_ES_B | SW_C1 | 0x41); // TOP back at 0, ES and B set
  assert.equal(u.fpu.hasPendingException(), true);
  assert.equal(u.st0Double(), 1);
});

test('stack underflow: C1 clear; masked result is the indefinite', () => {
  const r = new Rig();
  r.exec(0xd9, 0xe8);
  r.exec(0xd8, 0xc1); // FADD ST0, ST1 with ST1 empty
  assert.equal(r.sw() & (0x7f | SW_C1), 0x41);
  assert.equal(hex(r.fpu.st(0)), hex(INDEFINITE));
  // FCOM with an empty operand reports unordered.
  r.exec(0xd8, 0xd2);
  assert.equal(r.sw() & (SW_C0 | SW_C2 | SW_C3), SW_C0 | SW_C2 | SW_C3);
});

test('FCOM/FUCOM condition codes and FCOMI/FUCOMI EFLAGS', () => {
  const cases: Array<[number, number, number, number]> = [
    [1, 2, SW_C0, 0x1],
    [2, 1, 0, 0],
    [2, 2, SW_C3, 0x40],
    [NaN, 1, SW_C3 | SW_C2 | SW_C0, 0x45],
  ];
  for (const [a, b, cc, zpc] of cases) {
    const r = new Rig();
    r.pushDouble(b);
    r.pushDouble(a);
    r.exec(0xdd, 0xe1); // FUCOM ST1
    assert.equal(r.sw() & (SW_C0 | SW_C2 | SW_C3), cc, `${a} vs ${b}`);
    r.host.eflags = 0x8d5 | 0x2;
    r.exec(0xdb, 0xe9); // FUCOMI ST1
    assert.equal(r.host.eflags, 0x2 | zpc, `${a} vs ${b}`);
  }
  // FCOMPP pops twice; FCOM with a QNaN is invalid, FUCOM is not.
  const r = new Rig();
  r.pushDouble(NaN);
  r.pushDouble(1);
  r.exec(0xdd, 0xe1);
  assert.equal(r.sw() & 1, 0);
  r.exec(0xd8, 0xd1);
  assert.equal(r.sw() & 1, 1);
  r.exec(0xde, 0xd9);
  assert.equal(r.fpu.tagWord(), 0xffff);
});

test('FCMOVcc reads CF, ZF and PF', () => {
  const conds: Array<[number, number, number, boolean]> = [
    [0xda, 0xc1, 0x1, true], [0xda, 0xc1, 0x0, false], [0xda, 0xc9, 0x40, true], [0xda, 0xd1, 0x40, true],
    [0xda, 0xd9, 0x4, true], [0xdb, 0xc1, 0x0, true], [0xdb, 0xc9, 0x40, false], [0xdb, 0xd1, 0x1, false],
    [0xdb, 0xd9, 0x0, true],
  ];
  for (const [op, modrm, flags, moves] of conds) {
    const r = new Rig();
    r.pushDouble(5);
    r.pushDouble(7);
    r.host.eflags = flags | 2;
    r.exec(op, modrm);
    assert.equal(r.st0Double(), moves ? 5 : 7, `${op.toString(16)} ${modrm.toString(16)} flags=${flags}`);
  }
});

test('FXAM classes and the computed tag word', () => {
  const r = new Rig();
  const values = [
    [v(0x3fff, 0x8000000000000000n), SW_C2, 0],
    [v(0x0000, 0n), SW_C3, 1],
    [v(0x7fff, 0x8000000000000000n), SW_C2 | SW_C0, 2],
    [v(0x7fff, 0xc000000000000000n), SW_C0, 2],
    [v(0x0000, 0x1234n), SW_C3 | SW_C2, 2],
    [v(0x3fff, 0x1234n), 0, 2],
    [v(0x8000, 0x8000000000000000n), SW_C3 | SW_C2 | SW_C1, 2],
  ] as const;
  for (const [x, cc] of values) {
    r.pushF80(x);
    r.exec(0xd9, 0xe5);
    assert.equal(r.sw() & (SW_C0 | SW_C1 | SW_C2 | SW_C3), cc, hex(x));
  }
  // Physical registers 7..1 hold the values in push order; R0 is empty.
  let tw = 3;
  values.forEach(([, , tag], i) => {
    tw |= tag << (2 * (7 - i));
  });
  assert.equal(r.fpu.tagWord(), tw);
  r.exec(0xdd, 0xc0); // FFREE ST0
  r.exec(0xd9, 0xe5);
  assert.equal(r.sw() & (SW_C0 | SW_C2 | SW_C3), SW_C3 | SW_C0);
});

test('constants are rounded per RC (hw: FLDPI up ...c235, down ...c234)', () => {
  const r = new Rig();
  r.exec(0xd9, 0xeb);
  assert.equal(hex(r.fpu.st(0)), '4000:c90fdaa22168c235');
  r.setCw(0x77f);
  r.exec(0xd9, 0xeb);
  assert.equal(hex(r.fpu.st(0)), '4000:c90fdaa22168c234');
  r.exec(0xd9, 0xe9);
  assert.equal(hex(r.fpu.st(0)), '4000:d49a784bcd1b8afe');
  r.exec(0xd9, 0xea);
  assert.equal(hex(r.fpu.st(0)), '3fff:b8aa3b295c17f0bb');
  r.exec(0xd9, 0xec);
  assert.equal(hex(r.fpu.st(0)), '3ffd:9a209a84fbcff798');
  r.exec(0xd9, 0xed);
  assert.equal(hex(r.fpu.st(0)), '3ffe:b17217f7d1cf79ab');
  assert.equal(r.sw() & 0x3f, 0);
});

test('transcendentals (hw values)', () => {
  const r = new Rig();
  r.pushF80(v(0x4000, 0xc90fdaa22168c235n)); // FSIN(FLDPI) reduces with the 66-bit pi: -2^-64
  r.exec(0xd9, 0xfe);
  assert.equal(hex(r.fpu.st(0)), 'bfbf:8000000000000000');
  r.pushDouble(0.5);
  r.exec(0xd9, 0xfe);
  assert.equal(hex(r.fpu.st(0)), '3ffd:f57743a2582f7f44');
  r.pushDouble(0.5);
  r.exec(0xd9, 0xff);
  assert.equal(hex(r.fpu.st(0)), '3ffe:e0a94032dbea7cee');
  r.pushDouble(0.5);
  r.exec(0xd9, 0xf0);
  assert.equal(hex(r.fpu.st(0)), '3ffd:d413cccfe7799211');
  r.pushDouble(1);
  r.pushDouble(10);
  r.exec(0xd9, 0xf1); // FYL2X: 1 * log2(10)
  assert.equal(hex(r.fpu.st(0)), '4000:d49a784bcd1b8afe');
  r.pushDouble(1);
  r.pushDouble(1);
  r.exec(0xd9, 0xf3); // FPATAN: atan2(1, 1)
  assert.equal(hex(r.fpu.st(0)), '3ffe:c90fdaa22168c235');
  r.exec(0xdb, 0xe3);
  r.pushF80(v(0x403e, 0x8000000000000000n)); // 2^63 is out of range: C2 set, operand unchanged
  r.exec(0xd9, 0xfe);
  assert.equal(r.sw() & SW_C2, SW_C2);
  assert.equal(hex(r.fpu.st(0)), '403e:8000000000000000');
  r.pushDouble(0.5);
  r.exec(0xd9, 0xf2); // FPTAN pushes 1.0
  assert.equal(r.st0Double(), 1);
  assert.equal(hex(r.fpu.st(1)), '3ffe:8bda7adf9a3a5219');
  assert.equal(r.sw() & SW_C2, 0);
  assert.equal(isExactlyEmulated(0xd9, 0xfe), false);
  assert.equal(isExactlyEmulated(0xd9, 0xfa), true);
  assert.equal(isExactlyEmulated(0xd8, 0xc1), true);
});

test('FNSTSW AX and m16, FNCLEX', () => {
  const r = new Rig();
  r.setCw(0x37e);
  r.exec(0xd8, 0xc1); // underflow, unmasked
  r.exec(0xdf, 0xe0);
  assert.equal(r.host.ax, 0x80c1);
  r.exec(0xdd, 0x3b, 0x20);
  assert.equal(r.u16(0x20), 0x80c1);
  r.exec(0xdb, 0xe2);
  assert.equal(r.sw(), 0);
  assert.equal(r.fpu.hasPendingException(), false);
});

test('ES follows the unmasked flags: FLDCW masking a pending exception clears it (hw)', () => {
  const r = new Rig();
  r.setCw(0x37e);
  r.exec(0xd8, 0xc1);
  assert.equal(r.fpu.hasPendingException(), true);
  r.setCw(0x37f);
  assert.equal(r.fpu.hasPendingException(), false);
  assert.equal(r.sw() & 0xff, 0x41);
  r.setCw(0x37e);
  assert.equal(r.fpu.hasPendingException(), true);
});

test('FNSTENV 32-bit protected-mode layout (hw: reserved words read FFFF)', () => {
  const r = new Rig();
  r.host.instrCs = 0x23;
  r.host.instrEip = 0x08049000;
  r.host.eaSelector = 0x2b;
  r.pushDouble(3); // FLD m64: FOP 0x503, FDP = operand offset
  r.host.instrEip = 0x08049010;
  r.exec(0xd9, 0xe8); // FLD1 (register form: FOP 0x1e8, FDP unchanged)
  r.exec(0xd9, 0x33, 0x40); // FNSTENV
  assert.equal(r.u32(0x40), 0xffff037f);
  assert.equal(r.u32(0x44), 0xffff3000);
  assert.equal(r.u32(0x48), 0xffff0fff);
  assert.equal(r.u32(0x4c), 0x08049010);
  assert.equal(r.u32(0x50), 0x01e80023);
  assert.equal(r.u32(0x54), SCRATCH + 0x900);
  assert.equal(r.u32(0x58), 0xffff002b);
  // FNSTENV masks all exceptions afterwards.
  r.setCw(0x360);
  r.exec(0xd9, 0x33, 0x40);
  assert.equal(r.fpu.controlWord(), 0x37f);
});

test('FNSTENV/FLDENV 16-bit and real-mode layouts (SDM Vol. 1 Figures 8-9 to 8-12)', () => {
  const r = new Rig();
  r.host.instrCs = 0x1234;
  r.host.instrEip = 0x5678;
  r.host.eaSelector = 0x2000;
  r.exec(0xd9, 0xe8);
  r.pushDouble(2);
  // FDP = SCRATCH + 0x900 (the operand offset the fake host reports).
  const dp = SCRATCH + 0x900;
  r.host.o32 = false;
  r.exec(0xd9, 0x33, 0x40);
  assert.deepEqual([r.u16(0x40), r.u16(0x42), r.u16(0x44)], [0x037f, 0x3000, 0x0fff]);
  assert.deepEqual([r.u16(0x46), r.u16(0x48), r.u16(0x4a), r.u16(0x4c)], [0x5678, 0x1234, dp & 0xffff, 0x2000]);
  r.host.protectedMode = false;
  r.exec(0xd9, 0x33, 0x60);
  const ip = 0x12340 + 0x5678;
  const dpl = 0x20000 + dp;
  assert.equal(r.u16(0x66), ip & 0xffff);
  assert.equal(r.u16(0x68), ((ip >>> 16) << 12) | 0x503);
  assert.equal(r.u16(0x6a), dpl & 0xffff);
  assert.equal(r.u16(0x6c), (dpl >>> 16) << 12);
  r.host.o32 = true;
  r.exec(0xd9, 0x33, 0x80);
  assert.equal(r.u32(0x8c), (0xffff0000 | (ip & 0xffff)) >>> 0);
  assert.equal(r.u32(0x90), (((ip >>> 16) << 12) | 0x503) >>> 0);
  assert.equal(r.u32(0x94), (0xffff0000 | (dpl & 0xffff)) >>> 0);
  assert.equal(r.u32(0x98), ((dpl >>> 16) << 12) >>> 0);
  // FLDENV in real mode reads the linear pointers back; storing again reproduces the image.
  const fresh = new Rig();
  fresh.host.protectedMode = false;
  fresh.host.setBytes(SCRATCH + 0x80, r.host.bytes(SCRATCH + 0x80, 28));
  fresh.exec(0xd9, 0x23, 0x80);
  fresh.exec(0xd9, 0x33, 0xc0);
  // Identical except that the tag word is recomputed from this FPU's register contents (zeros: tag 01).
  const expected = r.host.bytes(SCRATCH + 0x80, 28);
  expected[8] = 0xff;
  expected[9] = 0x5f;
  assert.deepEqual(fresh.host.bytes(SCRATCH + 0xc0, 28), expected);
});

test('FNSAVE stores ST0-ST7 in stack order and reinitializes; FRSTOR restores everything', () => {
  const r = new Rig();
  r.setCw(0x27f);
  r.pushDouble(1.5);
  r.pushDouble(-2);
  r.pushF80(v(0x0000, 0x1n));
  r.exec(0xdd, 0x33, 0x100);
  assert.equal(r.fpu.controlWord(), 0x37f);
  assert.equal(r.fpu.tagWord(), 0xffff);
  assert.equal(r.u16(0x100), 0x27f);
  assert.equal(r.u16(0x108), 0x0bff); // R7, R6 valid; R5 special (denormal); R4-R0 empty
  assert.equal(hex(r.readF80(0x100 + 28)), '0000:0000000000000001');
  assert.equal(hex(r.readF80(0x100 + 38)), 'c000:8000000000000000');
  const image = r.host.bytes(SCRATCH + 0x100, 108);
  const r2 = new Rig();
  r2.host.setBytes(SCRATCH + 0x100, image);
  r2.exec(0xdd, 0x23, 0x100);
  r2.exec(0xdd, 0x33, 0x200);
  assert.deepEqual(r2.host.bytes(SCRATCH + 0x200, 108), image);
  // 16-bit form: 94 bytes.
  const r3 = new Rig();
  r3.pushDouble(4);
  r3.host.o32 = false;
  r3.exec(0xdd, 0x33, 0x300);
  assert.equal(r3.host.lastEa?.len, 94);
  assert.equal(hex(r3.readF80(0x300 + 14)), '4001:8000000000000000');
});

test('FXSAVE/FXRSTOR round trip, abridged tag, MXCSR and the XMM area', () => {
  const r = new Rig();
  r.pushDouble(1);
  r.pushDouble(0);
  r.exec(0xd9, 0xf7); // FINCSTP
  const at = 0x400;
  r.host.nextEa = SCRATCH + at;
  r.fpu.fxsave();
  assert.equal(r.u16(at), 0x37f);
  assert.equal(r.u16(at + 2), 0x3800);
  assert.equal(r.u8(at + 4), 0xc0);
  assert.equal(r.u16(at + 6), 0x1f7);
  assert.equal(r.u32(at + 24), 0x1f80);
  assert.equal(r.u32(at + 28), 0xffff);
  assert.equal(hex(r.readF80(at + 32)), '3fff:8000000000000000');
  assert.equal(hex(r.readF80(at + 32 + 16 * 7)), '0000:0000000000000000');
  const xmm = Array.from({ length: 128 }, (_, i) => i);
  r.host.setBytes(SCRATCH + at + 160, xmm);
  const image = r.host.bytes(SCRATCH + at, 512);
  const r2 = new Rig();
  r2.host.setBytes(SCRATCH + at, image);
  r2.host.nextEa = SCRATCH + at;
  r2.fpu.fxrstor();
  assert.equal(r2.st0Double(), 1);
  r2.host.nextEa = SCRATCH + 0x800 - 0x200;
  r2.fpu.fxsave();
  assert.deepEqual(r2.host.bytes(SCRATCH + 0x600, 288), image.slice(0, 288).map((b, i) => (i >= 6 && i < 24 ? r2.host.mem[0x600 + i]! : b)));
  assert.deepEqual(r2.host.bytes(SCRATCH + 0x600 + 160, 128), xmm);
});

test('FXSAVE needs 16-byte alignment and FXRSTOR rejects reserved MXCSR bits (#GP)', () => {
  const r = new Rig();
  r.host.nextEa = SCRATCH + 8;
  assert.throws(() => r.fpu.fxsave(), GpError);
  r.host.setBytes(SCRATCH + 0x200 + 24, [0x80, 0x1f, 0x01, 0x00]);
  r.host.nextEa = SCRATCH + 0x200;
  assert.throws(() => r.fpu.fxrstor(), GpError);
});

test('a faulting store leaves the FPU state untouched (restartable)', () => {
  const r = new Rig();
  r.pushDouble(1);
  r.pushDouble(2);
  const before = JSON.stringify(r.fpu.saveState());
  r.host.writeLimit = SCRATCH + 0x104;
  r.host.instrEip = 0x9999;
  for (const [op, modrm] of [[0xdd, 0x1b], [0xdf, 0x3b], [0xdb, 0x3b], [0xdf, 0x33], [0xdd, 0x33], [0xd9, 0x33]] as const) {
    assert.throws(() => r.exec(op, modrm, 0x100), FaultError);
    assert.equal(JSON.stringify(r.fpu.saveState()), before, `${op.toString(16)} ${modrm.toString(16)}`);
  }
});

test('undefined encodings and FISTTP raise #UD', () => {
  for (const [op, modrm] of [[0xd9, 0xd1], [0xd9, 0xe2], [0xda, 0xe0], [0xdb, 0xe5], [0xdd, 0xf0], [0xde, 0xd8], [0xdf, 0xe1],
    [0xdb, 0x0b], [0xdd, 0x0b], [0xdf, 0x0b], [0xd9, 0x0b], [0xdb, 0x23], [0xdd, 0x2b]] as const) {
    const r = new Rig();
    assert.throws(() => r.exec(op, modrm), UdError, `${op.toString(16)} ${modrm.toString(16)}`);
  }
  // Undocumented aliases run (hw): FSTP1, FCOM2, FXCH4, FSTP8, FFREEP.
  const r = new Rig();
  r.pushDouble(1);
  r.pushDouble(2);
  for (const [op, modrm] of [[0xdc, 0xd1], [0xdd, 0xc9], [0xdf, 0xc9], [0xd9, 0xd9], [0xdf, 0xc0]] as const) r.exec(op, modrm);
  assert.equal(r.fpu.tagWord(), 0xffff);
});

test('isNonWaiting lists the FN* control instructions', () => {
  assert.equal(isNonWaiting(0xdb, 0xe3), true);
  assert.equal(isNonWaiting(0xdb, 0xe2), true);
  assert.equal(isNonWaiting(0xdf, 0xe0), true);
  assert.equal(isNonWaiting(0xd9, 0x3b), true);
  assert.equal(isNonWaiting(0xd9, 0x33), true);
  assert.equal(isNonWaiting(0xdd, 0x33), true);
  assert.equal(isNonWaiting(0xdd, 0x3b), true);
  assert.equal(isNonWaiting(0xd9, 0x2b), false);
  assert.equal(isNonWaiting(0xd8, 0xc1), false);
  assert.equal(isNonWaiting(0xdd, 0x23), false);
});

test('saveState/restoreState round-trip through JSON', () => {
  const r = new Rig();
  r.setCw(0x0e7f);
  r.pushDouble(Math.PI);
  r.pushF80(v(0x7fff, 0x8000000000000001n));
  r.exec(0xd8, 0xc1);
  const state = r.fpu.saveState();
  const host = new FakeHost();
  const other = new X87(host);
  other.restoreState(JSON.parse(JSON.stringify(state)));
  assert.deepEqual(other.saveState(), state);
  assert.equal(other.statusWord(), r.fpu.statusWord());
  assert.equal(other.tagWord(), r.fpu.tagWord());
  assert.throws(() => other.restoreState({ ...state, version: 2 as 1 }));
});

test('FILD/FISTP m64 and FBLD/FBSTP through memory', () => {
  const r = new Rig();
  const dv = new DataView(r.host.mem.buffer);
  dv.setBigInt64(0x10, -(1n << 63n), true);
  r.exec(0xdf, 0x2b, 0x10);
  r.exec(0xdf, 0x3b, 0x20);
  assert.equal(dv.getBigInt64(0x20, true), -(1n << 63n));
  r.host.setBytes(SCRATCH + 0x30, [0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0x80]);
  r.exec(0xdf, 0x23, 0x30);
  r.exec(0xdf, 0x33, 0x40);
  assert.deepEqual(r.host.bytes(SCRATCH + 0x40, 10), [0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0x80]);
  // FIST of 2^63 overflows: IE and the integer indefinite.
  r.pushF80(v(0x403e, 0x8000000000000000n));
  r.exec(0xdf, 0x3b, 0x50);
  assert.equal(dv.getBigUint64(0x50, true), 0x8000000000000000n);
  assert.equal(r.sw() & 1, 1);
});
