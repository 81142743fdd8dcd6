// Guest instructions per second of the interpreter on real code, next to the host CPU running the same code.
//   node --import tsx bench/cpu/main.ts [--quick]
// Figures, not a test: nothing here passes or fails on time.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BUILD_DIR, NativeRunner, chooseOracle } from '../../test/cpu/native.ts';
import type { CaseInput } from '../../test/cpu/native.ts';
import { CODE_BASE, DATA_BASE } from '../../test/cpu/layout.ts';
import { InterpMachine } from '../../test/cpu/run-interp.ts';

const here = dirname(fileURLToPath(import.meta.url));
const CODE_SIZE = 0x10000;
const DATA_SIZE = 0x400000;
const LZ_IN = DATA_BASE + 0x200000;
const LZ_OUT_OFF = 0x300000;
const LZ_PARAMS = DATA_BASE + 0x1000;
const COPY_SRC = DATA_BASE + 0x100000;
const COPY_BYTES = 0x40000;

interface Workload {
  name: string;
  id: number;
  iterations: number;
  /** Bytes moved per iteration, for a MB/s figure. */
  bytesPerIteration?: number;
}

function buildWorkloads(): Uint8Array {
  const elf = join(BUILD_DIR, 'workloads.elf');
  const bin = join(BUILD_DIR, 'workloads.bin');
  const cc = spawnSync('gcc', [
    '-m32', '-march=i686', '-O2', '-ffreestanding', '-nostdlib', '-fno-pic', '-fno-pie', '-no-pie', '-fno-stack-protector',
    '-fno-asynchronous-unwind-tables', '-fno-tree-vectorize', '-fno-tree-loop-distribute-patterns', '-fno-builtin', '-static',
    '-Wl,--build-id=none', '-Wl,--no-warn-rwx-segments', '-T', join(here, 'workloads.ld'), join(here, 'workloads.c'), '-o', elf,
  ], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) throw new Error(`cannot build bench/cpu/workloads.c with gcc -m32: ${cc.stderr ?? cc.error?.message}`);
  const oc = spawnSync('objcopy', ['-O', 'binary', elf, bin], { encoding: 'utf8' });
  if (oc.error || oc.status !== 0) throw new Error(`objcopy failed: ${oc.stderr ?? oc.error?.message}`);
  return readFileSync(bin);
}

/** Words from a small vocabulary: text an LZ77 coder compresses about 3:1. */
function sampleText(bytes: number): Uint8Array {
  const words = ['the', 'virtual', 'machine', 'monitor', 'runs', 'guest', 'kernel', 'code', 'on', 'interpreter', 'page',
    'table', 'interrupt', 'device', 'register', 'a', 'of', 'to', 'and', 'memory', 'translation', 'block', 'x86'];
  const out = new Uint8Array(bytes);
  let x = 12345;
  let o = 0;
  while (o < bytes) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = words[(x >>> 16) % words.length] + ((x >>> 8) % 13 === 0 ? '.\n' : ' ');
    for (let i = 0; i < w.length && o < bytes; i++) out[o++] = w.charCodeAt(i);
  }
  return out;
}

/** Greedy LZ77 with a hash of 3 bytes, in the token format lz_decode() reads (see workloads.c). */
export function lzCompress(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  const head = new Int32Array(1 << 15).fill(-1);
  const hash = (i: number) => ((src[i] << 10) ^ (src[i + 1] << 5) ^ src[i + 2]) & 0x7fff;
  let lit: number[] = [];
  const flush = () => {
    for (let i = 0; i < lit.length; i += 128) {
      const part = lit.slice(i, i + 128);
      out.push(part.length - 1, ...part);
    }
    lit = [];
  };
  let i = 0;
  while (i < src.length) {
    let len = 0;
    let dist = 0;
    if (i + 3 <= src.length) {
      const h = hash(i);
      const cand = head[h];
      head[h] = i;
      if (cand >= 0 && i - cand <= 0x10000) {
        while (len < 130 && i + len < src.length && src[cand + len] === src[i + len]) len++;
        dist = i - cand;
      }
    }
    if (len >= 3) {
      flush();
      out.push(0x80 | (len - 3), (dist - 1) & 0xff, (dist - 1) >> 8);
      i += len;
    } else {
      lit.push(src[i]);
      i++;
    }
  }
  flush();
  return Uint8Array.from(out);
}

function chunks(addr: number, bytes: Uint8Array): { addr: number; bytes: Uint8Array }[] {
  const out = [];
  for (let o = 0; o < bytes.length; o += 0x8000) out.push({ addr: addr + o, bytes: bytes.subarray(o, o + 0x8000) });
  return out;
}

function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const o = chooseOracle();
  if (!o.ok) throw new Error(`no reference to compare with: ${o.reason}`);
  const image = buildWorkloads();
  const text = sampleText(512 * 1024);
  const packed = lzCompress(text);
  const params = new Uint8Array(4);
  new DataView(params.buffer).setUint32(0, packed.length, true);
  const copySrc = sampleText(COPY_BYTES);
  const patches = [
    { addr: CODE_BASE, bytes: image },
    ...chunks(LZ_IN, packed),
    { addr: LZ_PARAMS, bytes: params },
    ...chunks(COPY_SRC, copySrc),
  ];
  const scale = quick ? 0.1 : 1;
  const workloads: Workload[] = [
    { name: 'sieve (integer loop)', id: 0, iterations: Math.max(1, Math.round(20 * scale)) },
    { name: 'rep movsd copy', id: 1, iterations: Math.max(1, Math.round(400 * scale)), bytesPerIteration: COPY_BYTES },
    { name: 'byte-by-byte copy', id: 2, iterations: Math.max(1, Math.round(20 * scale)), bytesPerIteration: COPY_BYTES },
    { name: 'recursive fib (call/ret)', id: 3, iterations: quick ? 22 : 27 },
    { name: 'LZ77 decode', id: 4, iterations: Math.max(1, Math.round(20 * scale)), bytesPerIteration: text.length },
  ];

  const native = new NativeRunner(o.oracle, { codeSize: CODE_SIZE, dataSize: DATA_SIZE, timeoutMs: 0 });
  const machine = new InterpMachine({ codeSize: CODE_SIZE, dataSize: DATA_SIZE, ring: 0, lowWindow: false });
  const rows: string[][] = [];
  let totalInstr = 0;
  let totalSecs = 0;
  for (const w of workloads) {
    const c: CaseInput = {
      id: w.id, regs: [w.id, 0, 0, w.iterations, DATA_BASE + DATA_SIZE - 16, 0, 0, 0], eflags: 0x202, memSeed: 0,
      codeOffset: 0, code: new Uint8Array(0), patches, noDiff: true,
    };
    const nres = native.run([c, c, c]);
    const nativeNs = Math.min(...nres.map((r) => r.ns));
    if (nres[0].trapno !== 3) throw new Error(`${w.name}: the host run ended with signal ${nres[0].signo} trap ${nres[0].trapno}`);

    machine.load(c);
    const t0 = performance.now();
    const r = machine.runLoaded(4e9);
    const secs = (performance.now() - t0) / 1000;
    if (r.exit !== 'halt' || r.vector !== 3) throw new Error(`${w.name}: the interpreter stopped with ${r.exit} ${r.vector} ${r.message ?? ''}`);
    if (r.regs[0] !== nres[0].regs[0]) throw new Error(`${w.name}: result ${r.regs[0].toString(16)} differs from the host's ${nres[0].regs[0].toString(16)}`);
    if (w.id === 4 && !r.data.subarray(LZ_OUT_OFF, LZ_OUT_OFF + text.length).every((v, k) => v === text[k])) {
      throw new Error('LZ77 decode: the interpreter produced different output');
    }
    const instr = r.instructions;
    totalInstr += instr;
    totalSecs += secs;
    const mips = instr / secs / 1e6;
    const nativeMips = instr / (nativeNs / 1e9) / 1e6;
    const mbs = w.bytesPerIteration ? ` ${fmt((w.bytesPerIteration * w.iterations) / secs / 1e6)} MB/s (host ${fmt((w.bytesPerIteration * w.iterations) / (nativeNs / 1e9) / 1e6, 0)})` : '';
    rows.push([w.name, (instr / 1e6).toFixed(2) + ' M', fmt(secs * 1000, 0) + ' ms', fmt(mips), fmt(nativeNs / 1e6, 2) + ' ms', fmt(nativeMips, 0), fmt(nativeMips / mips, 0) + 'x', mbs.trim()]);
  }
  const peer = o.oracle.kind === 'native' ? 'host' : 'qemu';
  const header = ['workload', 'guest instr', 'interp time', 'interp MIPS', `${peer} time`, `${peer} MIPS`, 'slowdown', 'throughput'];
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) => '| ' + r.map((v, k) => v.padEnd(widths[k])).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  console.log(`\ninterpreter overall: ${fmt(totalInstr / totalSecs / 1e6)} MIPS (${(totalInstr / 1e6).toFixed(1)} M guest instructions in ${fmt(totalSecs, 2)} s); ` +
    `node ${process.version}, ${process.arch}`);
  console.log(`guest instructions are counted by the interpreter (a REP-prefixed instruction counts once); the same image runs on ${o.oracle.describe}`);
}

main();
