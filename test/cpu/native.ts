import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, LOW_BASE, LOW_SIZE } from './layout.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const NATIVE_DIR = join(here, 'native');
export const BUILD_DIR = join(NATIVE_DIR, 'build');

/** One case as both sides run it: registers, flags, code and the data windows' initial contents. */
export interface CaseInput {
  id: number;
  /** EAX..EDI. */
  regs: number[];
  eflags: number;
  /** Seed of the fill pattern of DATA then LOW (layout.ts fillPattern); 0 fills zeros. */
  memSeed: number;
  /** Offset of the first instruction in the code window; the rest of the window is INT3. */
  codeOffset: number;
  code: Uint8Array;
  /** Bytes written over the fill pattern (data, low or code window). */
  patches: { addr: number; bytes: Uint8Array }[];
  /** Skip the memory diff (benchmarks). */
  noDiff?: boolean;
}

export const ST_SIGNAL = 0;
export const ST_TIMEOUT = 1;
export const ST_SYSCALL = 2;
/** Not from the runner: the runner process died on this case. */
export const ST_DIED = 99;

export interface FpuSnapshot {
  cw: number;
  sw: number;
  /** Full tag word (two bits per physical register). */
  tw: number;
  /** ST(0)..ST(7), 10 bytes each (64-bit significand then sign+exponent). */
  st: Uint8Array[];
}

export interface MemDiff {
  addr: number;
  bytes: Uint8Array;
}

export interface NativeResult {
  id: number;
  status: number;
  signo: number;
  trapno: number;
  err: number;
  cr2: number;
  eip: number;
  eflags: number;
  regs: number[];
  fpu: FpuSnapshot;
  fip: number;
  fdp: number;
  fop: number;
  ns: number;
  diffs: MemDiff[];
}

export interface RunnerOptions {
  codeSize?: number;
  dataSize?: number;
  /** Per-case wall-clock limit; 0 for none. */
  timeoutMs?: number;
}

function layoutDefines(): string[] {
  const d = { CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, LOW_BASE, LOW_SIZE };
  return Object.entries(d).map(([k, v]) => `-D${k}=0x${v.toString(16)}`);
}

export type BuildResult = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Compiles a C file with gcc -m32 into test/cpu/native/build/, once per source and
 * flags (a hash stamp next to the output). Returns why not when the toolchain is missing.
 */
export function buildNative(source: string, output: string, extraFlags: string[] = []): BuildResult {
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = join(BUILD_DIR, output);
  const flags = ['-m32', '-O2', '-Wall', ...layoutDefines(), ...extraFlags];
  const text = readFileSync(join(NATIVE_DIR, source));
  const stamp = createHash('sha256').update(text).update(flags.join(' ')).digest('hex');
  const stampPath = out + '.stamp';
  if (existsSync(out) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) return { ok: true, path: out };
  const attempts = [[...flags, '-static'], flags];
  let last = '';
  for (const f of attempts) {
    // Test files build in parallel: each compiles to its own file and renames it into place,
    // so none ever runs a binary another is still writing (ETXTBSY).
    const tmp = `${out}.${process.pid}.tmp`;
    const r = spawnSync('gcc', [...f, join(NATIVE_DIR, source), '-o', tmp], { encoding: 'utf8' });
    if (r.error) return { ok: false, reason: `gcc not found (${r.error.message}): install gcc and gcc-multilib` };
    if (r.status === 0) {
      renameSync(tmp, out);
      writeFileSync(`${stampPath}.${process.pid}.tmp`, stamp);
      renameSync(`${stampPath}.${process.pid}.tmp`, stampPath);
      return { ok: true, path: out };
    }
    rmSync(tmp, { force: true });
    last = r.stderr;
  }
  return { ok: false, reason: `gcc -m32 cannot build ${source} (install gcc-multilib):\n${last.slice(0, 2000)}` };
}

export function buildRunner(): BuildResult {
  return buildNative('runner.c', 'runner');
}

function encodeCase(c: CaseInput): Buffer {
  let size = 4 + 4 + 32 + 4 + 4 + 4 + 4 + 4 + c.code.length + 4;
  for (const p of c.patches) size += 6 + p.bytes.length;
  const b = Buffer.alloc(size);
  let o = 0;
  o = b.writeUInt32LE(size - 4, o);
  o = b.writeUInt32LE(c.id >>> 0, o);
  for (let i = 0; i < 8; i++) o = b.writeUInt32LE(c.regs[i] >>> 0, o);
  o = b.writeUInt32LE(c.eflags >>> 0, o);
  o = b.writeUInt32LE(c.memSeed >>> 0, o);
  o = b.writeUInt32LE(c.noDiff ? 1 : 0, o);
  o = b.writeUInt32LE(c.codeOffset, o);
  o = b.writeUInt32LE(c.code.length, o);
  b.set(c.code, o);
  o += c.code.length;
  o = b.writeUInt32LE(c.patches.length, o);
  for (const p of c.patches) {
    o = b.writeUInt32LE(p.addr >>> 0, o);
    o = b.writeUInt16LE(p.bytes.length, o);
    b.set(p.bytes, o);
    o += p.bytes.length;
  }
  return b;
}

function decodeResults(buf: Buffer, start: number): { results: NativeResult[]; end: number } {
  const results: NativeResult[] = [];
  let o = start;
  while (o + 4 <= buf.length) {
    const len = buf.readUInt32LE(o);
    if (o + 4 + len > buf.length) break;
    let p = o + 4;
    const u32 = () => { const v = buf.readUInt32LE(p); p += 4; return v; };
    const u16 = () => { const v = buf.readUInt16LE(p); p += 2; return v; };
    const id = u32(), status = u32(), signo = u32(), trapno = u32(), err = u32(), cr2 = u32(), eip = u32(), eflags = u32();
    const regs: number[] = [];
    for (let i = 0; i < 8; i++) regs.push(u32());
    const cw = u16(), sw = u16(), tw = u16();
    u16();
    const st: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) {
      st.push(Uint8Array.from(buf.subarray(p, p + 10)));
      p += 10;
    }
    const fip = u32(), fdp = u32(), fop = u32();
    const nsLo = u32(), nsHi = u32();
    const n = u32();
    const diffs: MemDiff[] = [];
    for (let i = 0; i < n; i++) {
      const addr = u32();
      const l = u16();
      diffs.push({ addr, bytes: Uint8Array.from(buf.subarray(p, p + l)) });
      p += l;
    }
    results.push({
      id, status, signo, trapno, err, cr2, eip, eflags, regs, fpu: { cw, sw, tw, st }, fip, fdp, fop,
      ns: nsHi * 2 ** 32 + nsLo, diffs,
    });
    o = o + 4 + len;
  }
  return { results, end: o };
}

/** The host side: runs batches of cases in one runner process per batch. */
export class NativeRunner {
  lowMapped = false;
  /** What the runner said when it last died on a case. */
  lastDeath = '';

  constructor(readonly path: string, readonly opts: RunnerOptions = {}) {}

  private args(): string[] {
    const a: string[] = [];
    if (this.opts.codeSize) a.push('--code-size', String(this.opts.codeSize));
    if (this.opts.dataSize) a.push('--data-size', String(this.opts.dataSize));
    if (this.opts.timeoutMs !== undefined) a.push('--timeout-ms', String(this.opts.timeoutMs));
    return a;
  }

  /** Asks a fresh runner whether the low window (16-bit addressing) could be mapped. */
  probe(): { lowMapped: boolean } {
    const r = spawnSync(this.path, this.args(), { input: Buffer.alloc(0) });
    if (r.status !== 0 || r.stdout.length < 12 || r.stdout.readUInt32LE(0) !== 0x484d564c) {
      throw new Error(`native runner did not start: ${r.stderr?.toString() ?? r.error?.message}`);
    }
    this.lowMapped = r.stdout.readUInt32LE(8) === 1;
    return { lowMapped: this.lowMapped };
  }

  /** Runs the cases; a case that kills the runner gets status ST_DIED and the rest run in a new process. */
  run(cases: CaseInput[]): NativeResult[] {
    const out: NativeResult[] = [];
    let rest = cases;
    while (rest.length > 0) {
      const input = Buffer.concat(rest.map(encodeCase));
      const r = spawnSync(this.path, this.args(), { input, maxBuffer: 1 << 30 });
      if (r.error) throw r.error;
      const stdout = r.stdout;
      if (stdout.length < 12 || stdout.readUInt32LE(0) !== 0x484d564c) {
        throw new Error(`native runner failed to start (exit ${r.status}): ${r.stderr.toString()}`);
      }
      this.lowMapped = stdout.readUInt32LE(8) === 1;
      const { results } = decodeResults(stdout, 12);
      out.push(...results);
      if (results.length >= rest.length) break;
      const dead = rest[results.length];
      this.lastDeath = r.stderr.toString().trim() || `exit ${r.status ?? r.signal}`;
      out.push({
        id: dead.id, status: ST_DIED, signo: r.signal ? 0 : r.status ?? -1, trapno: -1, err: 0, cr2: 0, eip: 0, eflags: 0,
        regs: [0, 0, 0, 0, 0, 0, 0, 0], fpu: { cw: 0, sw: 0, tw: 0, st: [] }, fip: 0, fdp: 0, fop: 0, ns: 0, diffs: [],
      });
      rest = rest.slice(results.length + 1);
    }
    return out;
  }
}
