// Hardware task switching (Intel SDM Vol. 3A 7.3): JMP and CALL to a TSS or through a task
// gate, interrupts and exceptions through a task gate in the IDT, and IRET with EFLAGS.NT.
import type { Cpu } from '../cpu.ts';
import { CpuFault, descAccess, descBase, descLimit } from '../cpu.ts';
import {
  CS, DS, ES, FS, GS, SS,
  CR0_PG, CR0_TS, DESC_CODE, DESC_DC, DESC_P, DESC_RW, DESC_S,
  EXC_GP, EXC_NP, EXC_SS, EXC_TS, FLAG_NT, FLAG_VM,
  SYS_LDT, SYS_TSS16_AVAIL, SYS_TSS16_BUSY, SYS_TSS32_AVAIL, SYS_TSS32_BUSY,
} from '../constants.ts';
import { commitSegment, dplOf, isNullSelector } from './system-seg.ts';

/** What started the switch: it decides the busy bits, NT and the back link (SDM Vol. 3A table 7-2). */
export type TaskSource = 'jmp' | 'call' | 'iret' | 'interrupt';

const TSS_BUSY = 0x2;

/** Where each field lives in a 32-bit and a 16-bit TSS. */
interface TssLayout {
  width: 2 | 4;
  minLimit: number;
  ip: number;
  flags: number;
  /** EAX..EDI (AX..DI). */
  regs: number;
  /** ES, CS, SS, DS, FS, GS (a 16-bit TSS has no FS, GS: -1). */
  segs: number[];
  ldt: number;
  cr3: number;
}

const TSS32: TssLayout = { width: 4, minLimit: 0x67, ip: 0x20, flags: 0x24, regs: 0x28, segs: [0x48, 0x4c, 0x50, 0x54, 0x58, 0x5c], ldt: 0x60, cr3: 0x1c };
const TSS16: TssLayout = { width: 2, minLimit: 0x2b, ip: 0x0e, flags: 0x10, regs: 0x12, segs: [0x22, 0x24, 0x26, 0x28, -1, -1], ldt: 0x2a, cr3: -1 };
const SEG_ORDER = [ES, CS, SS, DS, FS, GS];

function layoutOf(type: number): TssLayout {
  return type & 8 ? TSS32 : TSS16;
}

/** JMP/CALL to a task gate in the GDT or LDT: the gate's privilege checks, then the switch to its TSS. */
export function jumpThroughTaskGate(cpu: Cpu, gateSel: number, gateLo: number, gateHi: number, isCall: boolean): void {
  const acc = descAccess(gateHi);
  const dpl = dplOf(acc);
  if (dpl < cpu.cpl || dpl < (gateSel & 3)) throw new CpuFault(EXC_GP, gateSel & 0xfffc);
  if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, gateSel & 0xfffc);
  switchTask(cpu, gateLo >>> 16, isCall ? 'call' : 'jmp', 0);
}

/** JMP/CALL straight to a TSS descriptor: its DPL must allow CPL and the selector's RPL. */
export function jumpToTss(cpu: Cpu, sel: number, hi: number, isCall: boolean): void {
  const dpl = dplOf(descAccess(hi));
  if (dpl < cpu.cpl || dpl < (sel & 3)) throw new CpuFault(EXC_GP, sel & 0xfffc);
  switchTask(cpu, sel, isCall ? 'call' : 'jmp', 0);
}

/** IRET with EFLAGS.NT: back to the task named by the current TSS's back link. */
export function returnFromNestedTask(cpu: Cpu): void {
  const link = cpu.sysRead16(cpu.trBase);
  switchTask(cpu, link, 'iret', 0);
}

/**
 * Switch to the task whose TSS descriptor `sel` names (SDM Vol. 3A 7.3). Faults before the
 * old task's state is saved leave everything as it was; faults while loading the new task's
 * segments are taken in the new task. The caller pushes an exception's error code afterwards
 * (on the new task's stack, `pushWidth` says how wide). ext is the EXT bit for error codes.
 */
export function switchTask(cpu: Cpu, sel: number, source: TaskSource, ext: number): { pushWidth: 2 | 4 } {
  sel &= 0xffff;
  const err = (sel & 0xfffc) | ext;
  const iret = source === 'iret';
  const badSel = iret ? EXC_TS : EXC_GP;
  if ((sel & 4) || isNullSelector(sel)) throw new CpuFault(badSel, err);
  const d = cpu.readDescriptor(sel, badSel, ext);
  const acc = descAccess(d.hi);
  const type = acc & (DESC_S | 0xf);
  const wanted = iret ? [SYS_TSS16_BUSY, SYS_TSS32_BUSY] : [SYS_TSS16_AVAIL, SYS_TSS32_AVAIL];
  if (!wanted.includes(type)) throw new CpuFault(badSel, err);
  if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, err);
  const nl = layoutOf(type);
  const base = descBase(d.lo, d.hi);
  const limit = descLimit(d.lo, d.hi);
  if (limit < nl.minLimit) throw new CpuFault(EXC_TS, err);
  const ol = layoutOf(cpu.trAccess & 0xf);
  if (cpu.trLimit < ol.minLimit) throw new CpuFault(EXC_TS, (cpu.trSel & 0xfffc) | ext);

  // Read the whole new state first: a page fault here changes nothing.
  const rd = (off: number) => (nl.width === 4 ? cpu.sysRead32((base + off) | 0) : cpu.sysRead16((base + off) | 0));
  const newEip = rd(nl.ip) >>> 0;
  let newFlags = rd(nl.flags);
  const newRegs = Array.from({ length: 8 }, (_, i) => rd(nl.regs + i * nl.width));
  const newSegs = nl.segs.map((off) => (off < 0 ? 0 : cpu.sysRead16((base + off) | 0)));
  const newLdt = cpu.sysRead16((base + nl.ldt) | 0);
  const newCr3 = nl.cr3 >= 0 ? cpu.sysRead32((base + nl.cr3) | 0) : cpu.cr3;
  if (source === 'call' || source === 'interrupt') {
    // The back link is written below: check it can be before anything changes.
    cpu.sysWrite16(base, cpu.sysRead16(base));
  }

  // Save the old task (EIP is already where it resumes).
  const oldBase = cpu.trBase;
  const wr = (off: number, v: number) => (ol.width === 4 ? cpu.sysWrite32((oldBase + off) | 0, v) : cpu.sysWrite16((oldBase + off) | 0, v));
  let oldFlags = cpu.getFlags();
  if (iret) oldFlags &= ~FLAG_NT;
  wr(ol.ip, cpu.eip);
  wr(ol.flags, oldFlags);
  for (let i = 0; i < 8; i++) wr(ol.regs + i * ol.width, cpu.r32[i]);
  ol.segs.forEach((off, i) => { if (off >= 0) cpu.sysWrite16((oldBase + off) | 0, cpu.segSel[SEG_ORDER[i]]); });

  // Busy bits, NT and the back link.
  const oldSel = cpu.trSel;
  if (source === 'jmp' || iret) {
    const at = (cpu.gdtBase + (oldSel & ~7) + 5) | 0;
    cpu.sysWrite8(at, cpu.sysRead8(at) & ~TSS_BUSY);
  }
  if (source === 'call' || source === 'interrupt') {
    newFlags |= FLAG_NT;
    cpu.sysWrite16(base, oldSel);
  }
  if (!iret) cpu.sysWrite8((cpu.gdtBase + (sel & ~7) + 5) | 0, acc | TSS_BUSY);

  // Commit: TR, CR0.TS, CR3, registers, flags.
  cpu.trSel = sel;
  cpu.trBase = base;
  cpu.trLimit = limit;
  cpu.trAccess = acc | TSS_BUSY;
  cpu.cr0 |= CR0_TS;
  if (nl.cr3 >= 0 && (cpu.cr0 & CR0_PG)) {
    cpu.cr3 = newCr3;
    cpu.flushTlb();
  }
  for (let i = 0; i < 8; i++) {
    if (nl.width === 4) cpu.r32[i] = newRegs[i];
    else cpu.r16[i << 1] = newRegs[i];
  }
  if (nl.width === 2) newFlags = (cpu.getFlags() & ~0xffff) | (newFlags & 0xffff);
  cpu.setFlags(newFlags, -1);
  cpu.eip = newEip;
  cpu.halted = false;
  // Selectors go in first, unusable until their descriptors pass the checks below.
  SEG_ORDER.forEach((seg, i) => cpu.setSegmentCache(seg, newSegs[i], 0, 0, 0));
  loadTaskLdt(cpu, newLdt, ext);
  if (cpu.flags & FLAG_VM) {
    cpu.setCpl(3);
    SEG_ORDER.forEach((seg, i) => cpu.loadSegmentReal(seg, newSegs[i]));
  } else {
    loadTaskSegments(cpu, newSegs, ext);
  }
  return { pushWidth: nl.width };
}

function loadTaskLdt(cpu: Cpu, sel: number, ext: number): void {
  cpu.ldtSel = sel;
  if (isNullSelector(sel)) {
    cpu.ldtBase = 0;
    cpu.ldtLimit = 0;
    return;
  }
  const err = (sel & 0xfffc) | ext;
  if (sel & 4) throw new CpuFault(EXC_TS, err);
  const d = cpu.readDescriptor(sel, EXC_TS, ext);
  const acc = descAccess(d.hi);
  if ((acc & (DESC_S | 0xf)) !== SYS_LDT) throw new CpuFault(EXC_TS, err);
  if (!(acc & DESC_P)) throw new CpuFault(EXC_TS, err);
  cpu.ldtBase = descBase(d.lo, d.hi);
  cpu.ldtLimit = descLimit(d.lo, d.hi);
}

/** CS, SS, then the data segments, with the checks of SDM Vol. 3A 7.3 step 11: #TS for a bad descriptor, #NP/#SS when not present. */
function loadTaskSegments(cpu: Cpu, sels: number[], ext: number): void {
  const [es, cs, ss, ds, fs, gs] = sels;
  const cpl = cs & 3;
  const ts = (s: number) => new CpuFault(EXC_TS, (s & 0xfffc) | ext);
  if (isNullSelector(cs)) throw ts(cs);
  const c = cpu.readDescriptor(cs, EXC_TS, ext);
  const cacc = descAccess(c.hi);
  if ((cacc & (DESC_S | DESC_CODE)) !== (DESC_S | DESC_CODE)) throw ts(cs);
  if (cacc & DESC_DC ? dplOf(cacc) > cpl : dplOf(cacc) !== cpl) throw ts(cs);
  if (!(cacc & DESC_P)) throw new CpuFault(EXC_NP, (cs & 0xfffc) | ext);
  cpu.setCpl(cpl);
  commitSegment(cpu, CS, cs, c.lo, c.hi);

  if (isNullSelector(ss)) throw ts(ss);
  const s = cpu.readDescriptor(ss, EXC_TS, ext);
  const sacc = descAccess(s.hi);
  if ((ss & 3) !== cpl || dplOf(sacc) !== cpl || (sacc & (DESC_S | DESC_CODE | DESC_RW)) !== (DESC_S | DESC_RW)) throw ts(ss);
  if (!(sacc & DESC_P)) throw new CpuFault(EXC_SS, (ss & 0xfffc) | ext);
  commitSegment(cpu, SS, ss, s.lo, s.hi);

  for (const [seg, sel] of [[ES, es], [DS, ds], [FS, fs], [GS, gs]] as const) {
    if (isNullSelector(sel)) continue;
    const dd = cpu.readDescriptor(sel, EXC_TS, ext);
    const a = descAccess(dd.hi);
    if (!(a & DESC_S) || (a & (DESC_CODE | DESC_RW)) === DESC_CODE) throw ts(sel);
    const conforming = (a & (DESC_CODE | DESC_DC)) === (DESC_CODE | DESC_DC);
    if (!conforming && ((sel & 3) > dplOf(a) || cpl > dplOf(a))) throw ts(sel);
    if (!(a & DESC_P)) throw new CpuFault(EXC_NP, (sel & 0xfffc) | ext);
    commitSegment(cpu, seg, sel, dd.lo, dd.hi);
  }
}
