// Records hw-integer.json: runs cases.ts on this machine's CPU through probe.c (dev tool).
//   gcc -m32 -O1 -o /tmp/probe test/unit/cpu/hw/probe.c
//   node --import tsx test/unit/cpu/hw/record.ts /tmp/probe [--check] [filter]
// --check compares with the interpreter instead of writing the fixture; --seed=N (with
// --check) tries other random cases.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { caseMemory, FLAG_MASK, generateCases, memDigest, type HwCase, type HwResult } from './cases.ts';
import { diffResults, emulateCase, encodeRow } from './emulate.ts';
import { TestMachine } from '../run-code.ts';

const [probe, ...rest] = process.argv.slice(2);
const check = rest.includes('--check');
const filter = rest.find((a) => !a.startsWith('--'));
const seedArg = rest.find((a) => a.startsWith('--seed='));
const seed = seedArg ? Number(seedArg.slice(7)) : 1;
const cases = generateCases(seed).filter((c) => !filter || c.name.includes(filter));
if (!check && seed !== 1) throw new Error('the fixture is recorded with seed 1; use --seed with --check');
if (!check && filter) throw new Error('record all cases (no filter) when writing the fixture');

function hexOf(b: Uint8Array): string {
  return b.length ? Buffer.from(b).toString('hex') : '-';
}

function runOnHardware(list: HwCase[]): HwResult[] {
  const input = list.map((c) => `${c.code} ${c.regs.map((v) => (v >>> 0).toString(16)).join(' ')} ${c.eflags.toString(16)} ${hexOf(caseMemory(c.mem))} ${c.outLen.toString(16)}`).join('\n') + '\n';
  const p = spawnSync(probe, { input, maxBuffer: 1 << 30 });
  if (p.status !== 0) throw new Error(`probe failed: ${p.stderr}`);
  const lines = p.stdout.toString().trim().split('\n');
  if (lines.length !== list.length) throw new Error(`probe returned ${lines.length} lines for ${list.length} cases`);
  return lines.map((line) => {
    const f = line.split(' ');
    const n = f.slice(0, 13).map((x) => parseInt(x, 16));
    const vector = n[9] === 0xff ? -1 : n[9];
    const memHex = f[13] === '-' ? '' : f[13];
    return {
      regs: n.slice(0, 8).map((v) => v >>> 0),
      eflags: n[8] & FLAG_MASK,
      vector,
      eipOff: vector < 0 ? 0 : n[10],
      errorCode: vector < 0 ? 0 : n[11],
      cr2: vector === 14 ? n[12] >>> 0 : 0,
      mem: memDigest(Buffer.from(memHex, 'hex')),
    };
  });
}

const results = runOnHardware(cases);
if (check) {
  const m = new TestMachine();
  let bad = 0;
  const byName = new Map<string, number>();
  cases.forEach((c, i) => {
    const got = emulateCase(m, c);
    const d = diffResults(results[i], got);
    if (d) {
      bad++;
      byName.set(c.name, (byName.get(c.name) ?? 0) + 1);
      if ((byName.get(c.name) ?? 0) <= 3) console.log(`${c.name} ${c.code} regs=${c.regs.map((v) => (v >>> 0).toString(16)).join(',')} fl=${c.eflags.toString(16)}: ${d}`);
    }
  });
  console.log(`${cases.length - bad}/${cases.length} match`);
  for (const [n, k] of byName) console.log(`  ${n}: ${k}`);
} else {
  const url = new URL('../fixtures/hw-integer.json', import.meta.url);
  const rows = cases.map((c, i) => encodeRow(c, results[i]));
  const text = '{"recordedBy":"test/unit/cpu/hw/record.ts","seed":1,"rows":[\n' + rows.map((r) => JSON.stringify(r)).join(',\n') + '\n]}\n';
  writeFileSync(url, text);
  console.log(`wrote ${results.length} results`);
}
