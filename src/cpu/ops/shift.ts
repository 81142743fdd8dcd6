import type { Cpu } from '../cpu.ts';
import { FLAG_AF, FLAG_CF, FLAG_OF } from '../constants.ts';
import { editFlags, setResultFlags, widthMask } from './flags.ts';
import { shiftFlagsOf, SHIFT_ROL, SHIFT_ROR, SHIFT_SAR, SHIFT_SHL, SHIFT_SHR } from '../flag-rules.ts';

/** CF and OF of the shifts and rotates the jit translates too: the rules of flag-rules.ts. */
const ROL_FLAGS = shiftFlagsOf(SHIFT_ROL);
const ROR_FLAGS = shiftFlagsOf(SHIFT_ROR);
const SHL_FLAGS = shiftFlagsOf(SHIFT_SHL);
const SHR_FLAGS = shiftFlagsOf(SHIFT_SHR);
const SAR_FLAGS = shiftFlagsOf(SHIFT_SAR);

/** Group 2 operations, in /digit order (/6 is an alias of SHL). */
export const ROL = 0;
export const ROR = 1;
export const RCL = 2;
export const RCR = 3;
export const SHL = 4;
export const SHR = 5;
export const SAL = 6;
export const SAR = 7;
export const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'] as const;

/** Where the count comes from: the constant 1 (D0/D1), CL (D2/D3) or an imm8 (C0/C1). */
export const COUNT_1 = 0;
export const COUNT_CL = 1;
export const COUNT_IB = 2;

function readCount(cpu: Cpu, src: number): number {
  if (src === COUNT_1) return 1;
  if (src === COUNT_CL) return cpu.r8[4] & 31;
  return cpu.fetch8() & 31;
}

/**
 * a op count at width bits; count is 1..31 (already masked). Records the flags and
 * returns the result (masked; 32-bit results signed).
 *
 * Flags on this CPU (AMD, matched by hardware probe, docs/cpu.md): OF follows the
 * count-1 formula applied to the last step for every count; shifts set AF; rotates
 * leave SF/ZF/PF/AF alone.
 */
export function shiftOp(cpu: Cpu, op: number, a: number, count: number, bits: number): number {
  const top = bits - 1;
  const m = widthMask(bits);
  let r: number;
  switch (op) {
    case ROL: {
      const n = count & top;
      r = n ? ((a << n) | ((a & m) >>> (bits - n))) & m : a;
      editFlags(cpu, ROL_FLAGS(a, count, r, bits), FLAG_CF | FLAG_OF);
      return r;
    }
    case ROR: {
      const n = count & top;
      r = n ? (((a & m) >>> n) | (a << (bits - n))) & m : a;
      editFlags(cpu, ROR_FLAGS(a, count, r, bits), FLAG_CF | FLAG_OF);
      return r;
    }
    case RCL: {
      const cin = cpu.getCF();
      let cf: number;
      if (bits === 32) {
        r = (a << count) | (cin << (count - 1)) | (count > 1 ? a >>> (33 - count) : 0);
        cf = (a >>> (32 - count)) & 1;
      } else {
        const n = count % (bits + 1);
        if (n === 0) {
          r = a;
          cf = cin;
        } else {
          const v = a | (cin << bits);
          const w = ((v << n) | (v >>> (bits + 1 - n)));
          r = w & m;
          cf = (w >>> bits) & 1;
        }
      }
      editFlags(cpu, cf | ((((r >>> top) ^ cf) & 1) << 11), FLAG_CF | FLAG_OF);
      return r;
    }
    case RCR: {
      const cin = cpu.getCF();
      let cf: number;
      if (bits === 32) {
        r = (a >>> count) | (cin << (32 - count)) | (count > 1 ? a << (33 - count) : 0);
        cf = (a >>> (count - 1)) & 1;
      } else {
        const n = count % (bits + 1);
        if (n === 0) {
          r = a;
          cf = cin;
        } else {
          const v = a | (cin << bits);
          const w = (v >>> n) | (v << (bits + 1 - n));
          r = w & m;
          cf = (w >>> bits) & 1;
        }
      }
      editFlags(cpu, cf | ((((r >>> top) ^ (r >>> (top - 1))) & 1) << 11), FLAG_CF | FLAG_OF);
      return r;
    }
    case SHL:
    case SAL: {
      r = (a << count) & m;
      setResultFlags(cpu, r, bits, SHL_FLAGS(a, count, r, bits) | FLAG_AF);
      return r;
    }
    case SHR: {
      r = ((a & m) >>> (count - 1)) >>> 1;
      setResultFlags(cpu, r, bits, SHR_FLAGS(a, count, r, bits) | FLAG_AF);
      return r;
    }
    default: {
      r = ((((a << (32 - bits)) >> (32 - bits)) >> (count - 1)) >> 1) & m;
      setResultFlags(cpu, r, bits, SAR_FLAGS(a, count, r, bits) | FLAG_AF);
      return r;
    }
  }
}

/** C0/D0/D2 /op: shift or rotate Eb. */
export function shiftEb(cpu: Cpu, op: number, src: number): void {
  const a = cpu.readRmwE8();
  const count = readCount(cpu, src);
  if (count === 0) return;
  cpu.writeRmwE8(shiftOp(cpu, op, a, count, 8));
}

/** C1/D1/D3 /op: shift or rotate Ev. */
export function shiftEv(cpu: Cpu, op: number, src: number): void {
  if (cpu.o32) {
    const a = cpu.readRmwE32();
    const count = readCount(cpu, src);
    if (count === 0) return;
    cpu.writeRmwE32(shiftOp(cpu, op, a, count, 32));
  } else {
    const a = cpu.readRmwE16();
    const count = readCount(cpu, src);
    if (count === 0) return;
    cpu.writeRmwE16(shiftOp(cpu, op, a, count, 16));
  }
}

/** SHLD/SHRD Ev,Gv,Ib|CL (0F A4/A5/AC/AD). */
export function shld(cpu: Cpu, src: number): void {
  const reg = cpu.regField;
  if (cpu.o32) {
    const a = cpu.readRmwE32();
    const count = readCount(cpu, src);
    if (count === 0) return;
    const b = cpu.r32[reg];
    const r = (a << count) | (b >>> (32 - count));
    const cf = (a >>> (32 - count)) & 1;
    setResultFlags(cpu, r, 32, cf | FLAG_AF | ((((r >>> 31) ^ cf) & 1) << 11));
    cpu.writeRmwE32(r);
  } else {
    const a = cpu.readRmwE16();
    const count = readCount(cpu, src);
    if (count === 0) return;
    cpu.writeRmwE16(shld16(cpu, a, cpu.r16[reg << 1], count));
  }
}

export function shrd(cpu: Cpu, src: number): void {
  const reg = cpu.regField;
  if (cpu.o32) {
    const a = cpu.readRmwE32();
    const count = readCount(cpu, src);
    if (count === 0) return;
    const b = cpu.r32[reg];
    const r = (a >>> count) | (b << (32 - count));
    const cf = (a >>> (count - 1)) & 1;
    setResultFlags(cpu, r, 32, cf | FLAG_AF | ((((r >>> 31) ^ (r >>> 30)) & 1) << 11));
    cpu.writeRmwE32(r);
  } else {
    const a = cpu.readRmwE16();
    const count = readCount(cpu, src);
    if (count === 0) return;
    cpu.writeRmwE16(shrd16(cpu, a, cpu.r16[reg << 1], count));
  }
}

/**
 * 16-bit SHLD/SHRD. Counts above 16 are undefined; this CPU shifts through a 48-bit
 * dest:src:src (SHLD) or src:src:dest (SHRD) and then clears CF (and OF for SHLD).
 * SHRD's OF is the XOR of the result's top two bits for every count.
 */
function shld16(cpu: Cpu, a: number, b: number, count: number): number {
  let r: number, cf: number, of: number;
  if (count < 16) {
    r = ((a << count) | (b >>> (16 - count))) & 0xffff;
    cf = (a >>> (16 - count)) & 1;
    of = ((r >>> 15) ^ cf) & 1;
  } else if (count === 16) {
    r = b;
    cf = of = a & 1;
  } else {
    r = ((b << (count - 16)) | (b >>> (32 - count))) & 0xffff;
    cf = of = 0;
  }
  setResultFlags(cpu, r, 16, cf | FLAG_AF | (of << 11));
  return r;
}

function shrd16(cpu: Cpu, a: number, b: number, count: number): number {
  let r: number, cf: number;
  if (count < 16) {
    r = ((a >>> count) | (b << (16 - count))) & 0xffff;
    cf = (a >>> (count - 1)) & 1;
  } else if (count === 16) {
    r = b;
    cf = a >>> 15;
  } else {
    r = ((b >>> (count - 16)) | (b << (32 - count))) & 0xffff;
    cf = 0;
  }
  const of = ((r >>> 15) ^ (r >>> 14)) & 1;
  setResultFlags(cpu, r, 16, cf | FLAG_AF | (of << 11));
  return r;
}
