// Descriptor-table registers, control and debug registers, MSRs, time stamp counter, SYSENTER/SYSEXIT, CPUID (Intel SDM Vol. 2; Vol. 3A 2.5, 4.10, 17.2).
import type { Cpu } from '../cpu.ts';
import { CpuFault } from '../cpu.ts';
import {
  CS, SS, EAX, ECX, EDX, EBX, ESP,
  CR0_AM, CR0_CD, CR0_EM, CR0_ET, CR0_MP, CR0_NE, CR0_NW, CR0_PE, CR0_PG, CR0_TS, CR0_WP,
  CR4_DE, CR4_PAE, CR4_PCE, CR4_PGE, CR4_PSE, CR4_SUPPORTED, CR4_TSD,
  DESC_A, DESC_CODE, DESC_DB, DESC_G, DESC_P, DESC_RW, DESC_S,
  EXC_DB, EXC_GP,
  FLAG_IF, FLAG_RF, FLAG_VM,
  MSR_SYSENTER_CS, MSR_SYSENTER_EIP, MSR_SYSENTER_ESP, MSR_TSC,
} from '../constants.ts';
import { cpuid } from '../cpuid.ts';
import { requireCpl0 } from './system-seg.ts';

/** IA32_BIOS_SIGN_ID: the microcode revision (reads 0: no microcode update is loaded). */
export const MSR_BIOS_SIGN_ID = 0x8b;
/**
 * IA32_PLATFORM_ID (read-only, P6 family from model 5 on). Bits 52:50 give the platform the
 * microcode is for; Linux's microcode loader reads it unchecked on this CPUID. Platform 0.
 */
export const MSR_PLATFORM_ID = 0x17;

const CR0_DEFINED = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG;
const DR7_GD = 0x2000;
const DR6_BD = 0x2000;
const TWO_32 = 4294967296;

function gp0(): CpuFault {
  return new CpuFault(EXC_GP, 0);
}

/** Re-derive the per-segment fast paths after a mode change (PE or VM toggled). */
export function refreshSegments(cpu: Cpu): void {
  for (let s = 0; s < 6; s++) cpu.updateSegFast(s);
}

// ---- GDTR, IDTR, MSW

/** 0F 01 /2 and /3: LGDT, LIDT m16&32. With a 16-bit operand size only 24 bits of base are loaded. */
export function loadTableRegister(cpu: Cpu, idt: boolean): void {
  requireCpl0(cpu);
  const lin = cpu.ea(6, false);
  const limit = cpu.read16(lin);
  let base = cpu.read32((lin + 2) | 0);
  if (!cpu.o32) base &= 0xffffff;
  if (idt) {
    cpu.idtBase = base;
    cpu.idtLimit = limit;
  } else {
    cpu.gdtBase = base;
    cpu.gdtLimit = limit;
  }
}

/** 0F 01 /0 and /1: SGDT, SIDT m. With a 16-bit operand size the base's top byte is stored as 0. */
export function storeTableRegister(cpu: Cpu, idt: boolean): void {
  const lin = cpu.ea(6, true);
  cpu.checkWrite(lin, 6);
  const limit = idt ? cpu.idtLimit : cpu.gdtLimit;
  const base = idt ? cpu.idtBase : cpu.gdtBase;
  cpu.write16(lin, limit);
  cpu.write32((lin + 2) | 0, cpu.o32 ? base : base & 0xffffff);
}

/** 0F 01 /4: SMSW. A register destination receives all of CR0 (P6 behaviour) or its low word. */
export function smsw(cpu: Cpu): void {
  if (cpu.modrm >= 0xc0 && cpu.o32) cpu.r32[cpu.modrm & 7] = cpu.cr0;
  else cpu.writeE16(cpu.cr0 & 0xffff);
}

/** 0F 01 /6: LMSW. Loads PE, MP, EM, TS; cannot clear PE. */
export function lmsw(cpu: Cpu): void {
  requireCpl0(cpu);
  const v = cpu.readE16();
  setCr0(cpu, (cpu.cr0 & ~(CR0_MP | CR0_EM | CR0_TS)) | (v & (CR0_PE | CR0_MP | CR0_EM | CR0_TS)));
}

/** 0F 06: CLTS. */
export function clts(cpu: Cpu): void {
  requireCpl0(cpu);
  cpu.cr0 &= ~CR0_TS;
}

/** 0F 01 /7: INVLPG m. */
export function invlpg(cpu: Cpu): void {
  requireCpl0(cpu);
  cpu.invalidatePage((cpu.segBase[cpu.eaSeg] + cpu.eaOff) | 0);
}

/** 0F 08 and 0F 09: INVD, WBINVD (no caches to write back). */
export function invalidateCaches(cpu: Cpu): void {
  requireCpl0(cpu);
}

// ---- control registers

/**
 * Write CR0 (SDM Vol. 3A 2.5, 4.10.4.1): reserved bits are ignored, ET is
 * hard-wired to 1, PG without PE and NW without CD raise #GP(0). Changing PG, WP
 * or PE flushes the TLB; CPL is unchanged (it follows CS).
 */
export function setCr0(cpu: Cpu, value: number): void {
  const v = ((value & CR0_DEFINED) | CR0_ET) | 0;
  if ((v & CR0_PG) && !(v & CR0_PE)) throw gp0();
  if ((v & CR0_NW) && !(v & CR0_CD)) throw gp0();
  const changed = cpu.cr0 ^ v;
  cpu.cr0 = v;
  if (changed & (CR0_PG | CR0_WP | CR0_PE)) cpu.flushTlb();
  if (changed & CR0_PE) refreshSegments(cpu);
}

export function setCr4(cpu: Cpu, value: number): void {
  if (value & ~CR4_SUPPORTED) throw gp0();
  const changed = cpu.cr4 ^ value;
  cpu.cr4 = value | 0;
  if (changed & (CR4_PSE | CR4_PGE | CR4_PAE)) cpu.flushTlb();
}

function validCr(n: number): boolean {
  return n === 0 || n === 2 || n === 3 || n === 4;
}

/** 0F 20: MOV r32, CRn. */
export function movRdCr(cpu: Cpu): void {
  const n = cpu.regField;
  if (!validCr(n)) cpu.undefinedOpcode();
  requireCpl0(cpu);
  const v = n === 0 ? cpu.cr0 : n === 2 ? cpu.cr2 : n === 3 ? cpu.cr3 : cpu.cr4;
  cpu.r32[cpu.modrm & 7] = v;
}

/** 0F 22: MOV CRn, r32. */
export function movCrRd(cpu: Cpu): void {
  const n = cpu.regField;
  if (!validCr(n)) cpu.undefinedOpcode();
  requireCpl0(cpu);
  const v = cpu.r32[cpu.modrm & 7];
  switch (n) {
    case 0: setCr0(cpu, v); break;
    case 2: cpu.cr2 = v; break;
    case 3:
      cpu.cr3 = v;
      cpu.flushTlb(true);
      break;
    default: setCr4(cpu, v); break;
  }
}

// ---- debug registers (the registers only: breakpoints are not matched)

/** DR4/DR5 alias DR6/DR7 unless CR4.DE, where they are #UD. DR7.GD turns the access into #DB with DR6.BD. */
function debugRegister(cpu: Cpu): number {
  let n = cpu.regField;
  if (n === 4 || n === 5) {
    if (cpu.cr4 & CR4_DE) cpu.undefinedOpcode();
    n += 2;
  }
  requireCpl0(cpu);
  if (cpu.dr[7] & DR7_GD) {
    cpu.dr[6] |= DR6_BD;
    cpu.dr[7] &= ~DR7_GD;
    throw new CpuFault(EXC_DB, 0);
  }
  return n;
}

/** 0F 21: MOV r32, DRn. */
export function movRdDr(cpu: Cpu): void {
  const n = debugRegister(cpu);
  cpu.r32[cpu.modrm & 7] = cpu.dr[n];
}

/** 0F 23: MOV DRn, r32. DR6 and DR7 keep their fixed bits (P6 layout). */
export function movDrRd(cpu: Cpu): void {
  const n = debugRegister(cpu);
  const v = cpu.r32[cpu.modrm & 7];
  if (n === 6) cpu.dr[6] = (v | 0xffff0ff0) & ~0x1000;
  else if (n === 7) cpu.dr[7] = (v | 0x400) & ~0xd800;
  else cpu.dr[n] = v;
}

// ---- MSRs and the time stamp counter

function tscNow(cpu: Cpu): number {
  return cpu.readTsc() + cpu.tscOffset;
}

function setEdxEax(cpu: Cpu, v: number): void {
  const hi = Math.floor(v / TWO_32);
  cpu.r32[EAX] = (v - hi * TWO_32) | 0;
  cpu.r32[EDX] = hi | 0;
}

/** 0F 32: RDMSR. */
export function rdmsr(cpu: Cpu): void {
  requireCpl0(cpu);
  const msr = cpu.r32[ECX] >>> 0;
  switch (msr) {
    case MSR_TSC: setEdxEax(cpu, tscNow(cpu)); return;
    case MSR_BIOS_SIGN_ID: setEdxEax(cpu, 0); return;
    case MSR_PLATFORM_ID: setEdxEax(cpu, 0); return;
    case MSR_SYSENTER_CS: setEdxEax(cpu, cpu.msrSysenterCs >>> 0); return;
    case MSR_SYSENTER_ESP: setEdxEax(cpu, cpu.msrSysenterEsp >>> 0); return;
    case MSR_SYSENTER_EIP: setEdxEax(cpu, cpu.msrSysenterEip >>> 0); return;
    default: throw gp0();
  }
}

/** 0F 30: WRMSR. */
export function wrmsr(cpu: Cpu): void {
  requireCpl0(cpu);
  const msr = cpu.r32[ECX] >>> 0;
  const lo = cpu.r32[EAX];
  switch (msr) {
    case MSR_TSC:
      cpu.tscOffset = (cpu.r32[EDX] >>> 0) * TWO_32 + (lo >>> 0) - cpu.readTsc();
      return;
    case MSR_BIOS_SIGN_ID: return;
    case MSR_SYSENTER_CS: cpu.msrSysenterCs = lo & 0xffff; return;
    case MSR_SYSENTER_ESP: cpu.msrSysenterEsp = lo; return;
    case MSR_SYSENTER_EIP: cpu.msrSysenterEip = lo; return;
    default: throw gp0();
  }
}

/** 0F 31: RDTSC. */
export function rdtsc(cpu: Cpu): void {
  if ((cpu.cr4 & CR4_TSD) && cpu.cpl !== 0) throw gp0();
  setEdxEax(cpu, tscNow(cpu));
}

/** 0F 33: RDPMC. The two P6 counters exist but never count (no event-select MSRs). */
export function rdpmc(cpu: Cpu): void {
  if (!(cpu.cr4 & CR4_PCE) && cpu.cpl !== 0) throw gp0();
  if ((cpu.r32[ECX] >>> 0) > 1) throw gp0();
  cpu.r32[EAX] = 0;
  cpu.r32[EDX] = 0;
}

// ---- SYSENTER / SYSEXIT (SDM Vol. 2)

const FLAT = 0xffffffff;
const FLAT_CODE = DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | DESC_DB | DESC_G;
const FLAT_DATA = DESC_P | DESC_S | DESC_RW | DESC_A | DESC_DB | DESC_G;

/** 0F 34: SYSENTER. */
export function sysenter(cpu: Cpu): void {
  const cs = cpu.msrSysenterCs & 0xffff;
  if (!(cpu.cr0 & CR0_PE) || (cs & 0xfffc) === 0) throw gp0();
  const wasVm86 = (cpu.flags & FLAG_VM) !== 0;
  cpu.flags &= ~(FLAG_VM | FLAG_IF | FLAG_RF);
  cpu.setCpl(0);
  cpu.setSegmentCache(CS, cs & 0xfffc, 0, FLAT, FLAT_CODE);
  cpu.setSegmentCache(SS, (cs + 8) & 0xffff, 0, FLAT, FLAT_DATA);
  cpu.r32[ESP] = cpu.msrSysenterEsp;
  cpu.eip = cpu.msrSysenterEip >>> 0;
  if (wasVm86) refreshSegments(cpu);
}

/** 0F 35: SYSEXIT. */
export function sysexit(cpu: Cpu): void {
  const cs = cpu.msrSysenterCs & 0xffff;
  if (!(cpu.cr0 & CR0_PE) || (cs & 0xfffc) === 0 || cpu.cpl !== 0) throw gp0();
  cpu.setCpl(3);
  cpu.setSegmentCache(CS, ((cs + 16) | 3) & 0xffff, 0, FLAT, FLAT_CODE | (3 << 5));
  cpu.setSegmentCache(SS, ((cs + 24) | 3) & 0xffff, 0, FLAT, FLAT_DATA | (3 << 5));
  cpu.r32[ESP] = cpu.r32[ECX];
  cpu.eip = cpu.r32[EDX] >>> 0;
}

// ---- FXSAVE / FXRSTOR

/** 0F AE /0 and /1: FXSAVE, FXRSTOR m512. P6: #NM when CR0.EM or CR0.TS (later CPUs give #UD for EM); #GP(0) unless 16-byte aligned. */
export function fxsaveOrRestore(cpu: Cpu, save: boolean): void {
  cpu.checkFpuAvailable(false);
  const lin = cpu.ea(512, save);
  if (lin & 15) throw gp0();
  if (save) cpu.fpu.fxsave();
  else cpu.fpu.fxrstor();
}

// ---- CPUID, UD2

/** 0F A2: CPUID. */
export function cpuidInsn(cpu: Cpu): void {
  const [a, b, c, d] = cpuid(cpu.r32[EAX]);
  cpu.r32[EAX] = a;
  cpu.r32[EBX] = b;
  cpu.r32[ECX] = c;
  cpu.r32[EDX] = d;
}

/** 0F 0B: UD2. */
export function ud2(cpu: Cpu): void {
  cpu.undefinedOpcode();
}
