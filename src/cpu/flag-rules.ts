// The arithmetic flags, described once. A flag-setting instruction records its lazy
// state (operation, operands, result, width, and a carry); the rules here say what each
// flag and each condition code is in terms of that record. They are written against an
// abstract set of operations (FlagOps) so that one description has two backends: the
// interpreter's getters (getCF ... testCC in cpu.ts), built from JavaScript source the
// rules produce, and the jit's WebAssembly (src/engines/jit/translate.ts), emitted by
// the same rules for an operation and width known when translating.

/** The lazy-flag operations (Cpu.lzOp): the last flag-setting operation, evaluated on demand. */
export const LZ_NONE = 0;
export const LZ_ADD = 1;
export const LZ_ADC = 2;
export const LZ_SUB = 3;
export const LZ_SBB = 4;
export const LZ_LOGIC = 5;
export const LZ_INC = 6;
export const LZ_DEC = 7;
/** The operations with a record (all but LZ_NONE, where EFLAGS holds the flags). */
export const LZ_OPS = [LZ_ADD, LZ_ADC, LZ_SUB, LZ_SBB, LZ_LOGIC, LZ_INC, LZ_DEC] as const;

/** What the rules compute with. Values are 0 or 1 unless said otherwise. */
export interface FlagOps<T> {
  /** The record: operands, result (any bits), and the carry (ADC/SBB carry in; INC/DEC: CF kept). */
  readonly a: T;
  readonly b: T;
  readonly res: T;
  readonly carry: T;
  k(v: number): T;
  /** x masked to the operation's width, unsigned. */
  w(x: T): T;
  ltu(x: T, y: T): T;
  leu(x: T, y: T): T;
  and(x: T, y: T): T;
  or(x: T, y: T): T;
  xor(x: T, y: T): T;
  /** The sign bit of x at the operation's width. */
  top(x: T): T;
  /** Bit n of x. */
  bit(x: T, n: number): T;
  /** 1 when x is 0. */
  zero(x: T): T;
  /** 1 when the low byte of x has an even number of set bits. */
  parity(x: T): T;
  /** c ? x : y. */
  pick(c: T, x: T, y: T): T;
  sub(x: T, y: T): T;
  /** x << y, x >>> y, and x sign-extended from the operation's width >> y (y in 0..31). */
  shl(x: T, y: T): T;
  shr(x: T, y: T): T;
  sar(x: T, y: T): T;
}

// Shifts and rotates by a count of 1..31 (already masked): the record is a = the operand,
// b = the count, res = the result. Flags on this CPU (AMD, matched by hardware probe,
// docs/cpu.md): OF follows the count-1 formula applied to the last step for every
// count; shifts set AF and SF/ZF/PF from the result; rotates change only CF and OF.
export const SHIFT_ROL = 0;
export const SHIFT_ROR = 1;
export const SHIFT_SHL = 4;
export const SHIFT_SHR = 5;
export const SHIFT_SAR = 7;

export function shiftCarryRule<T>(f: FlagOps<T>, op: number, bits: T): T {
  switch (op) {
    case SHIFT_ROL: return f.bit(f.res, 0);
    case SHIFT_ROR: return f.top(f.res);
    case SHIFT_SHL: return f.pick(f.leu(f.b, bits), f.bit(f.shr(f.w(f.a), f.sub(bits, f.b)), 0), f.k(0));
    case SHIFT_SHR: return f.bit(f.shr(f.w(f.a), f.sub(f.b, f.k(1))), 0);
    default: return f.bit(f.sar(f.a, f.sub(f.b, f.k(1))), 0); // SAR
  }
}

export function shiftOverflowRule<T>(f: FlagOps<T>, op: number, bits: T): T {
  switch (op) {
    case SHIFT_ROL: case SHIFT_SHL: return f.xor(f.top(f.res), shiftCarryRule(f, op, bits));
    case SHIFT_ROR: return f.top(f.xor(f.res, f.shl(f.res, f.k(1)))); // the top two bits differ
    case SHIFT_SHR: return f.top(f.shr(f.w(f.a), f.sub(f.b, f.k(1))));
    default: return f.k(0); // SAR
  }
}

export function carryRule<T>(f: FlagOps<T>, op: number): T {
  switch (op) {
    case LZ_ADD: return f.ltu(f.w(f.res), f.w(f.a));
    case LZ_ADC: return f.pick(f.carry, f.leu(f.w(f.res), f.w(f.a)), f.ltu(f.w(f.res), f.w(f.a)));
    case LZ_SUB: return f.ltu(f.w(f.a), f.w(f.b));
    case LZ_SBB: return f.pick(f.carry, f.leu(f.w(f.a), f.w(f.b)), f.ltu(f.w(f.a), f.w(f.b)));
    case LZ_LOGIC: return f.k(0);
    default: return f.carry; // INC, DEC: CF as it was
  }
}

export function overflowRule<T>(f: FlagOps<T>, op: number): T {
  switch (op) {
    case LZ_ADD: case LZ_ADC: case LZ_INC: return f.top(f.and(f.xor(f.a, f.res), f.xor(f.b, f.res)));
    case LZ_SUB: case LZ_SBB: case LZ_DEC: return f.top(f.and(f.xor(f.a, f.b), f.xor(f.a, f.res)));
    default: return f.k(0);
  }
}

export function zeroRule<T>(f: FlagOps<T>): T {
  return f.zero(f.w(f.res));
}

export function signRule<T>(f: FlagOps<T>): T {
  return f.top(f.res);
}

export function parityRule<T>(f: FlagOps<T>): T {
  return f.parity(f.res);
}

export function adjustRule<T>(f: FlagOps<T>, op: number): T {
  return op === LZ_LOGIC ? f.k(0) : f.bit(f.xor(f.xor(f.a, f.b), f.res), 4);
}

/** The flags a condition code reads, 0 or 1 each. */
export interface CcFlags<T> {
  cf: T;
  zf: T;
  sf: T;
  of: T;
  pf: T;
}

/** Condition code cc (the low nibble of Jcc, SETcc, CMOVcc) from the flags. */
export function conditionRule<T>(f: FlagOps<T>, fl: CcFlags<T>, cc: number): T {
  let r: T;
  switch (cc >> 1) {
    case 0: r = fl.of; break;
    case 1: r = fl.cf; break;
    case 2: r = fl.zf; break;
    case 3: r = f.or(fl.cf, fl.zf); break;
    case 4: r = fl.sf; break;
    case 5: r = fl.pf; break;
    case 6: r = f.xor(fl.sf, fl.of); break;
    default: r = f.or(fl.zf, f.xor(fl.sf, fl.of)); break;
  }
  return (cc & 1) === 0 ? r : f.xor(r, f.k(1));
}

// ---- the JavaScript backend: source text over the Cpu's fields (`this`), for cpu.ts

/**
 * JavaScript expressions over the record's names (`a`, `b`, `res`, `carry`, and `bits`
 * for the width); `m` is the width mask and `P` the parity table in the function built
 * around them.
 */
function jsOps(n: { a: string; b: string; res: string; carry: string; bits: string }): FlagOps<string> {
  return {
    a: n.a, b: n.b, res: n.res, carry: n.carry,
    k: (v) => String(v),
    w: (x) => `((${x} & m) >>> 0)`,
    ltu: (x, y) => `(${x} < ${y} ? 1 : 0)`,
    leu: (x, y) => `(${x} <= ${y} ? 1 : 0)`,
    and: (x, y) => `(${x} & ${y})`,
    or: (x, y) => `(${x} | ${y})`,
    xor: (x, y) => `(${x} ^ ${y})`,
    top: (x) => `((${x} >>> (${n.bits} - 1)) & 1)`,
    bit: (x, i) => `((${x} >>> ${i}) & 1)`,
    zero: (x) => `(${x} === 0 ? 1 : 0)`,
    parity: (x) => `P[${x} & 0xff]`,
    pick: (c, x, y) => `(${c} ? ${x} : ${y})`,
    sub: (x, y) => `(${x} - ${y})`,
    shl: (x, y) => `(${x} << ${y})`,
    shr: (x, y) => `(${x} >>> ${y})`,
    sar: (x, y) => `(((${x} << (32 - ${n.bits})) >> (32 - ${n.bits})) >> ${y})`,
  };
}

/** Over a Cpu's lazy-flag fields (`this`). */
const JS = jsOps({ a: 'this.lzA', b: 'this.lzB', res: 'this.lzRes', carry: 'this.lzCarry', bits: 'this.lzBits' });

/** 1 for each byte value with even parity. */
export const PARITY_BIT = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let p = 1;
  for (let b = i; b; b >>= 1) p ^= b & 1;
  PARITY_BIT[i] = p;
}

/**
 * A Cpu method returning one flag as its EFLAGS bit (`flag`): from EFLAGS when there is
 * no record, else by the rule for the record's operation.
 */
export function flagGetter(rule: (f: FlagOps<string>, op: number) => string, flag: number): () => number {
  const shift = Math.log2(flag);
  const value = (op: number): string => `${rule(JS, op)}${shift ? ` << ${shift}` : ''}`;
  const same = LZ_OPS.every((op) => value(op) === value(LZ_OPS[0]));
  // A rule that does not depend on the operation (ZF, SF, PF) needs no switch.
  const body = same
    ? `if (this.lzOp === ${LZ_NONE}) return this.flags & ${flag};
      return ${value(LZ_OPS[0])};`
    : `switch (this.lzOp) {
      ${LZ_OPS.map((op) => `case ${op}: return ${value(op)};`).join('\n')}
      default: return this.flags & ${flag};
    }`;
  const src = `return function () {
    const m = this.lzBits === 32 ? -1 : (1 << this.lzBits) - 1;
    ${body}
  };`;
  return new Function('P', src)(PARITY_BIT) as () => number;
}

/** Cpu.testCC(cc) over the Cpu's getters: true when condition cc holds. */
export function conditionTester(): (cc: number) => boolean {
  const fl: CcFlags<string> = {
    cf: 'this.getCF()', zf: '(this.getZF() >>> 6)', sf: '(this.getSF() >>> 7)', of: '(this.getOF() >>> 11)', pf: '(this.getPF() >>> 2)',
  };
  const cases = Array.from({ length: 16 }, (_, cc) => `case ${cc}: return ${conditionRule(JS, fl, cc)} !== 0;`).join('\n');
  return new Function(`return function (cc) {
    switch (cc) {
      ${cases}
      default: return false;
    }
  };`)() as (cc: number) => boolean;
}

/**
 * For ops/shift.ts: (a, count, r, bits) -> CF | OF << 11 of shift or rotate `op` (ROL,
 * ROR, SHL, SHR, SAR), by the rules above.
 */
export function shiftFlagsOf(op: number): (a: number, count: number, r: number, bits: number) => number {
  const f = jsOps({ a: 'a', b: 'n', res: 'r', carry: '0', bits: 'bits' });
  return new Function(`return function (a, n, r, bits) {
    const m = bits === 32 ? -1 : (1 << bits) - 1;
    return ${shiftCarryRule(f, op, 'bits')} | (${shiftOverflowRule(f, op, 'bits')} << 11);
  };`)() as (a: number, count: number, r: number, bits: number) => number;
}
