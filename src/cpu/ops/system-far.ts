// Far control transfers, call gates, IRET, INT n and PUSHF/POPF (Intel SDM Vol. 2 CALL, JMP, RET, IRET, INT n, PUSHF, POPF; Vol. 3A 5.8, 6.12).
import type { Cpu } from '../cpu.ts';
import { CpuFault, descAccess, descBase, descLimit, segmentRangeOk } from '../cpu.ts';
import {
  CS, SS, DS, ES, FS, GS, ESP,
  DESC_CODE, DESC_DB, DESC_DC, DESC_P, DESC_RW, DESC_S,
  EXC_GP, EXC_NP, EXC_SS, EXC_TS, EXC_BP, EXC_OF, EXC_DB,
  FLAG_AC, FLAG_ID, FLAG_IF, FLAG_IOPL, FLAG_NT, FLAG_RF, FLAG_TF, FLAG_VM, FLAGS_ARITH, FLAG_DF,
  SYS_CALL_GATE16, SYS_CALL_GATE32, SYS_TASK_GATE, SYS_TSS16_AVAIL, SYS_TSS32_AVAIL,
} from '../constants.ts';
import {
  commitSegment, dplOf, gpFault, isNullSelector, isVm86, nullInaccessibleDataSegments,
} from './system-seg.ts';
import { jumpThroughTaskGate, jumpToTss, returnFromNestedTask } from './task.ts';

/** Every EFLAGS bit this CPU has: IRETD into virtual-8086 mode loads them all. */
const FLAGS_VM86_IRET = FLAGS_ARITH | FLAG_TF | FLAG_IF | FLAG_DF | FLAG_IOPL | FLAG_NT | FLAG_RF | FLAG_VM | FLAG_AC | FLAG_ID;

function iopl(cpu: Cpu): number {
  return (cpu.flags & FLAG_IOPL) >> 12;
}

/**
 * Push values (first pushed first) on the current stack as one all-or-nothing
 * operation: every slot is checked before the first store.
 */
function pushAll(cpu: Cpu, values: number[], width: 2 | 4): void {
  const lins = values.map((_, i) => cpu.stackLin(-(i + 1) * width, width, true));
  for (const lin of lins) cpu.checkWrite(lin, width);
  for (let i = 0; i < values.length; i++) {
    if (width === 4) cpu.write32(lins[i], values[i]);
    else cpu.write16(lins[i], values[i]);
  }
  cpu.setSp(cpu.getSp() - values.length * width);
}

function peekV(cpu: Cpu, delta: number, width: 2 | 4): number {
  return width === 4 ? cpu.peek32(delta) : cpu.peek16(delta);
}

/** Code segment checks for a direct JMP/CALL (SDM Vol. 3A 5.8.1). */
function checkDirectCodeTarget(cpu: Cpu, sel: number, acc: number): void {
  const dpl = dplOf(acc);
  if (acc & DESC_DC) {
    if (dpl > cpu.cpl) throw gpFault(sel);
  } else if ((sel & 3) > cpu.cpl || dpl !== cpu.cpl) {
    throw gpFault(sel);
  }
  if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, sel & 0xfffc);
}

/** Load CS for a transfer to a code segment that passed its checks, at privilege level cpl. */
function enterCode(cpu: Cpu, sel: number, lo: number, hi: number, eip: number): void {
  commitSegment(cpu, CS, (sel & ~3) | cpu.cpl, lo, hi);
  cpu.eip = eip >>> 0;
}

/** JMP/CALL ptr16:16/32 and m16:16/32. offset is already the operand-size value. */
export function farTransfer(cpu: Cpu, sel: number, offset: number, isCall: boolean): void {
  sel &= 0xffff;
  const width = cpu.o32 ? 4 : 2;
  if (!cpu.isProtectedMode()) {
    if ((offset >>> 0) > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
    if (isCall) pushAll(cpu, [cpu.segSel[CS], cpu.eip], width);
    cpu.loadSegmentReal(CS, sel);
    cpu.eip = offset >>> 0;
    return;
  }
  if (isNullSelector(sel)) throw new CpuFault(EXC_GP, 0);
  const d = cpu.readDescriptor(sel);
  const acc = descAccess(d.hi);
  if (acc & DESC_S) {
    if (!(acc & DESC_CODE)) throw gpFault(sel);
    checkDirectCodeTarget(cpu, sel, acc);
    if (isCall) {
      const lins = [cpu.stackLin(-width, width, true), cpu.stackLin(-2 * width, width, true)];
      for (const lin of lins) cpu.checkWrite(lin, width);
    }
    if ((offset >>> 0) > descLimit(d.lo, d.hi)) throw new CpuFault(EXC_GP, 0);
    if (isCall) pushAll(cpu, [cpu.segSel[CS], cpu.eip], width);
    enterCode(cpu, sel, d.lo, d.hi, offset);
    return;
  }
  switch (acc & 0xf) {
    case SYS_CALL_GATE16:
    case SYS_CALL_GATE32:
      callGate(cpu, sel, d.lo, d.hi, isCall);
      return;
    case SYS_TASK_GATE:
      jumpThroughTaskGate(cpu, sel, d.lo, d.hi, isCall);
      return;
    case SYS_TSS16_AVAIL:
    case SYS_TSS32_AVAIL:
      jumpToTss(cpu, sel, d.hi, isCall);
      return;
    default:
      throw gpFault(sel);
  }
}

/** JMP/CALL through a call gate (SDM Vol. 3A 5.8.3-5.8.5). */
function callGate(cpu: Cpu, gateSel: number, gateLo: number, gateHi: number, isCall: boolean): void {
  const gateAcc = descAccess(gateHi);
  const gateDpl = dplOf(gateAcc);
  if (gateDpl < cpu.cpl || gateDpl < (gateSel & 3)) throw gpFault(gateSel);
  if (!(gateAcc & DESC_P)) throw new CpuFault(EXC_NP, gateSel & 0xfffc);
  const gate32 = (gateAcc & 0xf) === SYS_CALL_GATE32;
  const sel = gateLo >>> 16;
  const offset = gate32 ? ((gateHi & 0xffff0000) | (gateLo & 0xffff)) >>> 0 : gateLo & 0xffff;
  if (isNullSelector(sel)) throw new CpuFault(EXC_GP, 0);
  const d = cpu.readDescriptor(sel);
  const acc = descAccess(d.hi);
  const dpl = dplOf(acc);
  if ((acc & (DESC_S | DESC_CODE)) !== (DESC_S | DESC_CODE) || dpl > cpu.cpl) throw gpFault(sel);
  if (!isCall && !(acc & DESC_DC) && dpl !== cpu.cpl) throw gpFault(sel);
  if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, sel & 0xfffc);
  const limit = descLimit(d.lo, d.hi);
  const width = gate32 ? 4 : 2;

  if (isCall && !(acc & DESC_DC) && dpl < cpu.cpl) {
    callInner(cpu, sel, d.lo, d.hi, offset, dpl, gateHi & 0x1f, width, limit);
    return;
  }
  if (isCall) {
    const lins = [cpu.stackLin(-width, width, true), cpu.stackLin(-2 * width, width, true)];
    for (const lin of lins) cpu.checkWrite(lin, width);
  }
  if (offset > limit) throw new CpuFault(EXC_GP, 0);
  if (isCall) pushAll(cpu, [cpu.segSel[CS], cpu.eip], width);
  enterCode(cpu, sel, d.lo, d.hi, offset);
}

/** CALL through a call gate to a more privileged non-conforming segment: stack switch from the TSS and parameter copy. */
function callInner(
  cpu: Cpu, sel: number, lo: number, hi: number, offset: number,
  dpl: number, paramCount: number, width: 2 | 4, limit: number,
): void {
  const { ss: newSs, esp: newEsp } = cpu.tssStack(dpl, 0);
  if (isNullSelector(newSs)) throw new CpuFault(EXC_TS, 0);
  const sd = cpu.readDescriptor(newSs, EXC_TS);
  const sacc = descAccess(sd.hi);
  if ((newSs & 3) !== dpl || dplOf(sacc) !== dpl || (sacc & (DESC_S | DESC_CODE | DESC_RW)) !== (DESC_S | DESC_RW)) {
    throw new CpuFault(EXC_TS, newSs & 0xfffc);
  }
  if (!(sacc & DESC_P)) throw new CpuFault(EXC_SS, newSs & 0xfffc);
  const ss32 = (sacc & DESC_DB) !== 0;
  const ssBase = descBase(sd.lo, sd.hi);
  const ssLimit = descLimit(sd.lo, sd.hi);

  const params: number[] = [];
  for (let i = 0; i < paramCount; i++) {
    const lin = cpu.stackLin(i * width, width, false);
    params.push(width === 4 ? cpu.read32(lin) : cpu.read16(lin));
  }
  const words = [cpu.segSel[SS], cpu.r32[ESP]];
  for (let i = paramCount - 1; i >= 0; i--) words.push(params[i]);
  words.push(cpu.segSel[CS], cpu.eip);

  const lins: number[] = [];
  let sp = newEsp;
  for (let i = 0; i < words.length; i++) {
    sp = ss32 ? (sp - width) | 0 : (sp - width) & 0xffff;
    if (!segmentRangeOk(sacc, ssLimit, sp, width)) throw new CpuFault(EXC_SS, newSs & 0xfffc);
    lins.push((ssBase + sp) | 0);
  }
  if (offset > limit) throw new CpuFault(EXC_GP, 0);
  for (let i = 0; i < words.length; i++) {
    if (width === 4) cpu.sysWrite32(lins[i], words[i]);
    else cpu.sysWrite16(lins[i], words[i]);
  }
  commitSegment(cpu, SS, newSs, sd.lo, sd.hi);
  if (ss32) cpu.r32[ESP] = sp;
  else cpu.r16[8] = sp;
  cpu.setCpl(dpl);
  enterCode(cpu, sel, lo, hi, offset);
}

/** Checks of the SS:ESP popped by a return to an outer level (SDM RET/IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL"). */
function checkReturnStack(cpu: Cpu, ssSel: number, rpl: number): { lo: number; hi: number } {
  if (isNullSelector(ssSel)) throw new CpuFault(EXC_GP, 0);
  const sd = cpu.readDescriptor(ssSel);
  const sacc = descAccess(sd.hi);
  if ((ssSel & 3) !== rpl || dplOf(sacc) !== rpl || (sacc & (DESC_S | DESC_CODE | DESC_RW)) !== (DESC_S | DESC_RW)) {
    throw gpFault(ssSel);
  }
  if (!(sacc & DESC_P)) throw new CpuFault(EXC_SS, ssSel & 0xfffc);
  return sd;
}

/** Checks of the CS popped by RET far / IRET in protected mode. */
function checkReturnCode(cpu: Cpu, sel: number): { lo: number; hi: number } {
  if (isNullSelector(sel)) throw new CpuFault(EXC_GP, 0);
  const d = cpu.readDescriptor(sel);
  const acc = descAccess(d.hi);
  const rpl = sel & 3;
  const dpl = dplOf(acc);
  if (rpl < cpu.cpl || (acc & (DESC_S | DESC_CODE)) !== (DESC_S | DESC_CODE)) throw gpFault(sel);
  if (acc & DESC_DC ? dpl > rpl : dpl !== rpl) throw gpFault(sel);
  if (!(acc & DESC_P)) throw new CpuFault(EXC_NP, sel & 0xfffc);
  return d;
}

/** Finish a return to an outer privilege level: CPL, SS:ESP and the data segments. */
function enterOuter(cpu: Cpu, rpl: number, ssSel: number, sd: { lo: number; hi: number }, esp: number): void {
  cpu.setCpl(rpl);
  commitSegment(cpu, SS, ssSel, sd.lo, sd.hi);
  if (cpu.ss32) cpu.r32[ESP] = esp;
  else cpu.r16[8] = esp;
  nullInaccessibleDataSegments(cpu);
}

/** CB / CA Iw: RET far, releasing imm bytes of parameters from both stacks. */
export function retFar(cpu: Cpu, imm: number): void {
  const width = cpu.o32 ? 4 : 2;
  const eip = peekV(cpu, 0, width) >>> 0;
  const sel = peekV(cpu, width, width) & 0xffff;
  if (!cpu.isProtectedMode()) {
    if (eip > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
    cpu.loadSegmentReal(CS, sel);
    cpu.eip = eip;
    cpu.setSp(cpu.getSp() + 2 * width + imm);
    return;
  }
  const d = checkReturnCode(cpu, sel);
  const rpl = sel & 3;
  const limit = descLimit(d.lo, d.hi);
  if (rpl === cpu.cpl) {
    if (eip > limit) throw new CpuFault(EXC_GP, 0);
    enterCode(cpu, sel, d.lo, d.hi, eip);
    cpu.setSp(cpu.getSp() + 2 * width + imm);
    return;
  }
  const esp = peekV(cpu, 2 * width + imm, width);
  const ssSel = peekV(cpu, 3 * width + imm, width) & 0xffff;
  const sd = checkReturnStack(cpu, ssSel, rpl);
  if (eip > limit) throw new CpuFault(EXC_GP, 0);
  const ss32 = (descAccess(sd.hi) & DESC_DB) !== 0;
  const newEsp = ss32 ? (esp + imm) | 0 : (esp + imm) & 0xffff;
  cpu.setCpl(rpl);
  enterCode(cpu, sel, d.lo, d.hi, eip);
  enterOuter(cpu, rpl, ssSel, sd, newEsp);
}

/** Flags IRET may change in protected mode at the current CPL and IOPL (SDM Vol. 2 IRET). */
function iretFlagMask(cpu: Cpu): number {
  let mask = FLAGS_ARITH | FLAG_TF | FLAG_DF | FLAG_NT;
  if (cpu.o32) mask |= FLAG_RF | FLAG_AC | FLAG_ID;
  if (cpu.cpl <= iopl(cpu)) mask |= FLAG_IF;
  if (cpu.cpl === 0) mask |= FLAG_IOPL;
  return mask;
}

/** CF: IRET / IRETD. */
export function iret(cpu: Cpu): void {
  const width = cpu.o32 ? 4 : 2;
  if (cpu.isRealMode() || isVm86(cpu)) {
    const vm86 = isVm86(cpu);
    if (vm86 && iopl(cpu) < 3) throw new CpuFault(EXC_GP, 0);
    const eip = peekV(cpu, 0, width) >>> 0;
    const sel = peekV(cpu, width, width) & 0xffff;
    const flags = peekV(cpu, 2 * width, width);
    if (eip > cpu.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
    cpu.loadSegmentReal(CS, sel);
    cpu.eip = eip;
    cpu.setSp(cpu.getSp() + 3 * width);
    let mask = cpu.o32 ? ~(FLAG_VM | 0x180000) : 0xffff;
    if (vm86) mask &= ~FLAG_IOPL;
    cpu.setFlags(flags, mask);
    return;
  }
  if (cpu.flags & FLAG_NT) {
    returnFromNestedTask(cpu);
    return;
  }
  const eip = peekV(cpu, 0, width) >>> 0;
  const sel = peekV(cpu, width, width) & 0xffff;
  const flags = peekV(cpu, 2 * width, width);
  if (cpu.o32 && (flags & FLAG_VM) && cpu.cpl === 0) {
    iretToVm86(cpu, eip, sel, flags);
    return;
  }
  const d = checkReturnCode(cpu, sel);
  const rpl = sel & 3;
  const limit = descLimit(d.lo, d.hi);
  let mask = iretFlagMask(cpu);
  if (!cpu.o32) mask &= 0xffff;
  if (rpl === cpu.cpl) {
    if (eip > limit) throw new CpuFault(EXC_GP, 0);
    enterCode(cpu, sel, d.lo, d.hi, eip);
    cpu.setSp(cpu.getSp() + 3 * width);
    cpu.setFlags(flags, mask);
    return;
  }
  const esp = peekV(cpu, 3 * width, width);
  const ssSel = peekV(cpu, 4 * width, width) & 0xffff;
  const sd = checkReturnStack(cpu, ssSel, rpl);
  if (eip > limit) throw new CpuFault(EXC_GP, 0);
  cpu.setFlags(flags, mask);
  cpu.setCpl(rpl);
  enterCode(cpu, sel, d.lo, d.hi, eip);
  enterOuter(cpu, rpl, ssSel, sd, cpu.o32 ? esp : esp & 0xffff);
}

/**
 * IRETD at CPL 0 with VM set in the popped EFLAGS (SDM Vol. 2 IRET,
 * RETURN-TO-VIRTUAL-8086-MODE): the frame goes on with ESP, SS, ES, DS, FS, GS.
 */
function iretToVm86(cpu: Cpu, eip: number, cs: number, flags: number): void {
  const esp = cpu.peek32(12);
  const segs = [SS, ES, DS, FS, GS].map((_, i) => cpu.peek32(16 + 4 * i) & 0xffff);
  if (eip > 0xffff) throw new CpuFault(EXC_GP, 0);
  cpu.setFlags(flags, FLAGS_VM86_IRET);
  cpu.setCpl(3);
  cpu.loadSegmentReal(CS, cs);
  [SS, ES, DS, FS, GS].forEach((seg, i) => cpu.loadSegmentReal(seg, segs[i]));
  cpu.r32[ESP] = esp;
  cpu.eip = eip;
}

// ---- software interrupts

/** CD ib: INT n. IOPL-sensitive in virtual-8086 mode (no VME). */
export function intIb(cpu: Cpu): void {
  const vector = cpu.fetch8();
  if (isVm86(cpu) && iopl(cpu) < 3) throw new CpuFault(EXC_GP, 0);
  cpu.interrupt(vector, true, -1, false);
}

/** CC: INT3. */
export function int3(cpu: Cpu): void {
  cpu.interrupt(EXC_BP, true, -1, false);
}

/** CE: INTO. */
export function into(cpu: Cpu): void {
  if (cpu.getOF()) cpu.interrupt(EXC_OF, true, -1, false);
}

/** F1: INT1 (ICEBP): #DB as a trap, without the gate DPL check, with EXT set in error codes. */
export function int1(cpu: Cpu): void {
  cpu.interrupt(EXC_DB, false, -1, true);
}

// ---- PUSHF / POPF

/** 9C: PUSHF/PUSHFD. VM and RF read as 0 in the pushed image. */
export function pushf(cpu: Cpu): void {
  if (isVm86(cpu) && iopl(cpu) < 3) throw new CpuFault(EXC_GP, 0);
  const f = cpu.getFlags();
  if (cpu.o32) cpu.push32(f & ~(FLAG_VM | FLAG_RF));
  else cpu.push16(f & 0xffff);
}

/**
 * 9D: POPF/POPFD. IOPL changes only at CPL 0; IF only when CPL <= IOPL (else it
 * is silently kept); VM never changes; RF is cleared (SDM Vol. 2 POPF).
 */
export function popf(cpu: Cpu): void {
  const vm86 = isVm86(cpu);
  if (vm86 && iopl(cpu) < 3) throw new CpuFault(EXC_GP, 0);
  const width = cpu.o32 ? 4 : 2;
  const v = peekV(cpu, 0, width);
  let mask = FLAGS_ARITH | FLAG_TF | FLAG_DF | FLAG_NT | FLAG_IF | FLAG_IOPL | FLAG_AC | FLAG_ID | FLAG_RF;
  if (vm86) {
    mask &= ~FLAG_IOPL;
  } else if (cpu.cpl > 0) {
    mask &= ~FLAG_IOPL;
    if (cpu.cpl > iopl(cpu)) mask &= ~FLAG_IF;
  }
  if (!cpu.o32) mask &= 0xffff;
  cpu.setSp(cpu.getSp() + width);
  cpu.setFlags(v & ~FLAG_RF, mask);
}

// ---- instruction forms

/** EA: JMP ptr16:16/32. */
export function jmpFarAp(cpu: Cpu): void {
  const off = cpu.fetchImmV() >>> 0;
  farTransfer(cpu, cpu.fetch16(), off, false);
}

/** 9A: CALL ptr16:16/32. */
export function callFarAp(cpu: Cpu): void {
  const off = cpu.fetchImmV() >>> 0;
  farTransfer(cpu, cpu.fetch16(), off, true);
}

function readFarPointer(cpu: Cpu): { sel: number; off: number } {
  const width = cpu.o32 ? 4 : 2;
  const lin = cpu.ea(width + 2, false);
  const off = cpu.o32 ? cpu.read32(lin) >>> 0 : cpu.read16(lin);
  return { off, sel: cpu.read16((lin + width) | 0) };
}

/** FF /3: CALL m16:16/32. */
export function callFarEp(cpu: Cpu): void {
  const p = readFarPointer(cpu);
  farTransfer(cpu, p.sel, p.off, true);
}

/** FF /5: JMP m16:16/32. */
export function jmpFarEp(cpu: Cpu): void {
  const p = readFarPointer(cpu);
  farTransfer(cpu, p.sel, p.off, false);
}

export function retFarIw(cpu: Cpu): void {
  retFar(cpu, cpu.fetch16());
}

export function retFarPlain(cpu: Cpu): void {
  retFar(cpu, 0);
}
