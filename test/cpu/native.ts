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
  /** siginfo si_code (SI_KERNEL 0x80 for #GP, #SS, INTO, BOUND; SEGV_MAPERR/ACCERR for #PF; FPE_* for #DE and #MF). */
  sicode: number;
  /** The exception vector from the signal frame (QEMU user mode leaves it -1). */
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
    const id = u32(), status = u32(), signo = u32(), sicode = u32() | 0, trapno = u32(), err = u32(), cr2 = u32(), eip = u32(), eflags = u32();
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
      id, status, signo, sicode, trapno, err, cr2, eip, eflags, regs, fpu: { cw, sw, tw, st }, fip, fdp, fop,
      ns: nsHi * 2 ** 32 + nsLo, diffs,
    });
    o = o + 4 + len;
  }
  return { results, end: o };
}

const HELLO_MAGIC = 0x484d564c;
const HELLO_BYTES = 32;

/** What the runner's hello says: whether the low window could be mapped, and CPUID of the CPU that runs the cases. */
export interface RunnerHello {
  lowMapped: boolean;
  /** CPUID leaf 0 vendor string ("GenuineIntel", "AuthenticAMD", ...). */
  vendor: string;
  /** CPUID leaf 1 EAX (family, model, stepping). */
  signature: number;
  /** CPUID leaf 7 subleaf 0 EBX (0 when the leaf is missing). */
  leaf7ebx: number;
}

function parseHello(out: Buffer): RunnerHello | undefined {
  if (out.length < HELLO_BYTES || out.readUInt32LE(0) !== HELLO_MAGIC || out.readUInt32LE(4) !== 3) return undefined;
  return {
    lowMapped: out.readUInt32LE(8) === 1,
    vendor: out.subarray(12, 24).toString('latin1'),
    signature: out.readUInt32LE(24),
    leaf7ebx: out.readUInt32LE(28),
  };
}

/**
 * How the runner binary is started: directly on this machine's CPU, or under QEMU's
 * user-mode emulator where the kernel cannot run 32-bit code (IA-32 emulation off).
 */
export interface Oracle {
  kind: 'native' | 'qemu';
  /** The command line before the runner's own arguments. */
  argv: string[];
  /** Arguments the runner needs under this oracle. */
  extraArgs: string[];
  hello: RunnerHello;
  /** One line for test output: which implementation the interpreter is compared with. */
  describe: string;
}

export type OracleChoice = { ok: true; oracle: Oracle } | { ok: false; reason: string };

/** The emulator that stands in for the CPU where the kernel will not run i386 code. */
export const QEMU_USER = 'qemu-i386-static';

function startRunner(argv: string[]): { hello?: RunnerHello; why: string } {
  const r = spawnSync(argv[0], argv.slice(1), { input: Buffer.alloc(0), timeout: 30_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { why: code === 'ENOEXEC' ? 'the kernel cannot run i386 binaries (Exec format error)' : `${argv[0]}: ${r.error.message}` };
  }
  const hello = parseHello(r.stdout);
  if (r.status === 0 && hello) return { hello, why: '' };
  const err = r.stderr.toString().trim().split('\n')[0];
  return { why: `exit ${r.status ?? r.signal}${err ? `: ${err}` : ''}` };
}

let chosen: OracleChoice | undefined;

/**
 * Picks, once per process, what runs the runner: the CPU itself when the kernel runs i386 code,
 * else qemu-i386-static, else nothing (with the reason). LILYVM_CPU_ORACLE=native|qemu forces one.
 * A runner that cannot start means no oracle, never a failure.
 */
export function chooseOracle(): OracleChoice {
  if (chosen) return chosen;
  const built = buildRunner();
  if (!built.ok) return (chosen = { ok: false, reason: built.reason });
  const forced = process.env.LILYVM_CPU_ORACLE;
  if (forced && forced !== 'native' && forced !== 'qemu') {
    return (chosen = { ok: false, reason: `LILYVM_CPU_ORACLE=${forced}: expected native or qemu` });
  }
  const tried: string[] = [];
  if (forced !== 'qemu' && (process.arch === 'x64' || process.arch === 'ia32')) {
    const n = startRunner([built.path]);
    if (n.hello) {
      return (chosen = { ok: true, oracle: { kind: 'native', argv: [built.path], extraArgs: [], hello: n.hello, describe: `the host CPU (${n.hello.vendor}, native i386 process)` } });
    }
    tried.push(`native: ${n.why}`);
  } else if (forced !== 'qemu') {
    tried.push(`native: the host CPU is ${process.arch}, not x86`);
  }
  if (forced !== 'native') {
    const q = startRunner([QEMU_USER, built.path, '--no-seccomp']);
    if (q.hello) {
      const v = spawnSync(QEMU_USER, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].trim();
      return (chosen = { ok: true, oracle: { kind: 'qemu', argv: [QEMU_USER, built.path], extraArgs: ['--no-seccomp'], hello: q.hello, describe: `QEMU user mode (${v})` } });
    }
    tried.push(`qemu: ${q.why.includes('ENOENT') ? `${QEMU_USER} not installed (Debian package qemu-user-static)` : q.why}`);
  }
  return (chosen = { ok: false, reason: `oracle unavailable: ${tried.join('; ')}` });
}

/** The host side: runs batches of cases in one runner process per batch. */
export class NativeRunner {
  readonly lowMapped: boolean;
  /** What the runner said when it last died on a case. */
  lastDeath = '';

  constructor(readonly oracle: Oracle, readonly opts: RunnerOptions = {}) {
    this.lowMapped = oracle.hello.lowMapped;
  }

  private spawn(input: Buffer) {
    const a = [...this.oracle.argv.slice(1), ...this.oracle.extraArgs];
    if (this.opts.codeSize) a.push('--code-size', String(this.opts.codeSize));
    if (this.opts.dataSize) a.push('--data-size', String(this.opts.dataSize));
    if (this.opts.timeoutMs !== undefined) a.push('--timeout-ms', String(this.opts.timeoutMs));
    return spawnSync(this.oracle.argv[0], a, { input, maxBuffer: 1 << 30 });
  }

  /** Runs the cases; a case that kills the runner gets status ST_DIED and the rest run in a new process. */
  run(cases: CaseInput[]): NativeResult[] {
    const out: NativeResult[] = [];
    let rest = cases;
    while (rest.length > 0) {
      const input = Buffer.concat(rest.map(encodeCase));
      const r = this.spawn(input);
      // EPIPE: the runner died before it read all the cases; what it wrote before that still counts.
      if (r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE') throw r.error;
      const stdout = r.stdout ?? Buffer.alloc(0);
      if (!parseHello(stdout)) {
        throw new Error(`the runner failed to start under ${this.oracle.describe} (exit ${r.status}): ${r.stderr.toString()}`);
      }
      const { results } = decodeResults(stdout, HELLO_BYTES);
      out.push(...results);
      if (results.length >= rest.length) break;
      const dead = rest[results.length];
      this.lastDeath = r.stderr.toString().trim() || `exit ${r.status ?? r.signal}`;
      out.push({
        id: dead.id, status: ST_DIED, signo: r.signal ? 0 : r.status ?? -1, sicode: 0, trapno: -1, err: 0, cr2: 0, eip: 0, eflags: 0,
        regs: [0, 0, 0, 0, 0, 0, 0, 0], fpu: { cw: 0, sw: 0, tw: 0, st: [] }, fip: 0, fdp: 0, fop: 0, ns: 0, diffs: [],
      });
      rest = rest.slice(results.length + 1);
    }
    return out;
  }
}
