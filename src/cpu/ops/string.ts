import type { Cpu } from '../cpu.ts';
import { CpuFault, LZ_SUB } from '../cpu.ts';
import { DS, ECX, EDI, ES, ESI, FLAG_DF, FLAG_TF } from '../constants.ts';

/**
 * Elements one REP instruction may process before it yields (EIP stays on the
 * instruction, so it continues on the next step and interrupts are not starved).
 */
export const REP_BUDGET = 8192;

// String instructions read (E)SI in DS (or the override) and write (E)DI in ES, by
// address size; after every element the registers are committed, so a fault or an
// I/O exit mid-way resumes at the right element.

function readAt(cpu: Cpu, seg: number, off: number, w: number): number {
  if (w === 1) return cpu.read8(cpu.linear(seg, off, 1, false));
  if (w === 2) return cpu.read16(cpu.linear(seg, off, 2, false));
  return cpu.read32(cpu.linear(seg, off, 4, false));
}

function writeAt(cpu: Cpu, seg: number, off: number, w: number, v: number): void {
  if (w === 1) cpu.write8(cpu.linear(seg, off, 1, true), v);
  else if (w === 2) cpu.write16(cpu.linear(seg, off, 2, true), v);
  else cpu.write32(cpu.linear(seg, off, 4, true), v);
}

function srcSeg(cpu: Cpu): number {
  return cpu.segOverride >= 0 ? cpu.segOverride : DS;
}

function getSi(cpu: Cpu): number { return cpu.a32 ? cpu.r32[ESI] : cpu.r16[ESI << 1]; }
function getDi(cpu: Cpu): number { return cpu.a32 ? cpu.r32[EDI] : cpu.r16[EDI << 1]; }
function setSi(cpu: Cpu, v: number): void {
  if (cpu.a32) cpu.r32[ESI] = v;
  else cpu.r16[ESI << 1] = v;
}
function setDi(cpu: Cpu, v: number): void {
  if (cpu.a32) cpu.r32[EDI] = v;
  else cpu.r16[EDI << 1] = v;
}
/** The REP count, (E)CX by address size, unsigned. */
function getCount(cpu: Cpu): number { return cpu.a32 ? cpu.r32[ECX] >>> 0 : cpu.r16[ECX << 1]; }
function setCount(cpu: Cpu, v: number): void {
  if (cpu.a32) cpu.r32[ECX] = v;
  else cpu.r16[ECX << 1] = v;
}

function stepOf(cpu: Cpu, w: number): number {
  return cpu.flags & FLAG_DF ? -w : w;
}

function budgetOf(cpu: Cpu): number {
  return cpu.flags & FLAG_TF ? 1 : REP_BUDGET;
}

function accValue(cpu: Cpu, w: number): number {
  return w === 1 ? cpu.r8[0] : w === 2 ? cpu.r16[0] : cpu.r32[0];
}

/** Yield with work left: run this instruction again on the next step. */
function yieldRep(cpu: Cpu): void {
  cpu.eip = cpu.instrEip;
}

// ---------------------------------------------------------------- fast paths

/**
 * How many elements of w bytes, starting at offset `off` of segment `seg` and moving
 * by `step`, lie in one page and one contiguous offset range, up to max. Returns 0 when
 * the fast path does not apply (the caller then does one element the ordinary way).
 * On success, fastPhys holds the physical address of the first element.
 */
let fastPhys = 0;
function fastRun(cpu: Cpu, seg: number, off: number, w: number, step: number, max: number, isWrite: boolean): number {
  const lin = cpu.linear(seg, off, w, isWrite);
  const inPage = lin & 0xfff;
  if (inPage + w > 0x1000) return 0;
  // Unaligned elements under alignment checking take the ordinary path, which raises #AC.
  if (lin & (w - 1) && cpu.alignmentCheckEnabled()) return 0;
  let n = step > 0 ? (0x1000 - inPage) / w : inPage / w + 1;
  n = Math.floor(n);
  if (max < n) n = max;
  if (!cpu.a32) {
    const room = step > 0 ? Math.floor((0x10000 - off) / w) : Math.floor(off / w) + 1;
    if (room < n) n = room;
  } else {
    const u = off >>> 0;
    const room = step > 0 ? Math.floor((0x100000000 - u) / w) : Math.floor(u / w) + 1;
    if (room < n) n = room;
  }
  if (n < 2) return 0;
  if (!((isWrite ? cpu.segFastWrite : cpu.segFastRead) & (1 << seg))) {
    try {
      cpu.linear(seg, (off + (n - 1) * step) | 0, w, isWrite);
    } catch (e) {
      if (e instanceof CpuFault) return 0;
      throw e;
    }
  }
  const phys = cpu.translate(lin, isWrite, cpu.cpl === 3);
  const lo = step > 0 ? phys : phys - (n - 1) * w;
  if (lo + n * w > cpu.ramSize) return 0;
  // The caller stores to RAM directly: decoded blocks from these bytes must go.
  if (isWrite) cpu.invalidateCode(lo, n * w, true);
  fastPhys = phys;
  return n;
}

/** MOVS over n elements in RAM with element-by-element semantics (overlap included). */
function copyElements(cpu: Cpu, src: number, dst: number, n: number, w: number, step: number): void {
  const m = cpu.mem8;
  const bytes = n * w;
  if (step > 0) {
    if (dst <= src || dst >= src + bytes) {
      m.copyWithin(dst, src, src + bytes);
      return;
    }
    for (let i = 0; i < bytes; i += w) {
      if (w === 1) {
        m[dst + i] = m[src + i];
      } else {
        const b0 = m[src + i], b1 = m[src + i + 1];
        const b2 = w === 4 ? m[src + i + 2] : 0, b3 = w === 4 ? m[src + i + 3] : 0;
        m[dst + i] = b0; m[dst + i + 1] = b1;
        if (w === 4) { m[dst + i + 2] = b2; m[dst + i + 3] = b3; }
      }
    }
  } else {
    const srcLo = src - bytes + w;
    const dstLo = dst - bytes + w;
    if (dst >= src || dst + w <= srcLo) {
      m.copyWithin(dstLo, srcLo, srcLo + bytes);
      return;
    }
    for (let i = 0; i < bytes; i += w) {
      const s = src - i, d = dst - i;
      if (w === 1) {
        m[d] = m[s];
      } else {
        const b0 = m[s], b1 = m[s + 1];
        const b2 = w === 4 ? m[s + 2] : 0, b3 = w === 4 ? m[s + 3] : 0;
        m[d] = b0; m[d + 1] = b1;
        if (w === 4) { m[d + 2] = b2; m[d + 3] = b3; }
      }
    }
  }
}

function fillElements(cpu: Cpu, dst: number, n: number, w: number, step: number, v: number): void {
  const lo = step > 0 ? dst : dst - (n - 1) * w;
  if (w === 1) {
    cpu.mem8.fill(v, lo, lo + n);
  } else if (w === 2 && (lo & 1) === 0) {
    cpu.mem16.fill(v, lo >> 1, (lo >> 1) + n);
  } else if (w === 4 && (lo & 3) === 0) {
    cpu.mem32.fill(v, lo >> 2, (lo >> 2) + n);
  } else {
    const m = cpu.mem8;
    for (let p = lo, end = lo + n * w; p < end; p += w) {
      m[p] = v;
      m[p + 1] = v >> 8;
      if (w === 4) {
        m[p + 2] = v >> 16;
        m[p + 3] = v >> 24;
      }
    }
  }
}

function physValue(m: Uint8Array, p: number, w: number): number {
  if (w === 1) return m[p];
  if (w === 2) return m[p] | (m[p + 1] << 8);
  return m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24);
}

// ---------------------------------------------------------------- MOVS

export function movs(cpu: Cpu, w: number): void {
  const seg = srcSeg(cpu);
  const step = stepOf(cpu, w);
  if (cpu.rep === 0) {
    const si = getSi(cpu);
    const di = getDi(cpu);
    writeAt(cpu, ES, di, w, readAt(cpu, seg, si, w));
    setSi(cpu, si + step);
    setDi(cpu, di + step);
    return;
  }
  let count = getCount(cpu);
  let budget = budgetOf(cpu);
  while (count !== 0) {
    if (budget <= 0) return yieldRep(cpu);
    const si = getSi(cpu);
    const di = getDi(cpu);
    let n = count < budget ? count : budget;
    if (n >= 2) {
      n = fastRun(cpu, seg, si, w, step, n, false);
      const src = fastPhys;
      if (n) n = fastRun(cpu, ES, di, w, step, n, true);
      if (n) {
        copyElements(cpu, src, fastPhys, n, w, step);
        setSi(cpu, si + n * step);
        setDi(cpu, di + n * step);
        count -= n;
        setCount(cpu, count);
        budget -= n;
        continue;
      }
    }
    writeAt(cpu, ES, di, w, readAt(cpu, seg, si, w));
    setSi(cpu, si + step);
    setDi(cpu, di + step);
    setCount(cpu, --count);
    cpu.ioIterationDone();
    budget--;
  }
}

// ---------------------------------------------------------------- STOS

export function stos(cpu: Cpu, w: number): void {
  const step = stepOf(cpu, w);
  const v = accValue(cpu, w);
  if (cpu.rep === 0) {
    const di = getDi(cpu);
    writeAt(cpu, ES, di, w, v);
    setDi(cpu, di + step);
    return;
  }
  let count = getCount(cpu);
  let budget = budgetOf(cpu);
  while (count !== 0) {
    if (budget <= 0) return yieldRep(cpu);
    const di = getDi(cpu);
    let n = count < budget ? count : budget;
    if (n >= 2) {
      n = fastRun(cpu, ES, di, w, step, n, true);
      if (n) {
        fillElements(cpu, fastPhys, n, w, step, v);
        setDi(cpu, di + n * step);
        count -= n;
        setCount(cpu, count);
        budget -= n;
        continue;
      }
    }
    writeAt(cpu, ES, di, w, v);
    setDi(cpu, di + step);
    setCount(cpu, --count);
    cpu.ioIterationDone();
    budget--;
  }
}

// ---------------------------------------------------------------- LODS

function setAcc(cpu: Cpu, w: number, v: number): void {
  if (w === 1) cpu.r8[0] = v;
  else if (w === 2) cpu.r16[0] = v;
  else cpu.r32[0] = v;
}

export function lods(cpu: Cpu, w: number): void {
  const seg = srcSeg(cpu);
  const step = stepOf(cpu, w);
  if (cpu.rep === 0) {
    const si = getSi(cpu);
    setAcc(cpu, w, readAt(cpu, seg, si, w));
    setSi(cpu, si + step);
    return;
  }
  let count = getCount(cpu);
  let budget = budgetOf(cpu);
  while (count !== 0) {
    if (budget <= 0) return yieldRep(cpu);
    const si = getSi(cpu);
    setAcc(cpu, w, readAt(cpu, seg, si, w));
    setSi(cpu, si + step);
    setCount(cpu, --count);
    cpu.ioIterationDone();
    budget--;
  }
}

// ---------------------------------------------------------------- CMPS / SCAS

function compare(cpu: Cpu, a: number, b: number, w: number): void {
  if (w === 4) cpu.setLazy(LZ_SUB, a, b, (a - b) | 0, 32);
  else cpu.setLazy(LZ_SUB, a, b, (a - b) & (w === 1 ? 0xff : 0xffff), w * 8);
}

/** REPE (rep 1) stops when the elements differ, REPNE (rep 2) when they are equal. */
function repStops(cpu: Cpu, a: number, b: number): boolean {
  return cpu.rep === 1 ? a !== b : a === b;
}

/**
 * CMPS reads ES:(E)DI before the source, except REPE CMPSB, which reads the source
 * first: the order this CPU shows when both operands fault.
 */
export function cmps(cpu: Cpu, w: number): void {
  const seg = srcSeg(cpu);
  const step = stepOf(cpu, w);
  if (cpu.rep === 0) {
    const si = getSi(cpu);
    const di = getDi(cpu);
    const b = readAt(cpu, ES, di, w);
    const a = readAt(cpu, seg, si, w);
    compare(cpu, a, b, w);
    setSi(cpu, si + step);
    setDi(cpu, di + step);
    return;
  }
  const srcFirst = cpu.rep === 1 && w === 1;
  let count = getCount(cpu);
  let budget = budgetOf(cpu);
  while (count !== 0) {
    if (budget <= 0) return yieldRep(cpu);
    const si = getSi(cpu);
    const di = getDi(cpu);
    let n = count < budget ? count : budget;
    if (n >= 2) {
      let src = 0, dst = 0;
      if (srcFirst) {
        n = fastRun(cpu, seg, si, w, step, n, false);
        src = fastPhys;
        if (n) n = fastRun(cpu, ES, di, w, step, n, false);
        dst = fastPhys;
      } else {
        n = fastRun(cpu, ES, di, w, step, n, false);
        dst = fastPhys;
        if (n) n = fastRun(cpu, seg, si, w, step, n, false);
        src = fastPhys;
      }
      if (n) {
        const m = cpu.mem8;
        let i = 0;
        let a = 0, b = 0;
        do {
          a = physValue(m, src + i * step, w);
          b = physValue(m, dst + i * step, w);
          i++;
        } while (i < n && !repStops(cpu, a, b));
        compare(cpu, a, b, w);
        setSi(cpu, si + i * step);
        setDi(cpu, di + i * step);
        count -= i;
        setCount(cpu, count);
        if (repStops(cpu, a, b)) return;
        budget -= i;
        continue;
      }
    }
    let a: number, b: number;
    if (srcFirst) {
      a = readAt(cpu, seg, si, w);
      b = readAt(cpu, ES, di, w);
    } else {
      b = readAt(cpu, ES, di, w);
      a = readAt(cpu, seg, si, w);
    }
    compare(cpu, a, b, w);
    setSi(cpu, si + step);
    setDi(cpu, di + step);
    setCount(cpu, --count);
    cpu.ioIterationDone();
    if (repStops(cpu, a, b)) return;
    budget--;
  }
}

export function scas(cpu: Cpu, w: number): void {
  const step = stepOf(cpu, w);
  const a = accValue(cpu, w);
  if (cpu.rep === 0) {
    const di = getDi(cpu);
    compare(cpu, a, readAt(cpu, ES, di, w), w);
    setDi(cpu, di + step);
    return;
  }
  let count = getCount(cpu);
  let budget = budgetOf(cpu);
  while (count !== 0) {
    if (budget <= 0) return yieldRep(cpu);
    const di = getDi(cpu);
    let n = count < budget ? count : budget;
    if (n >= 2) {
      n = fastRun(cpu, ES, di, w, step, n, false);
      if (n) {
        const m = cpu.mem8;
        const dst = fastPhys;
        let i = 0;
        let b = 0;
        do {
          b = physValue(m, dst + i * step, w);
          i++;
        } while (i < n && !repStops(cpu, a, b));
        compare(cpu, a, b, w);
        setDi(cpu, di + i * step);
        count -= i;
        setCount(cpu, count);
        if (repStops(cpu, a, b)) return;
        budget -= i;
        continue;
      }
    }
    const b = readAt(cpu, ES, di, w);
    compare(cpu, a, b, w);
    setDi(cpu, di + step);
    setCount(cpu, --count);
    cpu.ioIterationDone();
    if (repStops(cpu, a, b)) return;
    budget--;
  }
}

// ---------------------------------------------------------------- INS / OUTS

/**
 * INS: the destination is checked for a write before the port is read, so a page
 * fault never loses a value read from a device.
 */
export function ins(cpu: Cpu, w: number): void {
  const step = stepOf(cpu, w);
  const port = cpu.r16[4];
  let count = cpu.rep === 0 ? 1 : getCount(cpu);
  let budget = budgetOf(cpu);
  while (count !== 0) {
    if (budget <= 0) return yieldRep(cpu);
    const di = getDi(cpu);
    const lin = cpu.linear(ES, di, w, true);
    cpu.checkWrite(lin, w);
    const v = cpu.ioRead(port, w as 1 | 2 | 4);
    if (w === 1) cpu.write8(lin, v);
    else if (w === 2) cpu.write16(lin, v);
    else cpu.write32(lin, v);
    setDi(cpu, di + step);
    if (cpu.rep !== 0) setCount(cpu, count - 1);
    count--;
    cpu.ioIterationDone();
    budget--;
  }
}

export function outs(cpu: Cpu, w: number): void {
  const seg = srcSeg(cpu);
  const step = stepOf(cpu, w);
  const port = cpu.r16[4];
  let count = cpu.rep === 0 ? 1 : getCount(cpu);
  let budget = budgetOf(cpu);
  while (count !== 0) {
    if (budget <= 0) return yieldRep(cpu);
    const si = getSi(cpu);
    cpu.ioWrite(port, w as 1 | 2 | 4, readAt(cpu, seg, si, w));
    setSi(cpu, si + step);
    if (cpu.rep !== 0) setCount(cpu, count - 1);
    count--;
    cpu.ioIterationDone();
    budget--;
  }
}
