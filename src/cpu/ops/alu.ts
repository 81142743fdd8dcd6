import type { Cpu } from '../cpu.ts';
import { LZ_ADC, LZ_ADD, LZ_DEC, LZ_INC, LZ_LOGIC, LZ_SBB, LZ_SUB } from '../cpu.ts';
import { EAX } from '../constants.ts';

/** The eight classic ALU operations, in opcode order (00 ADD .. 38 CMP, and /digit of 80-83). */
export const ALU_ADD = 0;
export const ALU_OR = 1;
export const ALU_ADC = 2;
export const ALU_SBB = 3;
export const ALU_AND = 4;
export const ALU_SUB = 5;
export const ALU_XOR = 6;
export const ALU_CMP = 7;
export const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;

/** Compute a op b at width bits (8/16/32), record the flags, return the result (masked; 32-bit results signed). */
export function alu(cpu: Cpu, op: number, a: number, b: number, bits: number): number {
  let r: number;
  switch (op) {
    case ALU_ADD:
      r = (a + b) | 0;
      cpu.setLazy(LZ_ADD, a, b, r, bits);
      break;
    case ALU_OR:
      r = a | b;
      cpu.setLazy(LZ_LOGIC, a, b, r, bits);
      break;
    case ALU_ADC: {
      const c = cpu.getCF();
      r = (a + b + c) | 0;
      cpu.lzCarry = c;
      cpu.setLazy(LZ_ADC, a, b, r, bits);
      break;
    }
    case ALU_SBB: {
      const c = cpu.getCF();
      r = (a - b - c) | 0;
      cpu.lzCarry = c;
      cpu.setLazy(LZ_SBB, a, b, r, bits);
      break;
    }
    case ALU_AND:
      r = a & b;
      cpu.setLazy(LZ_LOGIC, a, b, r, bits);
      break;
    case ALU_XOR:
      r = a ^ b;
      cpu.setLazy(LZ_LOGIC, a, b, r, bits);
      break;
    default: // SUB, CMP
      r = (a - b) | 0;
      cpu.setLazy(LZ_SUB, a, b, r, bits);
      break;
  }
  if (bits === 8) return r & 0xff;
  if (bits === 16) return r & 0xffff;
  return r;
}

export function inc(cpu: Cpu, a: number, bits: number): number {
  cpu.lzCarry = cpu.getCF();
  const r = (a + 1) | 0;
  cpu.setLazy(LZ_INC, a, 1, r, bits);
  return bits === 32 ? r : r & ((1 << bits) - 1);
}

export function dec(cpu: Cpu, a: number, bits: number): number {
  cpu.lzCarry = cpu.getCF();
  const r = (a - 1) | 0;
  cpu.setLazy(LZ_DEC, a, 1, r, bits);
  return bits === 32 ? r : r & ((1 << bits) - 1);
}

/** ALU Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev / AL,Ib / eAX,Iz, for op = opcode >> 3. */
export function aluEbGb(cpu: Cpu, op: number): void {
  const b = cpu.getReg8(cpu.regField);
  if (op === ALU_CMP) {
    alu(cpu, op, cpu.readE8(), b, 8);
    return;
  }
  cpu.writeRmwE8(alu(cpu, op, cpu.readRmwE8(), b, 8));
}

export function aluEvGv(cpu: Cpu, op: number): void {
  const bits = cpu.o32 ? 32 : 16;
  const b = cpu.getRegV(cpu.regField);
  if (op === ALU_CMP) {
    alu(cpu, op, cpu.readEv(), b, bits);
    return;
  }
  cpu.writeRmwEv(alu(cpu, op, cpu.readRmwEv(), b, bits));
}

export function aluGbEb(cpu: Cpu, op: number): void {
  const reg = cpu.regField;
  const r = alu(cpu, op, cpu.getReg8(reg), cpu.readE8(), 8);
  if (op !== ALU_CMP) cpu.setReg8(reg, r);
}

export function aluGvEv(cpu: Cpu, op: number): void {
  const reg = cpu.regField;
  const r = alu(cpu, op, cpu.getRegV(reg), cpu.readEv(), cpu.o32 ? 32 : 16);
  if (op !== ALU_CMP) cpu.setRegV(reg, r);
}

export function aluALIb(cpu: Cpu, op: number): void {
  const r = alu(cpu, op, cpu.r8[0], cpu.fetch8(), 8);
  if (op !== ALU_CMP) cpu.r8[0] = r;
}

export function aluEAXIz(cpu: Cpu, op: number): void {
  const imm = cpu.fetchImmV();
  const r = alu(cpu, op, cpu.getRegV(EAX), imm, cpu.o32 ? 32 : 16);
  if (op !== ALU_CMP) cpu.setRegV(EAX, r);
}

/** Group 1: 80 /op Eb,Ib; 81 /op Ev,Iz; 83 /op Ev,Ib (sign-extended). */
export function group1Eb(cpu: Cpu): void {
  const op = cpu.regField;
  if (op === ALU_CMP) {
    const a = cpu.readE8();
    alu(cpu, op, a, cpu.fetch8(), 8);
    return;
  }
  const a = cpu.readRmwE8();
  cpu.writeRmwE8(alu(cpu, op, a, cpu.fetch8(), 8));
}

export function group1EvIz(cpu: Cpu): void {
  const op = cpu.regField;
  const bits = cpu.o32 ? 32 : 16;
  if (op === ALU_CMP) {
    const a = cpu.readEv();
    alu(cpu, op, a, cpu.fetchImmV(), bits);
    return;
  }
  const a = cpu.readRmwEv();
  cpu.writeRmwEv(alu(cpu, op, a, cpu.fetchImmV(), bits));
}

export function group1EvIb(cpu: Cpu): void {
  const op = cpu.regField;
  const bits = cpu.o32 ? 32 : 16;
  if (op === ALU_CMP) {
    const a = cpu.readEv();
    const imm = (cpu.fetch8() << 24) >> 24;
    alu(cpu, op, a, bits === 16 ? imm & 0xffff : imm, bits);
    return;
  }
  const a = cpu.readRmwEv();
  const imm = (cpu.fetch8() << 24) >> 24;
  cpu.writeRmwEv(alu(cpu, op, a, bits === 16 ? imm & 0xffff : imm, bits));
}
