// Differential test of the interpreter against the host CPU, from the command line.
//   node --import tsx test/cpu/cli.ts [--seed N] [--cases N | --long] [--filter RE] [--case KEY:INDEX]
//                                     [--all-repros] [--no-shrink] [--list]
import { OPCODE_TABLE } from '../../src/cpu/table/index.ts';
import { CI_CASES_PER_ROW, DEFAULT_SEED, LONG_CASES_PER_ROW, generateCase, generateSuite, rowKey } from './generate.ts';
import type { GenCase } from './generate.ts';
import { makeHarness, reproducer, runCases, shrink, summarize } from './harness.ts';
import { KNOWN_FAILING } from './known-failures.ts';
import { chooseOracle } from './native.ts';


interface Args {
  seed: number;
  perRow: number;
  filter?: RegExp;
  one?: { key: string; index: number };
  shrink: boolean;
  allRepros: boolean;
  list: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seed: DEFAULT_SEED, perRow: CI_CASES_PER_ROW, shrink: true, allRepros: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const next = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${v} needs a value`);
      return x;
    };
    if (v === '--seed') a.seed = Number(next()) >>> 0;
    else if (v === '--cases') a.perRow = Number(next());
    else if (v === '--long') a.perRow = LONG_CASES_PER_ROW;
    else if (v === '--filter') a.filter = new RegExp(next(), 'i');
    else if (v === '--case') {
      const m = /^(.+):(\d+)$/.exec(next());
      if (!m) throw new Error('--case takes KEY:INDEX, as printed in a reproducer (e.g. 0fbc:17)');
      a.one = { key: m[1], index: Number(m[2]) };
    } else if (v === '--no-shrink') a.shrink = false;
    else if (v === '--all-repros') a.allRepros = true;
    else if (v === '--list') a.list = true;
    else if (v === '--') continue;
    else throw new Error(`unknown option ${v} (see the top of test/cpu/cli.ts)`);
  }
  if (!Number.isFinite(a.perRow) || a.perRow < 1) throw new Error('--cases takes a positive number');
  return a;
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  const o = chooseOracle();
  if (!o.ok) {
    console.error(`cpu-diff: ${o.reason}`);
    return 2;
  }
  console.log(`cpu-diff: oracle ${o.oracle.describe}`);
  const h = makeHarness(o.oracle);
  const lowMapped = h.native.lowMapped;
  let cases: GenCase[];
  let rowKeys: string[];
  if (args.one) {
    const row = OPCODE_TABLE.find((e) => rowKey(e) === args.one!.key);
    if (!row) throw new Error(`no opcode table row ${args.one.key}`);
    const c = generateCase(row, args.one.index, { seed: args.seed, lowMapped });
    if (!c) throw new Error(`row ${args.one.key} has no generated cases`);
    cases = [c];
    rowKeys = [args.one.key];
  } else {
    const filter = args.filter;
    const suite = generateSuite({
      seed: args.seed, lowMapped, perRow: args.perRow,
      filter: filter ? (e) => filter.test(rowKey(e)) || filter.test(e.mnemonic) : undefined,
    });
    cases = suite.cases;
    rowKeys = suite.rows.map(rowKey);
    if (args.list) {
      for (const s of suite.skipped) console.log(`skipped ${s.key} ${s.mnemonic}: ${s.reason}`);
    }
  }
  const t0 = Date.now();
  const reports = runCases(h, cases, (n) => {
    if (cases.length > 4000) process.stderr.write(`\r${n}/${cases.length} cases`);
  });
  if (cases.length > 4000) process.stderr.write('\n');
  const s = summarize(reports, rowKeys);
  const failing = [...s.failingRows.keys()];
  for (const key of failing) {
    const list = s.failingRows.get(key)!;
    const known = KNOWN_FAILING[key];
    const total = reports.filter((r) => r.c.group === key).length;
    const what = key === list[0].c.key ? `${key} ${list[0].c.mnemonic}` : key;
    console.log(`FAIL ${what}: ${list.length} of ${total} cases disagree${known ? ` (known: ${known})` : ''}`);
    const shown = args.allRepros || args.one ? list : [list[0]];
    for (const r of shown) console.log(reproducer(args.shrink ? shrink(h, r) : r, args.seed));
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  for (const [why, n] of s.notCompared) console.log(`cpu-diff: ${n} cases not compared on this oracle: ${why}`);
  console.log(`cpu-diff: ${s.cases} cases, ${s.rows} opcodes covered, ${s.disagreements} disagreements in ${failing.length} opcodes (seed ${args.seed}, ${secs} s)`);
  return s.disagreements === 0 ? 0 : 1;
}

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
process.exitCode = main();
