// npm run lockstep: the jit and the interpreter side by side over a whole boot of a guest
// and the bench workloads, compared after every slice (test/lockstep/pair.ts).
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { runLockstep } from './pair.ts';
import { benchScript, defaultGuest } from './guest-script.ts';

const USAGE = `usage: npm run lockstep -- [options]

Boots a guest on the jit and on the interpreter in lockstep, runs the bench workloads at
its shell, and compares the two machines after every slice: the CPU state each time, RAM
and devices every --ram-every slices. Prints the first divergence (replayed and stepped
to the instruction) or that there was none. Exit status 0: no divergence; 1: divergence
or a failed run; 2: bad options.

  --kernel PATH      bzImage (default: the default guest's; its initramfs either way)
  --scale X          workload size, 1 = bench:guest's (default 0.05)
  --threshold N      the jit's translation threshold (default: the engine's)
  --ram-every N      compare RAM and devices every N slices (default 16)
  -h, --help         this text`;

let values;
try {
  ({ values } = parseArgs({ options: { kernel: { type: 'string' }, scale: { type: 'string' }, threshold: { type: 'string' }, 'ram-every': { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
} catch (e) {
  console.error(`${(e as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const num = (name: string, text: string | undefined, dflt: number | undefined) => {
  if (text === undefined) return dflt;
  const v = Number(text);
  if (!(v > 0)) {
    console.error(`--${name} ${text} is not a positive number\n\n${USAGE}`);
    process.exit(2);
  }
  return v;
};
const scale = num('scale', values.scale, 0.05)!;
const threshold = num('threshold', values.threshold, undefined);
const ramEvery = num('ram-every', values['ram-every'], 16);
if (values.kernel !== undefined && !existsSync(values.kernel)) {
  console.error(`kernel ${values.kernel} does not exist`);
  process.exit(2);
}
const r = await runLockstep(defaultGuest(values.kernel), benchScript(scale), {
  jit: threshold === undefined ? {} : { threshold },
  ramEvery,
  progress: (e) => console.log(e),
});
console.log(`${r.end}: ${r.slices} slices, ${r.instructions} instructions, ${((100 * r.jit.nativeInstructions) / r.instructions).toFixed(1)}% of them native on the jit (${r.jit.translated} blocks, ${r.jit.modules} modules), ${r.hostSeconds.toFixed(1)} s`);
if (r.divergence) {
  const d = r.divergence;
  console.log(`\nDIVERGENCE after slice ${d.slice} (${d.instructions} instructions):\n  ${d.differences.join('\n  ')}`);
  if (d.narrowed && 'failed' in d.narrowed) console.log(`narrowing: ${d.narrowed.failed}`);
  else if (d.narrowed) console.log(`first difference ${d.narrowed.instruction}:\n  ${d.narrowed.differences.join('\n  ')}`);
  console.log(`console tail:\n${d.consoleTail}`);
  process.exit(1);
}
process.exit(r.end === 'the script finished' ? 0 : 1);
