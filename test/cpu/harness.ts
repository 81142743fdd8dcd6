import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLAG_AF, FLAG_CF, FLAG_DF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF } from '../../src/cpu/constants.ts';
import type { OpcodeEntry } from '../../src/cpu/table/types.ts';
import type { GenCase } from './generate.ts';
import { CODE_BASE, CODE_ENTRY, DATA_BASE, LOW_BASE } from './layout.ts';
import { NativeRunner, ST_DIED, ST_SIGNAL, ST_SYSCALL, ST_TIMEOUT } from './native.ts';
import type { CaseInput, FpuSnapshot, NativeResult, Oracle } from './native.ts';
import { InterpMachine } from './run-interp.ts';
import { oracleLimits } from './oracle-limits.ts';
import type { InterpResult } from './run-interp.ts';

/** Instructions the interpreter may run per case before it counts as a timeout (the runner's wall-clock limit). */
export const INTERP_BUDGET = 500_000;
export const NATIVE_TIMEOUT_MS = 150;

const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const HAS_ERROR = new Set([8, 10, 11, 12, 13, 14, 17]);
/** Page-fault error code bits both sides define the same way (P, W/R, U/S; the host adds I/D with NX). */
const PF_ERR_COMPARED = 0x7;

/** How a case ended, on either side, in the same terms. */
export interface Outcome {
  kind: 'exception' | 'timeout' | 'syscall' | 'died' | 'error';
  message?: string;
  vector: number;
  err: number;
  cr2: number;
  eip: number;
  eflags: number;
  regs: number[];
  fpu?: FpuSnapshot;
  data: Uint8Array;
  low: Uint8Array;
}

export interface Difference {
  field: string;
  native: string;
  interp: string;
}

export interface CaseReport {
  c: GenCase;
  native: Outcome;
  interp: Outcome;
  diffs: Difference[];
  /** Why this oracle cannot judge the case (oracle-limits.ts); such a case is not compared. */
  skipped?: string;
}

const EMPTY = new Uint8Array(0);

const SIG_NAMES: Record<number, string> = { 4: 'SIGILL', 5: 'SIGTRAP', 7: 'SIGBUS', 8: 'SIGFPE', 11: 'SIGSEGV', 31: 'SIGSYS' };

/** The byte the case put at a code-window address (INT3 where it put nothing). */
function codeByte(c: CaseInput, addr: number): number {
  const a = addr >>> 0;
  let v = 0xcc;
  const start = CODE_BASE + c.codeOffset;
  if (a >= start && a < start + c.code.length) v = c.code[a - start];
  for (const p of c.patches) if (a >= p.addr && a < p.addr + p.bytes.length) v = p.bytes[a - p.addr];
  return v;
}

const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);
const SI_KERNEL = 0x80;

/**
 * The exception vector behind a signal, for QEMU user mode, whose signal frames carry the error
 * code and CR2 but leave trapno -1. It follows the mapping of Linux's (and QEMU's) trap handlers:
 * #PF is SIGSEGV with SEGV_MAPERR/ACCERR; #GP, INTO and BOUND are SIGSEGV with SI_KERNEL, told
 * apart by the instruction (INTO and INT 4 trap, so EIP is past CE or CD 04; BOUND faults at its 62 opcode);
 * #SS is SIGBUS with SI_KERNEL (no case loads a segment register, so never #NP); #AC is SIGBUS
 * BUS_ADRALN; #DE is SIGFPE FPE_INTDIV/INTOVF and #MF any other SIGFPE; ICEBP (F1) is SIGTRAP like INT3.
 */
export function vectorFromSignal(r: NativeResult, c: CaseInput): number {
  switch (r.signo) {
    case 5: return codeByte(c, r.eip - 1) === 0xf1 ? 1 : 3;
    case 4: return 6;
    case 8: return r.sicode === 1 || r.sicode === 2 ? 0 : 16;
    case 7: return r.sicode === SI_KERNEL ? 12 : 17;
    case 11: {
      if (r.sicode !== SI_KERNEL) return 14;
      let a = r.eip;
      for (let k = 0; k < 15 && PREFIXES.has(codeByte(c, a)); k++) a++;
      if (codeByte(c, a) === 0x62) return 5;
      if (codeByte(c, r.eip - 1) === 0xce || (codeByte(c, r.eip - 2) === 0xcd && codeByte(c, r.eip - 1) === 4)) return 4;
      return 13;
    }
    default: return -1;
  }
}

export function nativeOutcome(r: NativeResult, c: CaseInput, init: { data: Uint8Array; low: Uint8Array }): Outcome {
  const data = Uint8Array.from(init.data);
  const low = Uint8Array.from(init.low);
  for (const d of r.diffs) {
    const a = d.addr >>> 0;
    if (a >= DATA_BASE && a < DATA_BASE + data.length) data.set(d.bytes, a - DATA_BASE);
    else if (a >= LOW_BASE && a < LOW_BASE + low.length) low.set(d.bytes, a - LOW_BASE);
  }
  const base = { err: 0, cr2: 0, eip: r.eip >>> 0, eflags: r.eflags >>> 0, regs: r.regs, fpu: r.fpu, data, low };
  if (r.status === ST_TIMEOUT) return { ...base, kind: 'timeout', vector: -1 };
  if (r.status === ST_SYSCALL) return { ...base, kind: 'syscall', vector: 0x80 };
  if (r.status === ST_DIED) return { ...base, kind: 'died', vector: -1, message: `runner died (${r.signo})` };
  if (r.status !== ST_SIGNAL) return { ...base, kind: 'error', vector: -1, message: `runner status ${r.status}` };
  // SIGTRAP reports trapno 3 for INT3 and 1 for single-step; others carry the hardware vector.
  const vector = (r.trapno | 0) === -1 ? vectorFromSignal(r, c) : r.trapno;
  return {
    ...base, kind: 'exception', vector,
    err: HAS_ERROR.has(vector) ? r.err >>> 0 : 0,
    cr2: vector === 14 ? r.cr2 >>> 0 : 0,
    message: SIG_NAMES[r.signo] ?? `signal ${r.signo}`,
  };
}

export function interpOutcome(r: InterpResult): Outcome {
  const base = { err: r.err >>> 0, cr2: 0, eip: r.eip >>> 0, eflags: r.eflags >>> 0, regs: r.regs, fpu: r.fpu, data: r.data, low: r.low };
  if (r.exit === 'budget') return { ...base, kind: 'timeout', vector: -1 };
  if (r.exit !== 'halt') return { ...base, kind: 'error', vector: -1, message: r.message ?? r.exit };
  if (r.vector === 0x80) return { ...base, kind: 'syscall', vector: 0x80 };
  return { ...base, kind: 'exception', vector: r.vector, err: HAS_ERROR.has(r.vector) ? r.err >>> 0 : 0, cr2: r.vector === 14 ? r.cr2 >>> 0 : 0 };
}

const hex = (v: number, w = 8) => (v >>> 0).toString(16).padStart(w, '0');

function flagNames(bits: number): string {
  const names: [number, string][] = [
    [FLAG_CF, 'CF'], [FLAG_PF, 'PF'], [FLAG_AF, 'AF'], [FLAG_ZF, 'ZF'], [FLAG_SF, 'SF'], [0x100, 'TF'], [0x200, 'IF'],
    [FLAG_DF, 'DF'], [FLAG_OF, 'OF'], [0x3000, 'IOPL'], [0x4000, 'NT'], [0x40000, 'AC'], [0x200000, 'ID'],
  ];
  return names.filter(([b]) => bits & b).map(([, n]) => n).join(',');
}

function f80Text(b: Uint8Array): string {
  let s = '';
  for (let i = 9; i >= 0; i--) s += b[i].toString(16).padStart(2, '0');
  return s.slice(0, 4) + ':' + s.slice(4);
}

/** Physical register index of ST(i) from the status word's TOP. */
function stEmpty(fpu: FpuSnapshot, i: number): boolean {
  const top = (fpu.sw >> 11) & 7;
  const p = (top + i) & 7;
  return ((fpu.tw >> (2 * p)) & 3) === 3;
}

export function compareOutcomes(c: GenCase, n: Outcome, i: Outcome): Difference[] {
  const d: Difference[] = [];
  const add = (field: string, a: string, b: string) => d.push({ field, native: a, interp: b });
  if (n.kind !== i.kind || (n.kind === 'error' && i.kind === 'error')) {
    add('outcome', `${n.kind}${n.message ? ` (${n.message})` : ''}`, `${i.kind}${i.message ? ` (${i.message.split('\n')[0]})` : ''}`);
    return d;
  }
  if (n.kind === 'timeout' || n.kind === 'died') return d;
  if (n.vector !== i.vector) add('vector', String(n.vector), String(i.vector));
  if (n.vector === i.vector) {
    if (HAS_ERROR.has(n.vector)) {
      const m = n.vector === 14 ? PF_ERR_COMPARED & ~(c.cmp.pfErrIgnore ?? 0) : 0xffff;
      if ((n.err & m) !== (i.err & m)) add('error code', hex(n.err & m, 4), hex(i.err & m, 4));
    }
    const w = c.cmp.cr2Within;
    const inside = (a: number) => w !== undefined && ((a - w.addr) >>> 0) < w.len;
    if (n.vector === 14 && n.cr2 !== i.cr2 && !(inside(n.cr2) && inside(i.cr2))) add('cr2', hex(n.cr2), hex(i.cr2));
  }
  if (n.eip !== i.eip) add('eip', hex(n.eip), hex(i.eip));
  for (let r = 0; r < 8; r++) {
    const m = c.cmp.regMask[r] >>> 0;
    if (((n.regs[r] ^ i.regs[r]) & m) !== 0) add(REG_NAMES[r], hex(n.regs[r]), hex(i.regs[r]));
  }
  const fm = c.cmp.flagsMask;
  if (((n.eflags ^ i.eflags) & fm) !== 0) {
    add('eflags', `${hex(n.eflags & fm)} [${flagNames(n.eflags & fm)}]`, `${hex(i.eflags & fm)} [${flagNames(i.eflags & fm)}] differ: ${flagNames((n.eflags ^ i.eflags) & fm)}`);
  }
  compareMemory(c, n.data, i.data, DATA_BASE, add);
  compareMemory(c, n.low, i.low, LOW_BASE, add);
  if (c.cmp.fpu !== 'off' && n.fpu && i.fpu) compareFpu(c, n.fpu, i.fpu, add);
  return d;
}

function compareMemory(c: GenCase, a: Uint8Array, b: Uint8Array, base: number, add: (f: string, x: string, y: string) => void): void {
  const n = Math.min(a.length, b.length);
  let reported = 0;
  for (let k = 0; k < n; k++) {
    if (a[k] === b[k]) continue;
    const addr = base + k;
    if (c.cmp.memIgnore.some((r) => addr >= r.addr && addr < r.addr + r.len)) continue;
    let end = k;
    while (end + 1 < n && end - k < 15 && a[end + 1] !== b[end + 1]) end++;
    const from = Math.max(0, k - (k % 4));
    const to = Math.min(n, end + 1);
    const bytes = (x: Uint8Array) => Array.from(x.subarray(from, to), (v) => v.toString(16).padStart(2, '0')).join(' ');
    add(`mem[${hex(base + from)}]`, bytes(a), bytes(b));
    k = end;
    if (++reported >= 4) return;
  }
}

const FPU_SW_INEXACT = 0x0220;

function compareFpu(c: GenCase, a: FpuSnapshot, b: FpuSnapshot, add: (f: string, x: string, y: string) => void): void {
  if (a.cw !== b.cw) add('fpu cw', hex(a.cw, 4), hex(b.cw, 4));
  const swMask = (c.cmp.fpu === 'stack' ? 0x3800 : c.cmp.fpu === 'inexact' ? 0xffff & ~FPU_SW_INEXACT : 0xffff) & ~(c.cmp.swIgnore ?? 0);
  if ((a.sw ^ b.sw) & swMask) add('fpu sw', hex(a.sw, 4), hex(b.sw, 4));
  const emptyMask = (tw: number) => {
    let m = 0;
    for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) === 3) m |= 3 << (2 * p);
    return m;
  };
  const twDiffers = c.cmp.ignoreTags ? false : c.cmp.fpu === 'stack' ? emptyMask(a.tw) !== emptyMask(b.tw) : a.tw !== b.tw;
  if (twDiffers) add('fpu tw', hex(a.tw, 4), hex(b.tw, 4));
  if (c.cmp.fpu !== 'exact') return;
  for (let s = 0; s < 8; s++) {
    if (stEmpty(a, s) || stEmpty(b, s)) continue;
    const x = a.st[s];
    const y = b.st[s];
    if (x.some((v, k) => v !== y[k])) add(`st(${s})`, f80Text(x), f80Text(y));
  }
}

// ---------------------------------------------------------------- running

export interface Harness {
  oracle: Oracle;
  native: NativeRunner;
  /** The interpreter as it normally runs: through decoded blocks. */
  machine: InterpMachine;
  /** The same interpreter decoding every instruction every time (the path single-stepping and replays take). */
  stepMachine: InterpMachine;
}

export function makeHarness(oracle: Oracle, table?: readonly OpcodeEntry[]): Harness {
  const native = new NativeRunner(oracle, { timeoutMs: NATIVE_TIMEOUT_MS });
  const { lowMapped } = native;
  return {
    oracle,
    native,
    // No cool-down after self-modifying stores: blocks are rebuilt at once, so their invalidation is what gets tested.
    // A table of its own (a planted bug) is the interpreter's: the jit generates the instructions it covers without it.
    machine: new InterpMachine({ lowWindow: lowMapped, table, smcCooldown: 0, engine: table ? 'interp' : undefined }),
    stepMachine: new InterpMachine({ lowWindow: lowMapped, table, blocks: false }),
  };
}

function runInterp(m: InterpMachine, c: GenCase, init: { data: Uint8Array; low: Uint8Array }): InterpResult {
  try {
    return m.run(c, INTERP_BUDGET);
  } catch (e) {
    return {
      exit: 'error', message: `harness exception: ${(e as Error).stack ?? e}`, vector: -1, err: 0, cr2: 0, eip: 0, eflags: 0,
      regs: [0, 0, 0, 0, 0, 0, 0, 0], fpu: { cw: 0, sw: 0, tw: 0, st: [] }, data: init.data, low: init.low, instructions: 0,
    };
  }
}

/** Run cases on both sides; returns one report per case (diffs empty when they agree). */
export function runCases(h: Harness, cases: GenCase[], onProgress?: (done: number) => void): CaseReport[] {
  const reports: CaseReport[] = [];
  const chunk = 4000;
  for (let s = 0; s < cases.length; s += chunk) {
    const part = cases.slice(s, s + chunk);
    part.forEach((c, k) => (c.id = s + k));
    const nres = h.native.run(part);
    const byId = new Map(nres.map((r) => [r.id, r]));
    for (const c of part) {
      const init = h.machine.initialImage(c);
      const nr = byId.get(c.id);
      const native: Outcome = nr
        ? nativeOutcome(nr, c, init)
        : { kind: 'error', message: 'no result from the runner', vector: -1, err: 0, cr2: 0, eip: 0, eflags: 0, regs: [], data: init.data, low: init.low };
      // Both execution paths of the interpreter must agree with the CPU; a report shows the first that does not.
      let interp = interpOutcome(runInterp(h.machine, c, init));
      const limited = native.kind === 'died' && h.oracle.kind === 'qemu'
        ? { skip: 'QEMU itself aborted on the case' }
        : oracleLimits(c, h.oracle, interp);
      if ('skip' in limited) {
        native.data = native.low = interp.data = interp.low = EMPTY;
        reports.push({ c, native, interp, diffs: [], skipped: limited.skip });
        continue;
      }
      const cc = { ...c, cmp: limited.cmp };
      let diffs = compareOutcomes(cc, native, interp);
      if (diffs.length === 0) {
        const stepped = interpOutcome(runInterp(h.stepMachine, c, init));
        const stepDiffs = compareOutcomes(cc, native, stepped);
        if (stepDiffs.length !== 0) {
          interp = stepped;
          diffs = stepDiffs.map((d) => ({ ...d, field: `${d.field} (decoding every instruction, no blocks)` }));
        }
      }
      if (diffs.length === 0) {
        // Agreeing cases keep no memory images: long runs hold hundreds of thousands of reports.
        native.data = native.low = interp.data = interp.low = EMPTY;
        native.fpu = interp.fpu = undefined;
      }
      reports.push({ c, native, interp, diffs });
    }
    onProgress?.(Math.min(cases.length, s + chunk));
  }
  return reports;
}

// ---------------------------------------------------------------- reproducers

/** Simpler variants of a failing case (one register zeroed, plain flags, zero memory) that still fail, merged. */
export function shrink(h: Harness, r: CaseReport): CaseReport {
  const fieldsOf = (x: CaseReport) => [...new Set(x.diffs.map((d) => d.field.replace(/\[.*$/, '')))].sort().join(',');
  const fields = fieldsOf(r);
  const variants: GenCase[] = [];
  const c = r.c;
  const usedRegs = new Set<number>();
  for (let k = 0; k < 8; k++) {
    if (k === 4 || c.regs[k] === 0) continue;
    usedRegs.add(k);
    variants.push({ ...c, regs: c.regs.map((v, j) => (j === k ? 0 : v)) });
  }
  if ((c.eflags & 0xfff) !== 0x202) variants.push({ ...c, eflags: (c.eflags & ~0x8d5) | 0x202 });
  if (c.memSeed !== 0) variants.push({ ...c, memSeed: 0 });
  if (variants.length === 0) return r;
  const still = (x: CaseReport) =>
    fieldsOf(x) === fields && x.native.kind === r.native.kind && x.native.vector === r.native.vector &&
    x.interp.kind === r.interp.kind && x.interp.vector === r.interp.vector && x.native.cr2 === r.native.cr2 &&
    x.interp.cr2 === r.interp.cr2;
  const round1 = runCases(h, variants).filter(still);
  if (round1.length === 0) return r;
  const merged: GenCase = { ...c, regs: c.regs.slice() };
  for (const x of round1) {
    for (let k = 0; k < 8; k++) if (x.c.regs[k] === 0) merged.regs[k] = 0;
    if (x.c.eflags !== c.eflags) merged.eflags = x.c.eflags;
    if (x.c.memSeed === 0) merged.memSeed = 0;
  }
  const [m] = runCases(h, [merged]);
  return still(m) ? m : round1[0];
}

let objdumpOk: boolean | undefined;

export function disassemble(code: Uint8Array): string {
  if (objdumpOk === false) return '';
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-dis-'));
  try {
    const f = join(dir, 'code.bin');
    writeFileSync(f, code);
    const r = spawnSync('objdump', ['-D', '-b', 'binary', '-mi386', '-Mintel', `--adjust-vma=0x${CODE_ENTRY.toString(16)}`, f], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      objdumpOk = false;
      return '';
    }
    objdumpOk = true;
    return r.stdout.split('\n').filter((l) => /^\s*[0-9a-f]+:\t/.test(l)).map((l) => {
      const parts = l.split('\t');
      return (parts[2] ?? '(bad)').trim().replace(/\s+/g, ' ');
    }).filter((t, k, all) => !(t === '(bad)' && k === all.length - 1)).join('; ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function stateText(o: Outcome, withFpu: boolean): string {
  const lines: string[] = [];
  const head = o.kind === 'exception' ? `vector ${o.vector}${o.message ? ` (${o.message})` : ''}${HAS_ERROR.has(o.vector) ? ` err ${hex(o.err, 4)}` : ''}${o.vector === 14 ? ` cr2 ${hex(o.cr2)}` : ''}` : `${o.kind}${o.message ? ': ' + o.message.split('\n')[0] : ''}`;
  lines.push(`${head}  eip=${hex(o.eip)} eflags=${hex(o.eflags)}`);
  lines.push(o.regs.map((v, k) => `${REG_NAMES[k]}=${hex(v)}`).join(' '));
  if (withFpu && o.fpu && o.fpu.st.length) lines.push(`fpu cw=${hex(o.fpu.cw, 4)} sw=${hex(o.fpu.sw, 4)} tw=${hex(o.fpu.tw, 4)} ` +
    o.fpu.st.map((s, k) => (stEmpty(o.fpu!, k) ? '' : `st${k}=${f80Text(s)}`)).filter(Boolean).join(' '));
  return lines.join('\n      ');
}

export function rerunCommand(c: GenCase, seed: number): string {
  return `node --import tsx test/cpu/cli.ts --seed ${seed} --case ${c.key}:${c.index}`;
}

export function reproducer(r: CaseReport, seed: number): string {
  const c = r.c;
  const bytes = Array.from(c.code, (v) => v.toString(16).padStart(2, '0')).join(' ');
  const dis = disassemble(c.code);
  const patches = c.patches.map((p) => `${hex(p.addr)}: ${Array.from(p.bytes, (v) => v.toString(16).padStart(2, '0')).join('')}`).join(', ');
  return [
    `  ${c.key} ${c.mnemonic} case ${c.index}`,
    `    bytes: ${bytes}${dis ? `   (${dis})` : ''}`,
    `    in:   ${c.regs.map((v, k) => `${REG_NAMES[k]}=${hex(v)}`).join(' ')} eflags=${hex(c.eflags)} memseed=${hex(c.memSeed)}`,
    ...(patches ? [`          mem: ${patches}`] : []),
    `    host: ${stateText(r.native, c.cmp.fpu !== 'off')}`,
    `    ours: ${stateText(r.interp, c.cmp.fpu !== 'off')}`,
    `    differs: ${r.diffs.map((d) => `${d.field} (host ${d.native}, ours ${d.interp})`).join('; ')}`,
    `    rerun: ${rerunCommand(c, seed)}`,
  ].join('\n');
}

export interface Summary {
  cases: number;
  rows: number;
  /** Failing cases by group (the row key, or a cross-cutting group such as '#AC'). */
  failingRows: Map<string, CaseReport[]>;
  disagreements: number;
  /** Cases the oracle cannot judge, by reason. */
  notCompared: Map<string, number>;
}

export function summarize(reports: CaseReport[], rowKeys: string[]): Summary {
  const failingRows = new Map<string, CaseReport[]>();
  let disagreements = 0;
  const covered = new Set<string>();
  const notCompared = new Map<string, number>();
  for (const r of reports) {
    covered.add(r.c.key);
    if (r.skipped) {
      notCompared.set(r.skipped, (notCompared.get(r.skipped) ?? 0) + 1);
      continue;
    }
    if (r.diffs.length === 0) continue;
    disagreements++;
    let list = failingRows.get(r.c.group);
    if (!list) failingRows.set(r.c.group, (list = []));
    list.push(r);
  }
  return { cases: reports.length, rows: rowKeys.filter((k) => covered.has(k)).length, failingRows, disagreements, notCompared };
}
