// Guest workload benchmark: boots the same kernel and initramfs in LilyVM, QEMU (TCG) and v86,
// runs the same shell workload in each, and prints the times side by side.
import { createHash } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GuestStoppedError, killAllChildren, StepTimeoutError, type GuestConsole } from './console.ts';
import { startVm, VM_LABELS, VM_NAMES, vmVersions, type GuestSpec, type VmName } from './vms.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BANNER = /LilyVM guest ready/;
const PROMPT = / # /;
const PROMPT_TIMEOUT_MS = 60_000;
const FILE_BYTES = 16 * 1024 * 1024;
/** Where guest/debian-kernel.sh puts Debian's 686 kernel. */
const DEBIAN_DIR = join(REPO_ROOT, 'guest', 'build', 'debian');

type GuestId = 'default' | 'debian';
const GUEST_IDS: readonly GuestId[] = ['default', 'debian'];

interface Guest {
  id: GuestId;
  label: string;
  spec: GuestSpec;
}

type StepId = 'boot' | 'loop' | 'dd' | 'md5sum' | 'gzip' | 'fork';

interface Step {
  id: StepId;
  label: string;
  command?: string;
  /** A step whose result this one reads; run untimed first when it was not selected. */
  needs?: StepId;
}

const STEPS: readonly Step[] = [
  { id: 'boot', label: 'boot to "LilyVM guest ready"' },
  { id: 'loop', label: 'shell loop, 200,000 iterations', command: 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' },
  { id: 'dd', label: 'dd 16 MB /dev/urandom to tmpfs', command: 'dd if=/dev/urandom of=/tmp/f bs=1M count=16 2>/dev/null' },
  { id: 'md5sum', label: 'md5sum of the 16 MB file', command: 'md5sum /tmp/f >/dev/null', needs: 'dd' },
  { id: 'gzip', label: 'gzip -c of the 16 MB file', command: 'gzip -c /tmp/f >/dev/null', needs: 'dd' },
  { id: 'fork', label: '200 fork+exec of /bin/true', command: 'i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done' },
];
const STEP_IDS = STEPS.map((s) => s.id);

type Cell =
  | { kind: 'seconds'; seconds: number; cpuSeconds: number | undefined }
  | { kind: 'timeout' }
  | { kind: 'failed' }
  | { kind: 'not run' };

interface VmResult {
  cells: Map<StepId, Cell>;
  notes: string[];
}

const HELP = `Usage: npm run bench:guest -- [options]

Boots guest/out/bzImage and its initramfs in LilyVM (engine jit, then interp),
qemu-system-i386 (TCG) and v86, one VM after the other, times the same shell workload in each from the host, and
prints a table of seconds and ratios. Then the same for Debian's stock 686 kernel with
the same initramfs, when guest/debian-kernel.sh has fetched it. Figures only: the exit
status does not depend on the times.

Options:
  --guests LIST      guests, comma-separated: default (guest/out/), debian (Debian's
                     linux-image-686 from guest/build/debian/, fetched by
                     guest/debian-kernel.sh) (default: both, or only default while
                     the Debian kernel is not there)
  --only LIST        VMs to run, comma-separated: ${VM_NAMES.join(',')} (default: all)
  --steps LIST       steps to time, comma-separated: ${STEP_IDS.join(',')} (default: all;
                     boot always runs; md5sum and gzip create the file untimed without dd)
  --timeout SECONDS  limit for each step, boot included (default 600); a step over it
                     reports "timeout", is interrupted with Ctrl-C, and the run goes on
  --repeat N         boot and run each VM N times and report the median (default 1)
  --memory MIB       guest RAM for every VM, in MiB (default 256)
  --kernel FILE      the default guest's bzImage (default: lilyvm run's, guest/out/bzImage)
  --initrd FILE      initramfs of both guests (default: lilyvm run's, in guest/out/)
  --append TEXT      kernel command line of both guests (default: lilyvm run's)
  --seabios DIR      SeaBIOS for v86: DIR/bios.bin and DIR/vgabios-stdvga.bin
                     (default /usr/share/seabios, Debian package seabios)
  -h, --help         show this help`;

interface Options {
  vms: VmName[];
  steps: Step[];
  timeoutMs: number;
  repeat: number;
  guests: Guest[];
  /** Why a guest that was not asked for is left out. */
  skipped: string[];
}

class UsageError extends Error {}

/** A comma-separated list for option --`option`, each item one of `allowed` (a `what`). */
function parseList<T extends string>(text: string, allowed: readonly T[], what: string, option: string): T[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new UsageError(`Unknown ${what} "${item}": choose from ${allowed.join(', ')}`);
  }
  if (items.length === 0) throw new UsageError(`--${option} needs at least one of ${allowed.join(', ')}`);
  return items as T[];
}

interface GuestDefaults {
  kernelPath: string;
  initrdPath: string;
  append: string;
  /** Set when the LilyVM library did not load and these are the bench's own copies. */
  warning?: string;
}

/** Every VM boots the guest as `lilyvm run` does, so the defaults come from the library. */
async function guestDefaults(): Promise<GuestDefaults> {
  try {
    const library = await import('../../src/index.ts');
    return { kernelPath: library.DEFAULT_KERNEL, initrdPath: library.DEFAULT_INITRD, append: library.DEFAULT_APPEND };
  } catch (e) {
    return {
      kernelPath: join(REPO_ROOT, 'guest', 'out', 'bzImage'),
      initrdPath: join(REPO_ROOT, 'guest', 'out', 'initramfs.cpio.gz'),
      append: 'console=ttyS0 tsc=reliable panic=-1',
      warning: `the LilyVM library does not load (${oneLine((e as Error).message)}); using the bench's copy of its guest defaults`,
    };
  }
}

function parseOptions(argv: string[], defaults: GuestDefaults): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      guests: { type: 'string' },
      only: { type: 'string' },
      steps: { type: 'string' },
      timeout: { type: 'string' },
      repeat: { type: 'string' },
      memory: { type: 'string' },
      kernel: { type: 'string' },
      initrd: { type: 'string' },
      append: { type: 'string' },
      seabios: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const positive = (name: string, text: string | undefined, dflt: number): number => {
    if (text === undefined) return dflt;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${name} "${text}" is not a positive number`);
    return value;
  };
  const vmSet = new Set(values.only === undefined ? VM_NAMES : parseList(values.only, VM_NAMES, 'VM', 'only'));
  const stepSet = new Set(values.steps === undefined ? STEP_IDS : parseList(values.steps, STEP_IDS, 'step', 'steps'));
  stepSet.add('boot');
  const spec: GuestSpec = {
    kernelPath: values.kernel ?? defaults.kernelPath,
    initrdPath: values.initrd ?? defaults.initrdPath,
    append: values.append ?? defaults.append,
    memoryMiB: Math.round(positive('memory', values.memory, 256)),
    seabiosDir: values.seabios ?? '/usr/share/seabios',
  };
  for (const [what, path] of [['Kernel', spec.kernelPath], ['Initrd', spec.initrdPath]] as const) {
    if (!isFile(path)) throw new UsageError(`${what} ${path} does not exist: build the guest (guest/build.sh) or pass --${what.toLowerCase()}`);
  }
  const debianKernel = findDebianKernel();
  const fetchHint = 'fetch it with guest/debian-kernel.sh';
  const guestSet = new Set(values.guests === undefined ? GUEST_IDS : parseList(values.guests, GUEST_IDS, 'guest', 'guests'));
  const skipped: string[] = [];
  if (debianKernel === undefined && guestSet.has('debian')) {
    if (values.guests !== undefined) throw new UsageError(`No Debian kernel in ${relative(process.cwd(), DEBIAN_DIR)}: ${fetchHint}`);
    guestSet.delete('debian');
    skipped.push(`The Debian 686 kernel guest did not run: no kernel in ${relative(process.cwd(), DEBIAN_DIR)} (${fetchHint}).`);
  }
  const guests: Guest[] = [];
  if (guestSet.has('default')) guests.push({ id: 'default', label: 'default guest', spec });
  if (debianKernel !== undefined && guestSet.has('debian')) {
    guests.push({ id: 'debian', label: `Debian ${debianKernel.name.replace(/^vmlinuz-/, '')} kernel`, spec: { ...spec, kernelPath: debianKernel.path } });
  }
  return {
    vms: VM_NAMES.filter((v) => vmSet.has(v)),
    steps: STEPS.filter((s) => stepSet.has(s.id)),
    timeoutMs: positive('timeout', values.timeout, 600) * 1000,
    repeat: Math.round(positive('repeat', values.repeat, 1)),
    guests,
    skipped,
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The kernel guest/debian-kernel.sh fetched (the newest, if there are several). */
function findDebianKernel(): { name: string; path: string } | undefined {
  let names: string[];
  try {
    names = readdirSync(DEBIAN_DIR).filter((n) => n.startsWith('vmlinuz-')).sort();
  } catch {
    return undefined;
  }
  const name = names.at(-1);
  return name === undefined ? undefined : { name, path: join(DEBIAN_DIR, name) };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function consoleTail(guest: GuestConsole): string {
  const text = guest.tail(1500).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
  return text.split('\n').slice(-12).map((line) => `    | ${line}`).join('\n');
}

let markerCount = 0;

/** Type `command` followed by an end marker; resolves when the marker appears, then waits for the prompt. */
async function runTimed(guest: GuestConsole, command: string, timeoutMs: number): Promise<{ seconds: number; cpuSeconds: number | undefined; status: number }> {
  const n = ++markerCount;
  // printf builds the marker, so the terminal's echo of the command line never matches it.
  const marker = new RegExp(`__done_${n}_(\\d+)__`);
  const startMs = performance.now();
  const startCpu = guest.cpuSeconds();
  guest.type(`${command}; printf '__done_%s_%s__\\n' ${n} $?\n`);
  const text = await guest.waitFor(marker, timeoutMs);
  const seconds = (performance.now() - startMs) / 1000;
  const endCpu = guest.cpuSeconds();
  await guest.waitFor(PROMPT, PROMPT_TIMEOUT_MS);
  const cpuSeconds = startCpu !== undefined && endCpu !== undefined ? endCpu - startCpu : undefined;
  return { seconds, cpuSeconds, status: Number(marker.exec(text)![1]) };
}

/** After a timeout: interrupt the command; true when the shell is back. */
async function interrupt(guest: GuestConsole): Promise<boolean> {
  guest.type('\x03');
  try {
    await guest.waitFor(PROMPT, 30_000);
    return true;
  } catch {
    return false;
  }
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function benchVm(name: VmName, options: Options, guestSpec: GuestSpec, guestLabel: string): Promise<VmResult> {
  const label = `${VM_LABELS[name]} (${guestLabel})`;
  const cells = new Map<StepId, Cell>();
  const notes: string[] = [];
  const markRest = (kind: 'failed' | 'not run') => {
    for (const step of options.steps) if (!cells.has(step.id)) cells.set(step.id, { kind });
  };
  log(`${label}: starting`);
  let guest: GuestConsole;
  try {
    guest = await startVm(name, guestSpec);
  } catch (e) {
    notes.push(`${label} did not start: ${oneLine((e as Error).message)}`);
    markRest('failed');
    return { cells, notes };
  }
  const fail = (step: string, e: unknown): void => {
    if (e instanceof StepTimeoutError) notes.push(`${label} ${step}: ${e.message}`);
    else if (e instanceof GuestStoppedError) notes.push(`${label} ${step}: ${oneLine(e.message)}`);
    else notes.push(`${label} ${step}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    notes.push(`${label} console tail:\n${consoleTail(guest)}`);
  };
  try {
    let phase = 'boot';
    try {
      await guest.waitFor(BANNER, options.timeoutMs);
      const seconds = (performance.now() - guest.startedAtMs) / 1000;
      cells.set('boot', { kind: 'seconds', seconds, cpuSeconds: guest.cpuSeconds() });
      log(`${label}: boot ${seconds.toFixed(2)} s`);
      phase = 'shell prompt after the banner';
      await guest.waitFor(PROMPT, PROMPT_TIMEOUT_MS);
      await runTimed(guest, 'true', PROMPT_TIMEOUT_MS);
    } catch (e) {
      if (!cells.has('boot')) cells.set('boot', { kind: e instanceof StepTimeoutError ? 'timeout' : 'failed' });
      fail(phase, e);
      log(`${label}: ${phase} failed`);
      markRest('not run');
      return { cells, notes };
    }
    const done = new Set<StepId>(['boot']);
    for (const step of options.steps) {
      if (step.command === undefined) continue;
      if (step.needs !== undefined && !done.has(step.needs)) {
        const setup = STEPS.find((s) => s.id === step.needs)!;
        log(`${label}: ${setup.id} (setup, untimed)`);
        try {
          const r = await runTimed(guest, setup.command!, options.timeoutMs);
          if (r.status === 0) done.add(setup.id);
        } catch (e) {
          fail(`${setup.id} (setup)`, e);
          if (!(e instanceof StepTimeoutError) || !(await interrupt(guest))) break;
        }
        if (!done.has(setup.id)) {
          cells.set(step.id, { kind: 'failed' });
          continue;
        }
      }
      log(`${label}: ${step.id} ...`);
      try {
        const r = await runTimed(guest, step.command, options.timeoutMs);
        if (r.status !== 0) {
          cells.set(step.id, { kind: 'failed' });
          notes.push(`${label} ${step.id}: exit status ${r.status}`);
          continue;
        }
        cells.set(step.id, { kind: 'seconds', seconds: r.seconds, cpuSeconds: r.cpuSeconds });
        done.add(step.id);
        log(`${label}: ${step.id} ${r.seconds.toFixed(2)} s`);
        if (step.id === 'dd') {
          const check = await runTimed(guest, `[ "$(stat -c %s /tmp/f)" = ${FILE_BYTES} ]`, PROMPT_TIMEOUT_MS);
          if (check.status !== 0) notes.push(`${label} dd: /tmp/f is not ${FILE_BYTES} bytes`);
        }
      } catch (e) {
        const timedOut = e instanceof StepTimeoutError;
        cells.set(step.id, { kind: timedOut ? 'timeout' : 'failed' });
        fail(step.id, e);
        log(`${label}: ${step.id} ${timedOut ? 'timeout' : 'failed'}`);
        if (!timedOut || !(await interrupt(guest))) break;
      }
    }
    markRest('not run');
    const engine = guest.engineNote?.();
    if (engine) notes.push(`${label}: ${engine}`);
    return { cells, notes };
  } finally {
    await guest.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One result from repeated runs: the median where every run succeeded, else the first failure. */
function combineRuns(label: string, steps: readonly Step[], runs: VmResult[]): VmResult {
  if (runs.length === 1) return runs[0]!;
  const cells = new Map<StepId, Cell>();
  const spreads: string[] = [];
  for (const step of steps) {
    const all = runs.map((r) => r.cells.get(step.id) ?? { kind: 'not run' as const });
    const failure = all.find((c) => c.kind !== 'seconds');
    if (failure !== undefined) {
      cells.set(step.id, failure);
    } else {
      const measured = all.filter((c) => c.kind === 'seconds');
      const cpu = measured.map((c) => c.cpuSeconds);
      cells.set(step.id, {
        kind: 'seconds',
        seconds: median(measured.map((c) => c.seconds)),
        cpuSeconds: cpu.every((c) => c !== undefined) ? median(cpu) : undefined,
      });
    }
    spreads.push(`${step.id} ${all.map((c) => formatCell(c, 'wall')).join('/')}`);
  }
  return { cells, notes: [`${label} runs: ${spreads.join(', ')}`, ...new Set(runs.flatMap((r) => r.notes))] };
}

type Measure = 'wall' | 'cpu';

function cellSeconds(cell: Cell | undefined, measure: Measure): number | undefined {
  if (cell?.kind !== 'seconds') return undefined;
  return measure === 'wall' ? cell.seconds : cell.cpuSeconds;
}

function formatCell(cell: Cell | undefined, measure: Measure): string {
  if (cell === undefined) return '-';
  if (cell.kind !== 'seconds') return cell.kind;
  return cellSeconds(cell, measure)?.toFixed(2) ?? '?';
}

function formatRatio(a: Cell | undefined, b: Cell | undefined, measure: Measure): string {
  const x = cellSeconds(a, measure);
  const y = cellSeconds(b, measure);
  if (x === undefined || y === undefined || y === 0) return '-';
  const ratio = x / y;
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(2)}x`;
}

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function hostCpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1]!.trim();
  } catch {}
  return cpus()[0]?.model ?? 'unknown CPU';
}

async function main(argv: string[]): Promise<number> {
  const defaults = await guestDefaults();
  if (defaults.warning) log(`bench:guest: ${defaults.warning}`);
  let options: Options | undefined;
  try {
    options = parseOptions(argv, defaults);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bench:guest: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
  if (options === undefined) {
    process.stdout.write(HELP + '\n');
    return 0;
  }

  const versions = vmVersions();
  const loadAtStart = loadavg();
  const results = new Map<GuestId, Map<VmName, VmResult>>();
  for (const guest of options.guests) {
    const byVm = new Map<VmName, VmResult>();
    for (const name of options.vms) {
      const runs: VmResult[] = [];
      for (let i = 0; i < options.repeat; i++) runs.push(await benchVm(name, options, guest.spec, guest.label));
      byVm.set(name, combineRuns(`${VM_LABELS[name]} (${guest.label})`, options.steps, runs));
    }
    results.set(guest.id, byVm);
  }
  const loadAtEnd = loadavg();

  const first = options.guests[0]!.spec;
  const show = (path: string) => {
    const sha = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12);
    return `${relative(process.cwd(), path) || path} (sha256 ${sha})`;
  };
  const lines = [
    `Guest workload benchmark, ${new Date().toISOString()}`,
    `host: ${hostCpuModel()}, ${cpus().length} cores, Node.js ${process.version}, load average ${loadAtStart[0]!.toFixed(2)} at start, ${loadAtEnd[0]!.toFixed(2)} at end`,
    ...options.guests.map((g) => `${g.label}: ${show(g.spec.kernelPath)} + ${show(g.spec.initrdPath)}, ${g.spec.memoryMiB} MiB, append "${g.spec.append}"`),
    ...options.skipped,
    `runs: ${options.repeat === 1 ? '1 per VM' : `${options.repeat} per VM, medians shown`}`,
    ...options.vms.map((v) => `${VM_LABELS[v]}: ${versions[v]}${v === 'jit' || v === 'interp' ? `, engine ${v}` : v === 'qemu' ? ', -accel tcg -cpu pentium2' : ', JIT, SeaBIOS from ' + first.seabiosDir}`),
    '',
  ];
  for (const guest of options.guests) {
    const byVm = results.get(guest.id)!;
    const get = (vm: VmName, step: StepId) => byVm.get(vm)?.cells.get(step);
    const table = (measure: Measure) => {
      const rows = options.steps.map((step) => [
        step.label,
        ...VM_NAMES.map((vm) => formatCell(get(vm, step.id), measure)),
        formatRatio(get('jit', step.id), get('interp', step.id), measure),
        formatRatio(get('jit', step.id), get('qemu', step.id), measure),
        formatRatio(get('jit', step.id), get('v86', step.id), measure),
        formatRatio(get('interp', step.id), get('v86', step.id), measure),
      ]);
      return markdownTable(['step', 'jit s', 'interp s', 'QEMU s', 'v86 s', 'jit/interp', 'jit/QEMU', 'jit/v86', 'interp/v86'], rows);
    };
    lines.push(`${guest.label}: wall-clock seconds, from the host:`, '', table('wall'), '');
    lines.push(`${guest.label}: host CPU seconds used by the VM in the same steps (all its threads; less sensitive to other load on the host):`, '', table('cpu'), '');
  }
  const notes = [...results.values()].flatMap((byVm) => [...byVm.values()].flatMap((r) => r.notes));
  if (notes.length > 0) lines.push('Notes:', ...notes.map((n) => `- ${n}`));
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}
process.exit(await main(process.argv.slice(2)));
