import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { EFLAGS_COMPARED, describeImage, replay } from './replay.ts';
import type { HwCase, HwFixture } from './replay.ts';

const here = dirname(fileURLToPath(import.meta.url));

export function loadFixture(name: string): HwFixture {
  return JSON.parse(gunzipSync(readFileSync(join(here, '..', 'fixtures', `${name}.json.gz`))).toString()) as HwFixture;
}

/**
 * FXSAVE images are compared except where this machine (AMD) differs by design from the emulated P6: the XMM area
 * (SSE is not emulated), MXCSR_MASK (we report 0xFFFF), and FOP/FIP/FCS/FDP/FDS, which AMD stores as zero unless an
 * exception is pending (FSW.ES); the emulation always stores them, as Intel CPUs do.
 */
function maskFxsave(emu: string, hw: string): string {
  const e = Buffer.from(emu, 'hex');
  const h = Buffer.from(hw, 'hex');
  h.copy(e, 160, 160, 288);
  h.copy(e, 28, 28, 32);
  if (!(h.readUInt16LE(2) & 0x80)) h.copy(e, 6, 6, 24);
  return e.toString('hex');
}

/** Differences between the emulator and the recorded hardware result, or [] when they agree. */
export function diffCase(c: HwCase): string[] {
  let r;
  try {
    r = replay(c);
  } catch (e) {
    return [`threw ${(e as Error).stack ?? String(e)}`];
  }
  const out: string[] = [];
  if (r.sig !== c.sig) out.push(`signal ${r.sig} != hw ${c.sig}`);
  if (c.sig !== 0) return out;
  if (r.o !== c.o) out.push(`state\n   emu ${describeImage(r.o)}\n   hw  ${describeImage(c.o)}`);
  const om = c.c === '0fae03' ? maskFxsave(r.om, c.om) : r.om;
  if (om !== c.om) out.push(`memory emu ${r.om} hw ${c.om}`);
  if ((r.of & EFLAGS_COMPARED) !== (c.of & EFLAGS_COMPARED)) out.push(`eflags emu ${r.of.toString(16)} hw ${c.of.toString(16)}`);
  if ((r.ax & 0xffff) !== (c.ax & 0xffff)) out.push(`ax emu ${r.ax.toString(16)} hw ${c.ax.toString(16)}`);
  return out;
}

/**
 * The transcendental instructions are not bit-exact (docs/fpu.md): their results may differ from this CPU's by one
 * unit in the last place, and C1 (the round-up indicator) with them. Returns the differences beyond that.
 */
export function diffCaseWithinUlp(c: HwCase): string[] {
  const d = diffCase(c);
  if (d.length === 0) return d;
  const r = replay(c);
  const e = Buffer.from(r.o, 'hex');
  const h = Buffer.from(c.o, 'hex');
  for (let i = 0; i < 8; i++) {
    const at = 28 + 10 * i;
    if (e.readUInt16LE(at + 8) !== h.readUInt16LE(at + 8)) continue;
    const a = e.readBigUInt64LE(at);
    const b = h.readBigUInt64LE(at);
    if (a - b === 1n || b - a === 1n) h.copy(e, at, at, at + 8);
  }
  e.writeUInt16LE((e.readUInt16LE(4) & ~0x200) | (h.readUInt16LE(4) & 0x200), 4);
  if (e.toString('hex') === c.o && r.om === c.om && r.sig === c.sig) return [];
  return d;
}

export function formatCase(c: HwCase, diffs: string[]): string {
  return `${c.c} in: ${describeImage(c.s)} mem=${c.m} efl=${c.f.toString(16)}\n  ${diffs.join('\n  ')}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const name = process.argv[2] ?? 'arith';
  const limit = Number(process.argv[3] ?? 10);
  const filter = process.argv[4];
  const loose = process.argv[5] === 'ulp';
  const fx = loadFixture(name);
  let bad = 0;
  const byOp = new Map<string, number>();
  for (const c of fx.cases) {
    if (filter && !c.c.startsWith(filter)) continue;
    const d = loose ? diffCaseWithinUlp(c) : diffCase(c);
    if (d.length) {
      bad++;
      byOp.set(c.c, (byOp.get(c.c) ?? 0) + 1);
      if (bad <= limit) console.log(formatCase(c, d));
    }
  }
  console.log(`${name}: ${bad} of ${fx.cases.length} differ`);
  console.log([...byOp.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, n]) => `${k}:${n}`).join(' '));
}
