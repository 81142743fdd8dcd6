import type { Cpu } from '../cpu.ts';
import { CpuFault } from '../cpu.ts';
import {
  CS, DS, ES, FS, GS, SS, EAX, EXC_GP,
  FLAG_CF, FLAG_DF, FLAG_IF, FLAG_IOPL, FLAG_VM,
} from '../constants.ts';
import { dec, inc } from './alu.ts';

// ---- prefixes

/**
 * The exec of the prefix rows (66, 67, segment overrides, F0, F2, F3, 0F). Prefix bytes
 * are read by the decoder (decoder.ts readPrefixes) before dispatch, so this never runs;
 * the rows are there so that the table lists every byte.
 */
export function prefixByte(): void {
  throw new Error('internal error: a prefix byte reached opcode dispatch (decoder.ts reads prefixes)');
}

// ---- moves

export function movEbGb(cpu: Cpu): void { cpu.writeE8(cpu.getReg8(cpu.regField)); }
export function movEvGv(cpu: Cpu): void { cpu.writeEv(cpu.getRegV(cpu.regField)); }
export function movGbEb(cpu: Cpu): void { cpu.setReg8(cpu.regField, cpu.readE8()); }
export function movGvEv(cpu: Cpu): void { cpu.setRegV(cpu.regField, cpu.readEv()); }
export function movEbIb(cpu: Cpu): void {
  const lin = cpu.modrm < 0xc0 ? cpu.ea(1, true) : 0;
  const imm = cpu.fetch8();
  if (cpu.modrm >= 0xc0) cpu.setReg8(cpu.modrm & 7, imm);
  else cpu.write8(lin, imm);
}
export function movEvIz(cpu: Cpu): void {
  const imm = cpu.fetchImmV();
  cpu.writeEv(imm);
}
export function movRegIb(cpu: Cpu, reg: number): void { cpu.setReg8(reg, cpu.fetch8()); }
export function movRegIv(cpu: Cpu, reg: number): void { cpu.setRegV(reg, cpu.fetchImmV()); }

/** moffs operand: an address-size offset, in DS unless overridden. */
function moffsLin(cpu: Cpu, len: number, isWrite: boolean): number {
  const off = cpu.a32 ? cpu.fetch32() : cpu.fetch16();
  return cpu.linear(cpu.segOverride >= 0 ? cpu.segOverride : DS, off, len, isWrite);
}
export function movALOb(cpu: Cpu): void { cpu.r8[0] = cpu.read8(moffsLin(cpu, 1, false)); }
export function movEAXOv(cpu: Cpu): void {
  if (cpu.o32) cpu.r32[EAX] = cpu.read32(moffsLin(cpu, 4, false));
  else cpu.r16[0] = cpu.read16(moffsLin(cpu, 2, false));
}
export function movObAL(cpu: Cpu): void { cpu.write8(moffsLin(cpu, 1, true), cpu.r8[0]); }
export function movOvEAX(cpu: Cpu): void {
  if (cpu.o32) cpu.write32(moffsLin(cpu, 4, true), cpu.r32[EAX]);
  else cpu.write16(moffsLin(cpu, 2, true), cpu.r16[0]);
}

export function lea(cpu: Cpu): void {
  cpu.setRegV(cpu.regField, cpu.eaOff);
}

export function xchgEbGb(cpu: Cpu): void {
  const reg = cpu.regField;
  const a = cpu.readRmwE8();
  cpu.writeRmwE8(cpu.getReg8(reg));
  cpu.setReg8(reg, a);
}
export function xchgEvGv(cpu: Cpu): void {
  const reg = cpu.regField;
  const a = cpu.readRmwEv();
  cpu.writeRmwEv(cpu.getRegV(reg));
  cpu.setRegV(reg, a);
}
export function xchgEAX(cpu: Cpu, reg: number): void {
  const a = cpu.getRegV(EAX);
  cpu.setRegV(EAX, cpu.getRegV(reg));
  cpu.setRegV(reg, a);
}

// ---- inc/dec/push/pop by register

export function incReg(cpu: Cpu, reg: number): void {
  cpu.setRegV(reg, inc(cpu, cpu.getRegV(reg), cpu.o32 ? 32 : 16));
}
export function decReg(cpu: Cpu, reg: number): void {
  cpu.setRegV(reg, dec(cpu, cpu.getRegV(reg), cpu.o32 ? 32 : 16));
}
export function pushReg(cpu: Cpu, reg: number): void {
  cpu.pushV(cpu.getRegV(reg));
}
export function popReg(cpu: Cpu, reg: number): void {
  const v = cpu.popV();
  cpu.setRegV(reg, v);
}
export function pushIz(cpu: Cpu): void { cpu.pushV(cpu.fetchImmV()); }
export function pushIb(cpu: Cpu): void {
  const imm = (cpu.fetch8() << 24) >> 24;
  cpu.pushV(cpu.o32 ? imm : imm & 0xffff);
}

// ---- control flow

export function jccRel8(cpu: Cpu, cc: number): void {
  const rel = (cpu.fetch8() << 24) >> 24;
  if (cpu.testCC(cc)) cpu.jumpNear(cpu.eip + rel);
}
export function jccRelz(cpu: Cpu, cc: number): void {
  const rel = cpu.o32 ? cpu.fetch32() : (cpu.fetch16() << 16) >> 16;
  if (cpu.testCC(cc)) cpu.jumpNear(cpu.eip + rel);
}
export function jmpRel8(cpu: Cpu): void {
  const rel = (cpu.fetch8() << 24) >> 24;
  cpu.jumpNear(cpu.eip + rel);
}
export function jmpRelz(cpu: Cpu): void {
  const rel = cpu.o32 ? cpu.fetch32() : (cpu.fetch16() << 16) >> 16;
  cpu.jumpNear(cpu.eip + rel);
}
export function callRelz(cpu: Cpu): void {
  const rel = cpu.o32 ? cpu.fetch32() : (cpu.fetch16() << 16) >> 16;
  const ret = cpu.eip;
  const target = cpu.o32 ? (ret + rel) >>> 0 : (ret + rel) & 0xffff;
  if (target > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
  cpu.pushV(ret);
  cpu.eip = target;
}
export function retNear(cpu: Cpu): void {
  const target = cpu.o32 ? cpu.peek32(0) >>> 0 : cpu.peek16(0);
  if (target > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
  cpu.setSp(cpu.getSp() + (cpu.o32 ? 4 : 2));
  cpu.eip = target;
}
export function retNearIw(cpu: Cpu): void {
  const n = cpu.fetch16();
  const target = cpu.o32 ? cpu.peek32(0) >>> 0 : cpu.peek16(0);
  if (target > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
  cpu.setSp(cpu.getSp() + (cpu.o32 ? 4 : 2) + n);
  cpu.eip = target;
}
/** FF /2: CALL Ev (near indirect). */
export function callEv(cpu: Cpu): void {
  const target = cpu.o32 ? cpu.readE32() >>> 0 : cpu.readE16();
  if (target > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
  cpu.pushV(cpu.eip);
  cpu.eip = target;
}
/** FF /4: JMP Ev (near indirect). */
export function jmpEv(cpu: Cpu): void {
  const target = cpu.o32 ? cpu.readE32() >>> 0 : cpu.readE16();
  if (target > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
  cpu.eip = target;
}
/** FF /6: PUSH Ev. */
export function pushEv(cpu: Cpu): void {
  cpu.pushV(cpu.readEv());
}
/** 8F /0: POP Ev. ESP is incremented before the destination address is used (SDM POP). */
export function popEv(cpu: Cpu): void {
  const v = cpu.o32 ? cpu.peek32(0) : cpu.peek16(0);
  const width = cpu.o32 ? 4 : 2;
  cpu.setSp(cpu.getSp() + width);
  if (cpu.modrm < 0xc0 && cpu.eaBaseIsEsp) cpu.eaOff = (cpu.eaOff + width) | 0;
  cpu.writeEv(v);
}

// ---- flags

export function clc(cpu: Cpu): void { cpu.setFlags(0, FLAG_CF); }
export function stc(cpu: Cpu): void { cpu.setFlags(FLAG_CF, FLAG_CF); }
export function cmc(cpu: Cpu): void { cpu.setFlags(cpu.getCF() ? 0 : FLAG_CF, FLAG_CF); }
export function cld(cpu: Cpu): void { cpu.flags &= ~FLAG_DF; }
export function std(cpu: Cpu): void { cpu.flags |= FLAG_DF; }

function iopl(cpu: Cpu): number {
  return (cpu.flags & FLAG_IOPL) >> 12;
}
export function cli(cpu: Cpu): void {
  if (!cpu.isRealMode() && (cpu.flags & FLAG_VM ? iopl(cpu) < 3 : cpu.cpl > iopl(cpu))) throw new CpuFault(EXC_GP, 0);
  cpu.flags &= ~FLAG_IF;
}
export function sti(cpu: Cpu): void {
  if (!cpu.isRealMode() && (cpu.flags & FLAG_VM ? iopl(cpu) < 3 : cpu.cpl > iopl(cpu))) throw new CpuFault(EXC_GP, 0);
  if (!(cpu.flags & FLAG_IF)) cpu.irqInhibit = 1;
  cpu.flags |= FLAG_IF;
}

export function hlt(cpu: Cpu): void {
  if (cpu.cpl !== 0) throw new CpuFault(EXC_GP, 0);
  cpu.halt();
}

export function nop(_cpu: Cpu): void {}

// ---- port I/O

export function inALIb(cpu: Cpu): void { const p = cpu.fetch8(); cpu.r8[0] = cpu.ioRead(p, 1); }
export function inEAXIb(cpu: Cpu): void {
  const p = cpu.fetch8();
  if (cpu.o32) cpu.r32[EAX] = cpu.ioRead(p, 4);
  else cpu.r16[0] = cpu.ioRead(p, 2);
}
export function outIbAL(cpu: Cpu): void { const p = cpu.fetch8(); cpu.ioWrite(p, 1, cpu.r8[0]); }
export function outIbEAX(cpu: Cpu): void {
  const p = cpu.fetch8();
  if (cpu.o32) cpu.ioWrite(p, 4, cpu.r32[EAX]);
  else cpu.ioWrite(p, 2, cpu.r16[0]);
}
export function inALDX(cpu: Cpu): void { cpu.r8[0] = cpu.ioRead(cpu.r16[4], 1); }
export function inEAXDX(cpu: Cpu): void {
  if (cpu.o32) cpu.r32[EAX] = cpu.ioRead(cpu.r16[4], 4);
  else cpu.r16[0] = cpu.ioRead(cpu.r16[4], 2);
}
export function outDXAL(cpu: Cpu): void { cpu.ioWrite(cpu.r16[4], 1, cpu.r8[0]); }
export function outDXEAX(cpu: Cpu): void {
  if (cpu.o32) cpu.ioWrite(cpu.r16[4], 4, cpu.r32[EAX]);
  else cpu.ioWrite(cpu.r16[4], 2, cpu.r16[0]);
}

export const SEGMENT_PREFIXES = [
  [0x26, ES], [0x2e, CS], [0x36, SS], [0x3e, DS], [0x64, FS], [0x65, GS],
] as const;

