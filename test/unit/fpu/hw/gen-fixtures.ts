// Generates test/unit/fpu/fixtures/*.json.gz by running random x87 instructions on this machine's CPU through
// probe.c. A developer tool (needs gcc -m32 on an x86 host): node --import tsx test/unit/fpu/hw/gen-fixtures.ts [name...]
// The unit tests only replay the recorded results.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { HwCase, HwFixture } from './replay.ts';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'fixtures');

let seed = 0x12345678;
function rand32(): number {
  // xorshift32
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
function rnd(n: number): number {
  return rand32() % n;
}
function chance(p: number): boolean {
  return rand32() / 4294967296 < p;
}
function pick<T>(xs: readonly T[]): T {
  return xs[rnd(xs.length)]!;
}
function rand64(): bigint {
  return (BigInt(rand32()) << 32n) | BigInt(rand32());
}

interface V {
  se: number;
  sig: bigint;
}

function v(sign: number, exp: number, sig: bigint): V {
  return { se: (sign << 15) | exp, sig: BigInt.asUintN(64, sig) };
}

function fromDouble(x: number): V {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  const bits = b.readBigUInt64LE(0);
  const sign = Number(bits >> 63n);
  const e = Number((bits >> 52n) & 0x7ffn);
  const m = bits & ((1n << 52n) - 1n);
  if (e === 0 && m === 0n) return v(sign, 0, 0n);
  if (e === 0) {
    let sig = m << 11n;
    let exp = 1 - 1023 + 16383;
    while (!(sig & (1n << 63n))) {
      sig <<= 1n;
      exp--;
    }
    return v(sign, exp, sig);
  }
  if (e === 0x7ff) return v(sign, 0x7fff, (1n << 63n) | (m << 11n));
  return v(sign, e - 1023 + 16383, (1n << 63n) | (m << 11n));
}

const J = 1n << 63n;

/** A value of the extended format biased towards special and boundary cases. */
function randomF80(near?: V): V {
  const s = rnd(2);
  if (near && chance(0.3)) {
    // Same exponent region as near, for cancellation and ties.
    const d = rnd(5) - 2;
    const sig = chance(0.5) ? near.sig ^ BigInt(rand32() & 0xff) : near.sig + BigInt(rnd(5)) - 2n;
    return v(chance(0.5) ? s : near.se >> 15, Math.max(1, Math.min(0x7ffe, (near.se & 0x7fff) + d)), sig | J);
  }
  switch (rnd(22)) {
    case 0: return v(s, 0, 0n);
    case 1: return v(s, 0x7fff, J);
    case 2: return v(s, 0x7fff, J | (1n << 62n) | (chance(0.5) ? 0n : rand64() >> BigInt(2 + rnd(60))));
    case 3: return v(s, 0x7fff, J | ((rand64() >> BigInt(2 + rnd(60))) || 1n));
    case 4: return v(s, 0, (rand64() >> BigInt(1 + rnd(63))) || 1n);
    case 5: return v(s, 0, J | (rand64() >> BigInt(1 + rnd(63))));
    case 6: return v(s, 1 + rnd(0x7ffe), rand64() >> BigInt(1 + rnd(63)));
    case 7: return v(s, 0x7fff, rand64() >> BigInt(1 + rnd(63)));
    case 8: return v(s, 0x7ffe - rnd(3), J | rand64());
    case 9: return v(s, 1 + rnd(3), J | rand64());
    case 10: return v(s, 16383 + rnd(3) - 1, J);
    case 11: return fromDouble((chance(0.5) ? -1 : 1) * (rnd(2000) - 1000) / (1 + rnd(16)));
    case 12: return fromDouble((chance(0.5) ? -1 : 1) * Math.random() * 10 ** (rnd(40) - 20));
    case 13: return v(s, 16383 + rnd(140) - 70, J | rand64());
    case 14: return v(s, 16383 + rnd(140) - 70, J | (rand64() & ~0x7ffn));
    case 15: return v(s, 16383 - 1022 - rnd(60) + 30, J | rand64());
    case 16: return v(s, 16383 - 126 - rnd(40) + 20, J | rand64());
    case 17: return v(s, 16383 + 1023 + rnd(6) - 3, J | (chance(0.5) ? -1n : rand64()));
    case 18: return v(s, 16383 + 127 + rnd(6) - 3, J | (chance(0.5) ? -1n : rand64()));
    case 19: return v(s, 16383 + 62 + rnd(4), J | rand64());
    case 20: return v(s, 16383 + rnd(64), J | (rand64() << BigInt(rnd(64))));
    default: return v(s, 1 + rnd(0x7ffe), J | rand64());
  }
}

function f80Bytes(x: V): Buffer {
  const b = Buffer.alloc(10);
  b.writeBigUInt64LE(x.sig, 0);
  b.writeUInt16LE(x.se, 8);
  return b;
}

interface StateOpts {
  cw?: number;
  sw?: number;
  /** Number of full registers from ST0 up (others empty), or a bitmask of physical registers when emptyMask. */
  full?: number;
  regs?: V[];
}

function randomCw(waiting: boolean): number {
  let masks = 0x3f;
  if (chance(0.25)) masks = rand32() & 0x3f;
  const pc = pick([3, 3, 3, 2, 2, 0, 1]);
  const rc = rnd(4);
  return masks | (pc << 8) | (rc << 10) | (chance(0.1) ? 0x1000 : 0) | (waiting ? 0 : 0);
}

/** An FRSTOR image (32-bit protected-mode layout). */
function makeState(o: { cw: number; sw: number; top: number; validPhys: number; st: V[] }): string {
  const b = Buffer.alloc(108);
  b.writeUInt16LE(o.cw, 0);
  b.writeUInt16LE(0xffff, 2);
  b.writeUInt16LE((o.sw & ~0x3880) | (o.top << 11), 4);
  b.writeUInt16LE(0xffff, 6);
  let tw = 0;
  for (let p = 0; p < 8; p++) tw |= ((o.validPhys >> p) & 1 ? 0 : 3) << (2 * p);
  b.writeUInt16LE(tw, 8);
  b.writeUInt16LE(0xffff, 10);
  b.writeUInt32LE(rand32(), 12);
  b.writeUInt32LE((rand32() & 0x07ff0000) | 0x23, 16);
  b.writeUInt32LE(rand32(), 20);
  b.writeUInt32LE((0xffff0000 | (rand32() & 0xffff)) >>> 0, 24);
  for (let i = 0; i < 8; i++) f80Bytes(o.st[i]!).copy(b, 28 + 10 * i);
  return b.toString('hex');
}

function randomState(opts: { waiting?: boolean; full?: number; st?: V[]; cw?: number; zeroRest?: boolean } = {}): string {
  const waiting = opts.waiting ?? true;
  const cw = opts.cw ?? randomCw(waiting);
  let flags = rand32() & 0x3f;
  if (waiting) flags &= cw & 0x3f;
  if (chance(0.5)) flags = 0;
  const sw = flags | (chance(0.3) ? 0x40 & (flags << 6) : 0) | (rand32() & 0x4700);
  const top = rnd(8);
  const full = opts.full ?? (chance(0.15) ? rnd(9) : 8);
  let validRel = full >= 8 ? 0xff : (1 << full) - 1;
  if (chance(0.1)) validRel = rand32() & 0xff;
  let validPhys = 0;
  for (let i = 0; i < 8; i++) if ((validRel >> i) & 1) validPhys |= 1 << ((top + i) & 7);
  const st: V[] = [];
  for (let i = 0; i < 8; i++) st.push(opts.st?.[i] ?? (opts.zeroRest ? v(0, 0, 0n) : randomF80(st[0])));
  return makeState({ cw, sw, top, validPhys, st });
}

// ---- memory operand values ----

function randomF32(): Buffer {
  const b = Buffer.alloc(4);
  const s = rnd(2) << 31;
  let bits: number;
  switch (rnd(9)) {
    case 0: bits = s; break;
    case 1: bits = s | 0x7f800000; break;
    case 2: bits = s | 0x7fc00000 | (rand32() & 0x3fffff); break;
    case 3: bits = s | 0x7f800000 | ((rand32() & 0x3fffff) || 1); break;
    case 4: bits = s | ((rand32() & 0x7fffff) || 1); break;
    case 5: bits = s | ((127 + rnd(60) - 30) << 23) | (rand32() & 0x7fffff); break;
    default: bits = rand32(); break;
  }
  b.writeUInt32LE(bits >>> 0);
  return b;
}

function randomF64(): Buffer {
  const b = Buffer.alloc(8);
  const s = BigInt(rnd(2)) << 63n;
  let bits: bigint;
  const frac = rand64() & ((1n << 52n) - 1n);
  switch (rnd(9)) {
    case 0: bits = s; break;
    case 1: bits = s | (0x7ffn << 52n); break;
    case 2: bits = s | (0xfffn << 51n) | (frac >> 1n); break;
    case 3: bits = s | (0x7ffn << 52n) | ((frac >> 1n) || 1n); break;
    case 4: bits = s | (frac || 1n); break;
    case 5: bits = s | (BigInt(1023 + rnd(100) - 50) << 52n) | frac; break;
    default: bits = rand64(); break;
  }
  b.writeBigUInt64LE(bits);
  return b;
}

function randomInt(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  const choice = rnd(6);
  let x: bigint;
  if (choice === 0) x = 0n;
  else if (choice === 1) x = -(1n << BigInt(8 * bytes - 1));
  else if (choice === 2) x = (1n << BigInt(8 * bytes - 1)) - 1n;
  else if (choice === 3) x = BigInt(rnd(2000) - 1000);
  else x = BigInt.asIntN(8 * bytes, rand64() >> BigInt(rnd(64)));
  for (let i = 0; i < bytes; i++) b[i] = Number((BigInt.asUintN(8 * bytes, x) >> BigInt(8 * i)) & 0xffn);
  return b;
}

function randomBcd(): Buffer {
  const b = Buffer.alloc(10);
  const digits = rnd(19);
  for (let i = 0; i < 9; i++) {
    const lo = 2 * i < digits ? rnd(10) : 0;
    const hi = 2 * i + 1 < digits ? rnd(10) : 0;
    b[i] = (hi << 4) | lo;
  }
  if (chance(0.1)) b[rnd(9)] = rand32() & 0xff;
  b[9] = (chance(0.5) ? 0x80 : 0) | (chance(0.1) ? rand32() & 0x7f : 0);
  return b;
}

function randomEflags(): number {
  return 0x202 | (rand32() & 0x8d5);
}

// ---- running ----

interface Pending {
  c: string;
  s: string;
  m: string;
  n: number;
  f: number;
}

let probePath = '';
function probe(cases: Pending[]): HwCase[] {
  if (!probePath) {
    const dir = mkdtempSync(join(tmpdir(), 'x87-probe-'));
    probePath = join(dir, 'probe');
    execFileSync('gcc', ['-m32', '-O1', '-fno-pie', '-no-pie', '-o', probePath, join(here, 'probe.c')]);
  }
  const input = cases.map((c) => `${c.c} ${c.s} ${c.m || '-'} ${c.n} ${c.f.toString(16)}`).join('\n') + '\n';
  const out = execFileSync(probePath, { input, maxBuffer: 1 << 28 }).toString().trim().split('\n');
  return out.map((line, i) => {
    const [o, om, of, ax, sig, ca, ma] = line.split(' ');
    const c = cases[i]!;
    return { ...c, o: o!, om: om === '-' ? '' : om!, of: parseInt(of!, 16), ax: parseInt(ax!, 16), sig: Number(sig), ca: parseInt(ca!, 16), ma: parseInt(ma!, 16) };
  });
}

function hex(b: Buffer): string {
  return b.toString('hex');
}

/** Fixture names given on the command line are re-recorded; with none, all are. Every generator still runs, so the
 * random cases of each fixture do not depend on which ones are recorded. */
const only = process.argv.slice(2);

function save(name: string, description: string, pending: Pending[]): void {
  if (only.length && !only.includes(name)) return;
  const fixture: HwFixture = { description, cases: probe(pending) };
  const json = JSON.stringify(fixture);
  writeFileSync(join(outDir, `${name}.json.gz`), gzipSync(json, { level: 9 }));
  console.log(`${name}: ${fixture.cases.length} cases, ${json.length} bytes of JSON`);
}

const h2 = (n: number) => n.toString(16).padStart(2, '0');

function genArith(): Pending[] {
  const out: Pending[] = [];
  for (let k = 0; k < 2500; k++) {
    const op = pick([0xd8, 0xdc, 0xde, 0xd8, 0xdc, 0xde, 0xda]);
    if (op === 0xda || chance(0.3)) {
      const reg = rnd(8);
      const mop = pick([0xd8, 0xdc, 0xda, 0xde]);
      const mem = mop === 0xd8 ? randomF32() : mop === 0xdc ? randomF64() : mop === 0xda ? randomInt(4) : randomInt(2);
      out.push({ c: h2(mop) + h2((reg << 3) | 3), s: randomState(), m: hex(mem), n: mem.length, f: 0x202 });
    } else {
      const modrm = 0xc0 | rnd(64);
      if (op === 0xde && (modrm & 0xf8) === 0xd8 && modrm !== 0xd9) continue;
      out.push({ c: h2(op) + h2(modrm), s: randomState(), m: '', n: 0, f: 0x202 });
    }
  }
  return out;
}

function genLoadStore(): Pending[] {
  const out: Pending[] = [];
  const forms: Array<[number, number, () => Buffer, number]> = [
    [0xd9, 0, randomF32, 4], [0xd9, 2, () => Buffer.alloc(4, 0x5a), 4], [0xd9, 3, () => Buffer.alloc(4, 0x5a), 4],
    [0xdd, 0, randomF64, 8], [0xdd, 2, () => Buffer.alloc(8, 0x5a), 8], [0xdd, 3, () => Buffer.alloc(8, 0x5a), 8],
    [0xdb, 0, () => randomInt(4), 4], [0xdb, 2, () => Buffer.alloc(4, 0x5a), 4], [0xdb, 3, () => Buffer.alloc(4, 0x5a), 4],
    [0xdb, 5, () => f80Bytes(randomF80()), 10], [0xdb, 7, () => Buffer.alloc(10, 0x5a), 10],
    [0xdf, 0, () => randomInt(2), 2], [0xdf, 2, () => Buffer.alloc(2, 0x5a), 2], [0xdf, 3, () => Buffer.alloc(2, 0x5a), 2],
    [0xdf, 4, randomBcd, 10], [0xdf, 5, () => randomInt(8), 8], [0xdf, 6, () => Buffer.alloc(10, 0x5a), 10],
    [0xdf, 7, () => Buffer.alloc(8, 0x5a), 8],
  ];
  for (let k = 0; k < 2500; k++) {
    const [op, reg, mem, n] = pick(forms);
    const isStore = (op === 0xdb && reg === 7) || reg === 2 || reg === 3 || (op === 0xdf && (reg === 6 || reg === 7));
    let st: V[] | undefined;
    if (isStore && chance(0.5)) {
      // Integers and near-integers exercise rounding and range checks.
      const x = rnd(3) === 0 ? fromDouble((rnd(2) ? -1 : 1) * (rnd(100000) / 4)) : v(rnd(2), 16383 + rnd(66) - 1, J | rand64());
      st = [x];
    }
    out.push({ c: h2(op) + h2((reg << 3) | 3), s: randomState({ st, full: isStore ? undefined : chance(0.2) ? 8 : rnd(8) }), m: hex(mem()), n, f: 0x202 });
  }
  return out;
}

function genRegOps(): Pending[] {
  const out: Pending[] = [];
  const d9 = [0xe0, 0xe1, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xfa, 0xfc, 0xfd, 0xd0];
  for (let k = 0; k < 3000; k++) {
    let code: string;
    const r = rnd(10);
    if (r < 4) code = 'd9' + h2(pick(d9));
    else if (r === 4) code = 'd9' + h2(0xc0 + rnd(32));
    else if (r === 5) code = pick(['da', 'db']) + h2(0xc0 + rnd(32));
    else if (r === 6) code = pick(['db', 'df']) + h2(0xe8 + rnd(16));
    else if (r === 7) code = 'dd' + h2(0xc0 + rnd(48));
    else if (r === 8) code = 'df' + h2(0xc0 + rnd(32));
    else code = pick(['dae9', 'ded9', 'd8d1', 'd8d9', 'dcd2', 'dcda', 'ded3', 'dbe2', 'dbe3']);
    out.push({ c: code, s: randomState({ full: chance(0.5) ? 8 : rnd(9) }), m: '', n: 0, f: randomEflags() });
  }
  return out;
}

function genUndefined(): Pending[] {
  const out: Pending[] = [];
  for (let op = 0xd8; op <= 0xdf; op++) {
    for (let m = 0xc0; m <= 0xff; m++) out.push({ c: h2(op) + h2(m), s: randomState({ full: 3, cw: 0x37f }), m: '', n: 0, f: 0x202 });
  }
  for (const c of ['d90b', 'db23', 'db33', 'dd2b']) out.push({ c, s: randomState({ cw: 0x37f }), m: '', n: 16, f: 0x202 });
  return out;
}

function genTranscendental(): Pending[] {
  const out: Pending[] = [];
  for (let k = 0; k < 1500; k++) {
    const modrm = pick([0xf0, 0xf1, 0xf2, 0xf3, 0xf9, 0xfb, 0xfe, 0xff]);
    let x: V;
    const kind = rnd(6);
    if (kind === 0) x = randomF80();
    else if (modrm === 0xf0) x = v(rnd(2), 16383 - 1 - rnd(70), J | rand64());
    else if (modrm === 0xf9) x = v(rnd(2), 16383 - 2 - rnd(70), J | rand64());
    else if (modrm === 0xf1) x = v(0, 16383 + rnd(80) - 40, J | rand64());
    else x = v(rnd(2), 16383 + rnd(70) - 40, J | rand64());
    const y = kind === 1 ? randomF80() : v(rnd(2), 16383 + rnd(20) - 10, J | rand64());
    out.push({ c: 'd9' + h2(modrm), s: randomState({ st: [x, y], full: chance(0.9) ? 7 : rnd(9) }), m: '', n: 0, f: 0x202 });
  }
  return out;
}

function genEnv(): Pending[] {
  const out: Pending[] = [];
  for (let k = 0; k < 300; k++) {
    const pre = chance(0.4) ? '66' : '';
    const form = rnd(6);
    const size = pre ? 14 : 28;
    if (form === 0) out.push({ c: pre + 'd933', s: randomState({ waiting: false }), m: '', n: size + 4, f: 0x202 });
    else if (form === 1) out.push({ c: pre + 'dd33', s: randomState({ waiting: false }), m: '', n: size + 84, f: 0x202 });
    else if (form === 2) out.push({ c: 'dd3b', s: randomState({ waiting: false }), m: 'a5a5a5a5', n: 4, f: 0x202 });
    else if (form === 3) out.push({ c: 'dfe0', s: randomState({ waiting: false }), m: '', n: 0, f: 0x202 });
    else if (form === 4) out.push({ c: 'd93b', s: randomState({ waiting: false }), m: 'a5a5a5a5', n: 4, f: 0x202 });
    else out.push({ c: 'd92b', s: randomState(), m: hex(Buffer.from([rand32() & 0xff, rand32() & 0xff])), n: 2, f: 0x202 });
  }
  for (let k = 0; k < 200; k++) {
    const pre = chance(0.4) ? '66' : '';
    const size = pre ? 14 : 28;
    const img = Buffer.alloc(size + 80);
    for (let i = 0; i < img.length; i++) img[i] = rand32() & 0xff;
    // Keep the loaded status free of unmasked exceptions so the next waiting instruction does not trap.
    const cwAt = 0;
    img.writeUInt16LE(img.readUInt16LE(cwAt) | 0x3f, cwAt);
    for (let i = 0; i < 8; i++) f80Bytes(randomF80()).copy(img, size + 10 * i);
    const isSave = chance(0.5);
    out.push({ c: pre + (isSave ? 'dd23' : 'd923'), s: randomState(), m: hex(img.subarray(0, isSave ? size + 80 : size)), n: size + 80, f: 0x202 });
  }
  return out;
}

function genFxsave(): Pending[] {
  const out: Pending[] = [];
  for (let k = 0; k < 60; k++) out.push({ c: '0fae03', s: randomState({ waiting: false }), m: hex(Buffer.alloc(512, 0xa5)), n: 512, f: 0x202 });
  return out;
}

function genFxrstor(): Pending[] {
  const out: Pending[] = [];
  for (let k = 0; k < 100; k++) {
    const img = Buffer.alloc(512);
    for (let i = 0; i < 512; i++) img[i] = rand32() & 0xff;
    // Masks stay set so the restored state has no pending exception for the probe's own waiting instructions.
    img.writeUInt16LE(img.readUInt16LE(0) | 0x3f, 0);
    if (chance(0.3)) img.writeUInt16LE(img.readUInt16LE(2) & ~0x80, 2);
    img.writeUInt32LE(0x1f80, 24);
    img.writeUInt32LE(0xffff, 28);
    for (let i = 0; i < 8; i++) f80Bytes(randomF80()).copy(img, 32 + 16 * i);
    out.push({ c: '0fae0b', s: randomState({ waiting: false }), m: hex(img), n: 0, f: 0x202 });
  }
  return out;
}

/** Values at the edges of the integer, BCD, float32 and float64 ranges, in every rounding mode and mask setting. */
function genBoundaries(): Pending[] {
  const out: Pending[] = [];
  const near = (exp: number, sigs: bigint[]): V[] => {
    const vs: V[] = [];
    for (const sig of sigs) for (const s of [0, 1]) vs.push(v(s, exp, sig));
    return vs;
  };
  const edgeSigs = [J, J | 1n, J | (1n << 62n), J | (1n << 62n) | 1n, (J | (1n << 62n)) - 1n + J, -1n, -2n, J | 0x400n, J | 0x401n, J | 0x3ffn, J | 0x800n,
    J | 0xc00n, J | 0x80_0000_0000n, J | 0x7f_ffff_ffffn, J | 0x80_0000_0001n, J | 0x180_0000_0000n];
  const values: V[] = [];
  // Integers: around 2^15, 2^31, 2^63 and 2^64, including fractions just below and above.
  for (const k of [14, 15, 16, 30, 31, 32, 62, 63, 64]) values.push(...near(16383 + k, edgeSigs));
  // BCD: around 10^18 - 1 and 10^18 (exponent 59).
  values.push(...near(16383 + 59, [0xde0b6b3a763ffff0n, 0xde0b6b3a763ffff8n, 0xde0b6b3a76400000n, 0xde0b6b3a763fffffn, 0xde0b6b3a76400001n]));
  // Small values that round to 0 or +-1.
  values.push(...near(16383 - 1, edgeSigs), ...near(16383 - 2, [J, J | 1n]), ...near(16383, [J, J | 1n, -1n]));
  // float32 limits: max (2^127 * (2 - 2^-23)), min normal 2^-126, min denormal 2^-149, halfway points.
  for (const e of [127, 128, -126, -127, -149, -150, -151]) values.push(...near(16383 + e, edgeSigs));
  // float64 limits.
  for (const e of [1023, 1024, -1022, -1023, -1074, -1075, -1076]) values.push(...near(16383 + e, edgeSigs));
  const stores: Array<[string, number]> = [['d913', 4], ['dd13', 8], ['df13', 2], ['db13', 4], ['df3b', 8], ['df33', 10], ['d9fc', 0]];
  for (const x of values) {
    for (const [code, n] of stores) {
      const rc = rnd(4);
      const masks = chance(0.7) ? 0x3f : rand32() & 0x3f;
      const cw = masks | (3 << 8) | (rc << 10);
      out.push({ c: code, s: randomState({ st: [x], full: 8, cw, zeroRest: true }), m: n ? hex(Buffer.alloc(n, 0x5a)) : '', n, f: 0x202 });
    }
  }
  // Precision control on results at the same edges: ST0 + ST1 with ST1 tiny, and ST0 * ST1 near 1.
  for (let k = 0; k < 800; k++) {
    const x = pick(values);
    const y = chance(0.5) ? v(rnd(2), Math.max(1, (x.se & 0x7fff) - 60 - rnd(10)), J | rand64()) : v(0, 16383 - rnd(2), (chance(0.5) ? -1n : J) ^ BigInt(rnd(4)));
    const cw = 0x3f | (pick([0, 2, 3]) << 8) | (rnd(4) << 10);
    out.push({ c: pick(['d8c1', 'd8c9', 'd8f1', 'd8e1', 'd9fa', 'd9fd']), s: randomState({ st: [x, y], full: 8, cw, zeroRest: true }), m: '', n: 0, f: 0x202 });
  }
  return out;
}

writeFileSync(join(outDir, '.gitkeep'), '');
save('arith', 'FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR/FCOM in register and memory forms with random operands, masks, PC and RC', genArith());
save('load-store', 'FLD/FST/FSTP/FILD/FIST/FISTP/FBLD/FBSTP with float32/64/80, int16/32/64 and BCD operands', genLoadStore());
save('reg-ops', 'D9-DF register forms: FLD/FXCH/FSTP/FFREE(P)/FUCOM/FCOMI/FCMOV/FCHS/FABS/FTST/FXAM/constants/FPREM/FSQRT/FSCALE/FRNDINT/FXTRACT', genRegOps());
save('undefined', 'every register form of D8-DF (SIGILL where undefined) and the undefined memory forms', genUndefined());
save('transcendental', 'F2XM1/FYL2X/FPTAN/FPATAN/FYL2XP1/FSINCOS/FSIN/FCOS', genTranscendental());
save('env', 'FNSTENV/FNSAVE/FLDENV/FRSTOR (32- and 16-bit), FNSTSW, FNSTCW, FLDCW', genEnv());
save('fxsave', 'FXSAVE images', genFxsave());
save('fxrstor', 'FXRSTOR of random images (valid MXCSR), state read back with FNSAVE', genFxrstor());
save('boundaries', 'stores to int16/32/64, BCD, float32/64 and FRNDINT at the edges of each range in every RC; PC on edge results', genBoundaries());
