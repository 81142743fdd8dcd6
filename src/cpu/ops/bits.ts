import type { Cpu } from '../cpu.ts';
import { LZ_NONE, LZ_SUB } from '../cpu.ts';
import { EAX, EBX, ECX, EDX, FLAGS_ARITH, FLAG_CF, FLAG_PF, FLAG_ZF } from '../constants.ts';
import { alu, ALU_ADD } from './alu.ts';
import { editFlags, PARITY } from './flags.ts';

/** Bit-test operations, in 0F BA /digit order minus 4. */
export const BT = 0;
export const BTS = 1;
export const BTR = 2;
export const BTC = 3;
export const BT_NAMES = ['bt', 'bts', 'btr', 'btc'] as const;

function applyBit(op: number, v: number, mask: number): number {
  switch (op) {
    case BTS: return v | mask;
    case BTR: return v & ~mask;
    default: return v ^ mask;
  }
}

/** BT/BTS/BTR/BTC on Ev with bit number `bit`; memory operands use the address at eaOff + byteDelta. */
function bitOp(cpu: Cpu, op: number, bit: number, byteDelta: number): void {
  if (cpu.o32) {
    const mask = 1 << (bit & 31);
    let v: number;
    if (cpu.modrm >= 0xc0) {
      const reg = cpu.modrm & 7;
      v = cpu.r32[reg];
      if (op !== BT) cpu.r32[reg] = applyBit(op, v, mask);
    } else {
      const lin = bitAddress(cpu, byteDelta, 4, op !== BT);
      if (op === BT) {
        v = cpu.read32(lin);
      } else {
        cpu.checkWrite(lin, 4);
        v = cpu.read32(lin);
        cpu.write32(lin, applyBit(op, v, mask));
      }
    }
    editFlags(cpu, (v & mask) !== 0 ? FLAG_CF : 0, FLAG_CF);
  } else {
    const mask = 1 << (bit & 15);
    let v: number;
    if (cpu.modrm >= 0xc0) {
      const i = (cpu.modrm & 7) << 1;
      v = cpu.r16[i];
      if (op !== BT) cpu.r16[i] = applyBit(op, v, mask);
    } else {
      const lin = bitAddress(cpu, byteDelta, 2, op !== BT);
      if (op === BT) {
        v = cpu.read16(lin);
      } else {
        cpu.checkWrite(lin, 2);
        v = cpu.read16(lin);
        cpu.write16(lin, applyBit(op, v, mask));
      }
    }
    editFlags(cpu, (v & mask) !== 0 ? FLAG_CF : 0, FLAG_CF);
  }
}

function bitAddress(cpu: Cpu, byteDelta: number, len: number, isWrite: boolean): number {
  const off = cpu.a32 ? (cpu.eaOff + byteDelta) | 0 : (cpu.eaOff + byteDelta) & 0xffff;
  return cpu.linear(cpu.eaSeg, off, len, isWrite);
}

/** 0F A3/AB/B3/BB: the bit offset in Gv is signed and may address beyond the memory operand. */
export function btEvGv(cpu: Cpu, op: number): void {
  if (cpu.o32) {
    const off = cpu.r32[cpu.regField];
    bitOp(cpu, op, off, (off >> 5) << 2);
  } else {
    const off = (cpu.r16[cpu.regField << 1] << 16) >> 16;
    bitOp(cpu, op, off, (off >> 4) << 1);
  }
}

/** 0F BA /4-/7: the immediate bit offset is taken modulo the operand size. */
export function btEvIb(cpu: Cpu): void {
  const op = cpu.regField - 4;
  bitOp(cpu, op, cpu.fetch8(), 0);
}

/**
 * BSF/BSR flags on this CPU: a zero source sets ZF and PF (and leaves the destination
 * alone); otherwise PF is the parity of the index; CF, OF, SF and AF are cleared.
 */
function setBitScanFlags(cpu: Cpu, zero: boolean, index: number): void {
  cpu.flags = (cpu.flags & ~FLAGS_ARITH) | (zero ? FLAG_ZF | FLAG_PF : PARITY[index]);
  cpu.lzOp = LZ_NONE;
}

export function bsf(cpu: Cpu): void {
  const src = cpu.readEv();
  if (src !== 0) {
    const r = 31 - Math.clz32(src & -src);
    cpu.setRegV(cpu.regField, r);
    setBitScanFlags(cpu, false, r);
  } else {
    setBitScanFlags(cpu, true, 0);
  }
}

export function bsr(cpu: Cpu): void {
  const src = cpu.readEv();
  if (src !== 0) {
    const r = 31 - Math.clz32(src);
    cpu.setRegV(cpu.regField, r);
    setBitScanFlags(cpu, false, r);
  } else {
    setBitScanFlags(cpu, true, 0);
  }
}

/** BSWAP r32; with a 16-bit operand the result is undefined and this CPU clears the register. */
export function bswap(cpu: Cpu, reg: number): void {
  if (cpu.o32) {
    const v = cpu.r32[reg];
    cpu.r32[reg] = (v >>> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
  } else {
    cpu.r16[reg << 1] = 0;
  }
}

// ---- CMPXCHG, CMPXCHG8B, XADD

export function cmpxchgEbGb(cpu: Cpu): void {
  const d = cpu.readRmwE8();
  const acc = cpu.r8[0];
  cpu.setLazy(LZ_SUB, acc, d, (acc - d) & 0xff, 8);
  if (acc === d) {
    cpu.writeRmwE8(cpu.getReg8(cpu.regField));
  } else {
    cpu.writeRmwE8(d);
    cpu.r8[0] = d;
  }
}

export function cmpxchgEvGv(cpu: Cpu): void {
  if (cpu.o32) {
    const d = cpu.readRmwE32();
    const acc = cpu.r32[EAX];
    cpu.setLazy(LZ_SUB, acc, d, (acc - d) | 0, 32);
    if (acc === d) {
      cpu.writeRmwE32(cpu.r32[cpu.regField]);
    } else {
      cpu.writeRmwE32(d);
      cpu.r32[EAX] = d;
    }
  } else {
    const d = cpu.readRmwE16();
    const acc = cpu.r16[0];
    cpu.setLazy(LZ_SUB, acc, d, (acc - d) & 0xffff, 16);
    if (acc === d) {
      cpu.writeRmwE16(cpu.r16[cpu.regField << 1]);
    } else {
      cpu.writeRmwE16(d);
      cpu.r16[0] = d;
    }
  }
}

/** 0F C7 /1: the memory is written in both cases (with its own value when unequal). */
export function cmpxchg8b(cpu: Cpu): void {
  const lin = cpu.ea(8, true);
  cpu.checkWrite(lin, 8);
  const lo = cpu.read32(lin);
  const hi = cpu.read32((lin + 4) | 0);
  const r = cpu.r32;
  if (r[EAX] === lo && r[EDX] === hi) {
    cpu.write32(lin, r[EBX]);
    cpu.write32((lin + 4) | 0, r[ECX]);
    editFlags(cpu, FLAG_ZF, FLAG_ZF);
  } else {
    cpu.write32(lin, lo);
    cpu.write32((lin + 4) | 0, hi);
    r[EAX] = lo;
    r[EDX] = hi;
    editFlags(cpu, 0, FLAG_ZF);
  }
}

export function xaddEbGb(cpu: Cpu): void {
  const reg = cpu.regField;
  const d = cpu.readRmwE8();
  const r = alu(cpu, ALU_ADD, d, cpu.getReg8(reg), 8);
  cpu.setReg8(reg, d);
  cpu.writeRmwE8(r);
}

export function xaddEvGv(cpu: Cpu): void {
  const reg = cpu.regField;
  if (cpu.o32) {
    const d = cpu.readRmwE32();
    const r = alu(cpu, ALU_ADD, d, cpu.r32[reg], 32);
    cpu.r32[reg] = d;
    cpu.writeRmwE32(r);
  } else {
    const d = cpu.readRmwE16();
    const r = alu(cpu, ALU_ADD, d, cpu.r16[reg << 1], 16);
    cpu.r16[reg << 1] = d;
    cpu.writeRmwE16(r);
  }
}

// ---- CMOVcc, SETcc, MOVZX/MOVSX, NOP Ev

/** The source is read (and may fault) whether or not the condition holds. */
export function cmov(cpu: Cpu, cc: number): void {
  const v = cpu.readEv();
  if (cpu.testCC(cc)) cpu.setRegV(cpu.regField, v);
}

export function setcc(cpu: Cpu, cc: number): void {
  cpu.writeE8(cpu.testCC(cc) ? 1 : 0);
}

export function movzxGvEb(cpu: Cpu): void { cpu.setRegV(cpu.regField, cpu.readE8()); }
export function movzxGvEw(cpu: Cpu): void { cpu.setRegV(cpu.regField, cpu.readE16()); }
export function movsxGvEb(cpu: Cpu): void { cpu.setRegV(cpu.regField, (cpu.readE8() << 24) >> 24); }
export function movsxGvEw(cpu: Cpu): void { cpu.setRegV(cpu.regField, (cpu.readE16() << 16) >> 16); }

/** 0F 18-1F: hint NOPs; the memory operand is decoded but never accessed. */
export function nopEv(_cpu: Cpu): void {}
