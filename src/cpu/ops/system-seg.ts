// Segment register loads and descriptor probes (Intel SDM Vol. 3A 3.4-3.5, 5.5-5.10; Vol. 2 MOV, POP, LDS, LAR, LSL, VERR, ARPL, LLDT, LTR).
import type { Cpu } from '../cpu.ts';
import { CpuFault, descAccess, descBase, descLimit } from '../cpu.ts';
import {
  CS, DS, ES, FS, GS, SS, ESP,
  DESC_A, DESC_CODE, DESC_DC, DESC_P, DESC_RW, DESC_S,
  EXC_GP, EXC_NP, EXC_SS, FLAG_VM, FLAG_ZF,
  SYS_LDT, SYS_TSS16_AVAIL, SYS_TSS32_AVAIL,
} from '../constants.ts';

export function gpFault(selector: number): CpuFault {
  return new CpuFault(EXC_GP, selector & 0xfffc);
}

export function isNullSelector(selector: number): boolean {
  return (selector & 0xfffc) === 0;
}

export function dplOf(access: number): number {
  return (access >> 5) & 3;
}

export function isConformingCode(access: number): boolean {
  return (access & (DESC_S | DESC_CODE | DESC_DC)) === (DESC_S | DESC_CODE | DESC_DC);
}

/** Protected mode outside virtual-8086 mode. */
export function requireProtectedMode(cpu: Cpu): void {
  if (!cpu.isProtectedMode()) cpu.undefinedOpcode();
}

export function requireCpl0(cpu: Cpu): void {
  if (cpu.cpl !== 0) throw new CpuFault(EXC_GP, 0);
}

/** Mark a segment register unusable (a null selector in DS/ES/FS/GS). */
export function loadNullSegment(cpu: Cpu, seg: number, selector: number): void {
  cpu.setSegmentCache(seg, selector, 0, 0, 0);
}

/** Load a segment cache from a descriptor that passed its checks, setting the accessed bit in memory and in the cache. */
export function commitSegment(cpu: Cpu, seg: number, selector: number, lo: number, hi: number): void {
  cpu.setDescriptorAccessed(selector, hi);
  cpu.loadSegmentFromDescriptor(seg, selector, lo, hi | (DESC_A << 8));
}

/**
 * Load DS, ES, FS, GS or SS as MOV, POP and LDS/LES/LFS/LGS/LSS do, with the
 * protected-mode checks of SDM Vol. 2 MOV (segment register forms).
 */
export function loadSegment(cpu: Cpu, seg: number, selector: number): void {
  selector &= 0xffff;
  if (!cpu.isProtectedMode()) {
    cpu.loadSegmentReal(seg, selector);
    return;
  }
  const rpl = selector & 3;
  if (isNullSelector(selector)) {
    if (seg === SS) throw new CpuFault(EXC_GP, 0);
    loadNullSegment(cpu, seg, selector);
    return;
  }
  const d = cpu.readDescriptor(selector);
  const acc = descAccess(d.hi);
  const dpl = dplOf(acc);
  if (seg === SS) {
    if (rpl !== cpu.cpl || dpl !== cpu.cpl || (acc & (DESC_S | DESC_CODE | DESC_RW)) !== (DESC_S | DESC_RW)) throw gpFault(selector);
    if (!(acc & DESC_P)) throw new CpuFault(EXC_SS, selector & 0xfffc);
  } else {
    if (!(acc & DESC_S) || (acc & (DESC_CODE | DESC_RW)) === DESC_CODE) throw gpFault(selector);
    if (!isConformingCode(acc) && (rpl > dpl || cpu.cpl > dpl)) throw gpFault(selector);
    if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, selector & 0xfffc);
  }
  commitSegment(cpu, seg, selector, d.lo, d.hi);
}

/**
 * After a return to an outer privilege level (RET far, IRET): data segment
 * registers the new CPL may not use are nulled (SDM Vol. 2 RET, "RETURN-TO-OUTER-PRIVILEGE-LEVEL").
 */
export function nullInaccessibleDataSegments(cpu: Cpu): void {
  for (const seg of [ES, DS, FS, GS]) {
    if (isNullSelector(cpu.segSel[seg])) continue;
    const acc = cpu.segAccess[seg];
    if (!isConformingCode(acc) && dplOf(acc) < cpu.cpl) loadNullSegment(cpu, seg, 0);
  }
}

// ---- MOV, PUSH, POP, LxS

/** 8E: MOV Sreg, Ew. */
export function movSregEw(cpu: Cpu): void {
  const seg = cpu.regField;
  if (seg === CS || seg > GS) cpu.undefinedOpcode();
  loadSegment(cpu, seg, cpu.readE16());
  if (seg === SS) cpu.ssShadow();
}

/** 8C: MOV Ew, Sreg. A 32-bit register destination is zero-extended (P6 and later). */
export function movEwSreg(cpu: Cpu): void {
  const seg = cpu.regField;
  if (seg > GS) cpu.undefinedOpcode();
  const v = cpu.segSel[seg];
  if (cpu.modrm >= 0xc0 && cpu.o32) cpu.r32[cpu.modrm & 7] = v;
  else cpu.writeE16(v);
}

export function pushSreg(cpu: Cpu, seg: number): void {
  cpu.pushV(cpu.segSel[seg]);
}

/** POP Sreg: the stack pointer moves by the width of the stack in use before the load. */
export function popSreg(cpu: Cpu, seg: number): void {
  const width = cpu.o32 ? 4 : 2;
  const v = cpu.o32 ? cpu.peek32(0) & 0xffff : cpu.peek16(0);
  const oldSs32 = cpu.ss32;
  loadSegment(cpu, seg, v);
  if (oldSs32) cpu.r32[ESP] = (cpu.r32[ESP] + width) | 0;
  else cpu.r16[8] = cpu.r16[8] + width;
  if (seg === SS) cpu.ssShadow();
}

/** LDS/LES/LSS/LFS/LGS Gv, Mp. */
export function loadFarPointer(cpu: Cpu, seg: number): void {
  const width = cpu.o32 ? 4 : 2;
  const lin = cpu.ea(width + 2, false);
  const off = cpu.o32 ? cpu.read32(lin) : cpu.read16(lin);
  const sel = cpu.read16((lin + width) | 0);
  loadSegment(cpu, seg, sel);
  cpu.setRegV(cpu.regField, off);
}

// ---- descriptor probes: LAR, LSL, VERR, VERW, ARPL

/** The descriptor for selector when it lies inside its table (probes never fault on the selector). */
function probeDescriptor(cpu: Cpu, selector: number): { lo: number; hi: number } | null {
  if (isNullSelector(selector)) return null;
  let limit: number;
  if (selector & 4) {
    if (isNullSelector(cpu.ldtSel)) return null;
    limit = cpu.ldtLimit;
  } else {
    limit = cpu.gdtLimit;
  }
  if ((selector & ~7) + 7 > limit) return null;
  return cpu.readDescriptor(selector);
}

/** Privilege check shared by the probes: DPL >= CPL and DPL >= RPL unless conforming code. */
function probeVisible(cpu: Cpu, selector: number, acc: number): boolean {
  if (isConformingCode(acc)) return true;
  const dpl = dplOf(acc);
  return dpl >= cpu.cpl && dpl >= (selector & 3);
}

const LAR_SYSTEM_TYPES = new Set([1, 2, 3, 4, 5, 9, 0xb, 0xc]);
const LSL_SYSTEM_TYPES = new Set([1, 2, 3, 9, 0xb]);

function setZF(cpu: Cpu, on: boolean): void {
  cpu.setFlags(on ? FLAG_ZF : 0, FLAG_ZF);
}

/** 0F 02: LAR Gv, Ew. */
export function lar(cpu: Cpu): void {
  requireProtectedMode(cpu);
  const sel = cpu.readE16();
  const d = probeDescriptor(cpu, sel);
  if (d) {
    const acc = descAccess(d.hi);
    const typeOk = (acc & DESC_S) !== 0 || LAR_SYSTEM_TYPES.has(acc & 0xf);
    if (typeOk && probeVisible(cpu, sel, acc)) {
      cpu.setRegV(cpu.regField, cpu.o32 ? d.hi & 0x00f0ff00 : d.hi & 0xff00);
      setZF(cpu, true);
      return;
    }
  }
  setZF(cpu, false);
}

/** 0F 03: LSL Gv, Ew. The limit is in bytes (granularity applied). */
export function lsl(cpu: Cpu): void {
  requireProtectedMode(cpu);
  const sel = cpu.readE16();
  const d = probeDescriptor(cpu, sel);
  if (d) {
    const acc = descAccess(d.hi);
    const typeOk = (acc & DESC_S) !== 0 || LSL_SYSTEM_TYPES.has(acc & 0xf);
    if (typeOk && probeVisible(cpu, sel, acc)) {
      cpu.setRegV(cpu.regField, descLimit(d.lo, d.hi) | 0);
      setZF(cpu, true);
      return;
    }
  }
  setZF(cpu, false);
}

/** 0F 00 /4 and /5: VERR, VERW Ew. */
export function verify(cpu: Cpu, write: boolean): void {
  requireProtectedMode(cpu);
  const sel = cpu.readE16();
  const d = probeDescriptor(cpu, sel);
  let ok = false;
  if (d) {
    const acc = descAccess(d.hi);
    if ((acc & DESC_S) && probeVisible(cpu, sel, acc)) {
      if (write) ok = !(acc & DESC_CODE) && (acc & DESC_RW) !== 0;
      else ok = !(acc & DESC_CODE) || (acc & DESC_RW) !== 0;
    }
  }
  setZF(cpu, ok);
}

/** 63: ARPL Ew, Gw. */
export function arpl(cpu: Cpu): void {
  requireProtectedMode(cpu);
  // A plain read first: the destination is written only when its RPL changes (as the hardware does).
  const dst = cpu.readE16();
  const src = cpu.getReg16(cpu.regField);
  if ((dst & 3) < (src & 3)) {
    cpu.writeE16((dst & ~3) | (src & 3));
    setZF(cpu, true);
  } else {
    setZF(cpu, false);
  }
}

// ---- LDTR and TR

/** Store a selector-sized system register: a 32-bit register destination is zero-extended. */
function storeSelector(cpu: Cpu, v: number): void {
  if (cpu.modrm >= 0xc0 && cpu.o32) cpu.r32[cpu.modrm & 7] = v & 0xffff;
  else cpu.writeE16(v);
}

/** 0F 00 /0: SLDT Ew. */
export function sldt(cpu: Cpu): void {
  requireProtectedMode(cpu);
  storeSelector(cpu, cpu.ldtSel);
}

/** 0F 00 /1: STR Ew. */
export function str(cpu: Cpu): void {
  requireProtectedMode(cpu);
  storeSelector(cpu, cpu.trSel);
}

/** 0F 00 /2: LLDT Ew. A null selector leaves LDTR unusable. */
export function lldt(cpu: Cpu): void {
  requireProtectedMode(cpu);
  requireCpl0(cpu);
  const sel = cpu.readE16();
  if (isNullSelector(sel)) {
    cpu.ldtSel = sel;
    cpu.ldtBase = 0;
    cpu.ldtLimit = 0;
    return;
  }
  if (sel & 4) throw gpFault(sel);
  const d = cpu.readDescriptor(sel);
  const acc = descAccess(d.hi);
  if ((acc & (DESC_S | 0xf)) !== SYS_LDT) throw gpFault(sel);
  if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, sel & 0xfffc);
  cpu.ldtSel = sel;
  cpu.ldtBase = descBase(d.lo, d.hi);
  cpu.ldtLimit = descLimit(d.lo, d.hi);
}

/** 0F 00 /3: LTR Ew. Marks the TSS descriptor busy in the GDT. */
export function ltr(cpu: Cpu): void {
  requireProtectedMode(cpu);
  requireCpl0(cpu);
  const sel = cpu.readE16();
  if (isNullSelector(sel)) throw new CpuFault(EXC_GP, 0);
  if (sel & 4) throw gpFault(sel);
  const d = cpu.readDescriptor(sel);
  const acc = descAccess(d.hi);
  const type = acc & (DESC_S | 0xf);
  if (type !== SYS_TSS16_AVAIL && type !== SYS_TSS32_AVAIL) throw gpFault(sel);
  if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, sel & 0xfffc);
  const busyHi = d.hi | 0x200;
  cpu.sysWrite8((cpu.gdtBase + (sel & ~7) + 5) | 0, (busyHi >> 8) & 0xff);
  cpu.trSel = sel;
  cpu.trBase = descBase(d.lo, d.hi);
  cpu.trLimit = descLimit(d.lo, d.hi);
  cpu.trAccess = descAccess(busyHi);
}

/** True in virtual-8086 mode. */
export function isVm86(cpu: Cpu): boolean {
  return (cpu.flags & FLAG_VM) !== 0;
}
