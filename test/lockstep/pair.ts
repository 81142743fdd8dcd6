// Lockstep over a whole machine: two LilyVM machines, one on the jit and one on the
// interpreter, built from the same guest with the same deterministic host (a frozen
// clock, virtual time from retired instructions only, the same entropy), are run slice
// by slice with the same console input at the same points. After every slice their CPU
// states must be equal, and every few slices their RAM and device states. At the first
// difference the run is replayed from the start (it is deterministic) and the slice that
// differed is stepped one instruction at a time, to name the first instruction after
// which the two machines differ.
import '../../src/engines/index.ts';
import { buildMachine, type Machine, type StopReason } from '../../src/machine/machine.ts';
import type { CpuState } from '../../src/cpu/state.ts';
import type { JitOptions, JitStats } from '../../src/engines/jit/jit-vcpu.ts';

export interface LockstepGuest {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  memoryBytes: number;
}

/** What to type at the guest once its console shows `ready`, one step after the other. */
export interface Script {
  ready: RegExp;
  steps: ScriptStep[];
}

export interface ScriptStep {
  label: string;
  /** Typed as is (include the newline). */
  input: string;
  /** What shows on the console (after the input was typed) when the step is done. */
  done: RegExp;
}

export interface LockstepOptions {
  /** The jit's settings; default: the engine's threshold, synchronous compiles (a replay then does the same). */
  jit?: JitOptions;
  /** RAM and device states are compared every this many slices (CPU state after every slice). Default 16. */
  ramEvery?: number;
  /** Give up after this many instructions (default: no limit). */
  maxInstructions?: number;
  /** Called when a script step finishes. */
  progress?(event: string): void;
}

export interface Divergence {
  /** The slice after which a difference was seen (0-based), and the interpreter's instruction count and virtual time then. */
  slice: number;
  instructions: number;
  timeNs: number;
  /** The differences: CPU fields, the first differing RAM bytes, device states. */
  differences: string[];
  /** When stepping narrowed it down: the instruction count after which the first difference appears, and the instruction (its trace line on the interpreter). */
  narrowed?: { instructions: number; instruction: string; differences: string[] } | { failed: string };
  consoleTail: string;
}

export interface LockstepResult {
  divergence?: Divergence;
  /** How the guest stopped (both the same), or why the run ended. */
  end: string;
  slices: number;
  instructions: number;
  /** Per script step: the instructions it took. */
  steps: { label: string; instructions: number }[];
  jit: JitStats;
  hostSeconds: number;
  console: string;
}

const frozenClock = { wallTimeMs: () => 1_767_225_600_000, monotonicNs: () => 0 };

/** A xorshift stream, the same on both machines: the guest's entropy (virtio-rng). */
function entropySource(): (buf: Uint8Array) => void {
  let x = 0x9e3779b9;
  return (buf) => {
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      buf[i] = x & 0xff;
    }
  };
}

class Side {
  readonly machine: Machine;
  text = '';

  constructor(guest: LockstepGuest, engine: 'jit' | 'interp', jit: JitOptions) {
    this.machine = buildMachine(
      {
        memoryBytes: guest.memoryBytes,
        engine,
        engineOptions: engine === 'jit' ? { compile: 'sync', ...jit } : undefined,
        disks: [],
        images: { kernel: guest.kernel, kernelName: 'kernel', initrd: guest.initrd, initrdName: 'initrd', cmdline: guest.cmdline },
      },
      {
        clock: frozenClock,
        realtime: false,
        consoleOut: (bytes) => { this.text += Buffer.from(bytes).toString('latin1'); },
        entropy: entropySource(),
        warn: () => {},
      },
    );
  }

  cpu(): CpuState {
    return this.machine.vcpu.saveState() as CpuState;
  }
}

/** The CPU fields that differ between a (jit) and b (interp), as "field: a vs b". */
function cpuDifferences(a: CpuState, b: CpuState): string[] {
  const out: string[] = [];
  const hex = (v: unknown) => (typeof v === 'number' ? `0x${(v >>> 0).toString(16)}` : JSON.stringify(v));
  const walk = (x: unknown, y: unknown, path: string) => {
    if (typeof x === 'object' && x !== null && typeof y === 'object' && y !== null) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    } else if (!Object.is(x, y)) {
      out.push(`${path}: jit ${hex(x)}, interp ${hex(y)}`);
    }
  };
  walk(a, b, '');
  return out;
}

function ramDifferences(a: Machine, b: Machine): string[] {
  const x = Buffer.from(a.memory.u8.buffer, a.memory.u8.byteOffset, a.memory.u8.byteLength);
  const y = Buffer.from(b.memory.u8.buffer, b.memory.u8.byteOffset, b.memory.u8.byteLength);
  if (x.equals(y)) return [];
  const out: string[] = [];
  const PAGE = 4096;
  for (let p = 0; p < x.length && out.length < 8; p += PAGE) {
    if (x.subarray(p, p + PAGE).equals(y.subarray(p, p + PAGE))) continue;
    let i = p;
    while (x[i] === y[i]) i++;
    out.push(`RAM at 0x${i.toString(16)}: jit ${x.subarray(i, i + 8).toString('hex')}, interp ${y.subarray(i, i + 8).toString('hex')}`);
  }
  return out;
}

function deviceDifferences(a: Machine, b: Machine): string[] {
  const out: string[] = [];
  a.parts.forEach((p, i) => {
    const x = JSON.stringify(p.saveState());
    const y = JSON.stringify(b.parts[i].saveState());
    if (x !== y) out.push(`device ${p.name}: jit ${x.slice(0, 300)}, interp ${y.slice(0, 300)}`);
  });
  return out;
}

/** Everything the two machines must agree on after a slice; `full` adds RAM and devices. */
function differences(a: Side, b: Side, full: boolean): string[] {
  const out = cpuDifferences(a.cpu(), b.cpu());
  if (a.machine.nowNs() !== b.machine.nowNs()) out.push(`virtual time: jit ${a.machine.nowNs()}, interp ${b.machine.nowNs()}`);
  if (a.text !== b.text) out.push(`console output: jit ...${JSON.stringify(a.text.slice(-80))}, interp ...${JSON.stringify(b.text.slice(-80))}`);
  if (JSON.stringify(a.machine.stopReason) !== JSON.stringify(b.machine.stopReason)) out.push(`stop: jit ${JSON.stringify(a.machine.stopReason)}, interp ${JSON.stringify(b.machine.stopReason)}`);
  if (full) out.push(...ramDifferences(a.machine, b.machine), ...deviceDifferences(a.machine, b.machine));
  return out;
}

/** Console input typed at a slice boundary (replayed at the same slice). */
interface Typed {
  slice: number;
  instructions: number;
  timeNs: number;
  bytes: Uint8Array;
}

/**
 * The two machines and the schedule that drives them. `run` goes until the script is done,
 * a machine stops, or a difference; `replayTo` rebuilds both and repeats the first slices.
 */
class Pair {
  a: Side;
  b: Side;
  slice = 0;

  constructor(private readonly guest: LockstepGuest, private readonly jit: JitOptions) {
    this.a = new Side(guest, 'jit', jit);
    this.b = new Side(guest, 'interp', jit);
  }

  /** One slice on both (optionally at most `limit` instructions); returns the wait the machines asked for. */
  step(limit?: number): number {
    const wa = this.a.machine.runSlice(limit);
    const wb = this.b.machine.runSlice(limit);
    this.a.machine.flushConsole();
    this.b.machine.flushConsole();
    this.slice++;
    return Math.max(wa, wb);
  }

  type(bytes: Uint8Array): void {
    this.a.machine.consoleIn(bytes);
    this.b.machine.consoleIn(bytes);
  }

  /** Fresh machines, run through the first `slices` slices with the same input. */
  replayTo(slices: number, typed: readonly Typed[]): void {
    this.a = new Side(this.guest, 'jit', this.jit);
    this.b = new Side(this.guest, 'interp', this.jit);
    this.slice = 0;
    let next = 0;
    while (this.slice < slices) {
      while (next < typed.length && typed[next].slice === this.slice) this.type(typed[next++].bytes);
      this.step();
    }
    while (next < typed.length && typed[next].slice === this.slice) this.type(typed[next++].bytes);
  }
}

function stopText(r: StopReason): string {
  return 'message' in r ? `${r.kind} (${r.message})` : `${r.kind} (status ${r.status})`;
}

/**
 * Run `guest` on both engines in lockstep through `script`. Resolves with the first
 * divergence (narrowed to an instruction where stepping reproduces it) or none.
 */
export async function runLockstep(guest: LockstepGuest, script: Script, options: LockstepOptions = {}): Promise<LockstepResult> {
  const t0 = performance.now();
  const jit = options.jit ?? {};
  const ramEvery = options.ramEvery ?? 16;
  const pair = new Pair(guest, jit);
  const typed: Typed[] = [];
  const steps: LockstepResult['steps'] = [];
  const retired = () => pair.b.machine.vcpu.instructionsRetired;
  /** The step typed last (-1: waiting for `ready`), where its wait starts on the console, and the count when it was typed. */
  let current = -1;
  let searchFrom = 0;
  let typedAt = 0;
  let lastChecked = 0;
  let end = 'the script finished';
  let divergence: Divergence | undefined;

  for (;;) {
    const wait = pair.step();
    const full = pair.slice % ramEvery === 0;
    const diff = differences(pair.a, pair.b, full);
    if (diff.length === 0 && full) lastChecked = pair.slice;
    if (diff.length) {
      if (!full) diff.push(...ramDifferences(pair.a.machine, pair.b.machine), ...deviceDifferences(pair.a.machine, pair.b.machine));
      divergence = { slice: pair.slice - 1, instructions: retired(), timeNs: pair.b.machine.nowNs(), differences: diff, consoleTail: pair.b.text.slice(-400) };
      end = 'the machines diverged';
      break;
    }
    const stop = pair.b.machine.stopReason;
    if (stop) {
      end = `the guest stopped${current < script.steps.length ? ' before the script finished' : ''}: ${stopText(stop)}`;
      break;
    }
    const waitFor = current < 0 ? script.ready : script.steps[current].done;
    if (pair.b.text.slice(searchFrom).search(waitFor) >= 0) {
      if (current >= 0) {
        const label = script.steps[current].label;
        steps.push({ label, instructions: retired() - typedAt });
        options.progress?.(`${label}: done, ${retired() - typedAt} instructions (at ${retired()})`);
      }
      if (++current === script.steps.length) break;
      searchFrom = pair.b.text.length;
      const bytes = new TextEncoder().encode(script.steps[current].input);
      typed.push({ slice: pair.slice, instructions: retired(), timeNs: pair.b.machine.nowNs(), bytes });
      pair.type(bytes);
      typedAt = retired();
    }
    if (wait === Infinity) {
      end = 'the guest waits for input the script does not give';
      break;
    }
    if (options.maxInstructions !== undefined && retired() >= options.maxInstructions) {
      end = `stopped after ${retired()} instructions (the limit)`;
      break;
    }
    if (pair.slice % 256 === 0) await new Promise((r) => setImmediate(r));
  }
  const stats = (pair.a.machine.vcpu.stats ?? {}) as JitStats;
  const slices = pair.slice;
  const instructions = retired();
  const console = pair.b.text;
  if (divergence) divergence.narrowed = narrow(pair, divergence, lastChecked, typed);
  return { divergence, end, slices, instructions, steps, jit: stats, hostSeconds: (performance.now() - t0) / 1000, console };
}

/**
 * Find the first instruction after which the machines differ: replay to the last slice
 * after which everything (RAM too) was equal, run on comparing everything after each slice
 * to find the first slice that makes a difference, then bisect that slice's length: both
 * machines go back to the slice's start (Machine.rewind keeps the jit's code for pages
 * that did not change) and run the first L of its instructions, with the same budgets
 * otherwise, until L - 1 instructions leave them equal and L do not.
 */
function narrow(pair: Pair, d: Divergence, lastChecked: number, typed: readonly Typed[]): Divergence['narrowed'] {
  pair.replayTo(lastChecked, typed);
  const { a, b } = pair;
  let next = typed.findIndex((t) => t.slice > lastChecked);
  if (next < 0) next = typed.length;
  for (;;) {
    const before = { a: a.machine.checkpoint(), b: b.machine.checkpoint(), text: [a.text, b.text], retired: b.machine.vcpu.instructionsRetired };
    pair.step();
    const slice = pair.slice - 1;
    const length = b.machine.vcpu.instructionsRetired - before.retired;
    if (differences(a, b, true).length) {
      if (length === 0) return { failed: `the machines differ after slice ${slice}, in which no instruction retired` };
      /** Back to the slice's start, run `n` of its instructions; the differences then. */
      const probe = (n: number) => {
        a.machine.rewind(before.a);
        b.machine.rewind(before.b);
        [a.text, b.text] = before.text;
        pair.step(n);
        pair.slice = slice + 1;
        return differences(a, b, true);
      };
      let lo = 0; // equal after lo instructions
      let hi = length; // different after hi
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (probe(mid).length) hi = mid; else lo = mid;
      }
      probe(lo);
      const instruction = b.machine.vcpu.traceLine?.() ?? '';
      const diff = probe(hi);
      if (!diff.length) return { failed: `slice ${slice} makes a difference when run whole, but none when run again from its start (after ${hi} of its ${length} instructions): the difference depends on the jit's state before the slice (the code it had), which going back does not restore` };
      return { instructions: before.retired + hi, instruction: `after instruction ${before.retired + hi}: ${instruction}`, differences: diff };
    }
    if (pair.slice > d.slice + 1) return { failed: `replayed, the machines stay equal through slice ${d.slice}: the run is not deterministic` };
    while (next < typed.length && typed[next].slice === pair.slice) pair.type(typed[next++].bytes);
  }
}
