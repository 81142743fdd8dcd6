// The library API: boot a guest from code, read its console, type into it, run shell
// commands, stop it. Separate from the CLI: options are typed, errors are classes.
import { BootError } from './boot/linux.ts';
import { resolveMachineConfig, type MachineRequest } from './host/defaults.ts';
import { readInput, startVm, VmStartError, type NodeVm, type RestorePoint } from './host/node-vm.ts';
import { configFromSnapshot, loadRestorePoint, SnapshotError } from './host/snapshot-file.ts';
import { ConfigError, type MachineConfig } from './machine/config.ts';
import type { StopReason } from './machine/machine.ts';

export interface VmOptions extends MachineRequest {
  /** Aborting it stops the guest (as stop() does). */
  signal?: AbortSignal;
  /** Console output kept in `output` and for waitFor(), in characters (default 1 MiB); older output is dropped. */
  outputLimit?: number;
  /** Typed input that may wait for the guest to read it, in bytes (default 1 MiB); type() beyond it throws. */
  inputLimit?: number;
}

export interface WaitOptions {
  /** Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Every error the library throws for a reason of the guest's or the caller's. */
export class VmError extends Error {
  override name = 'VmError';
}

/** waitFor() or run() ran out of time; `recentOutput` is the end of the console output. */
export class WaitTimeoutError extends VmError {
  override name = 'WaitTimeoutError';
  constructor(message: string, readonly recentOutput: string) {
    super(message);
  }
}

/** The guest stopped while waitFor() or run() waited. */
export class GuestStoppedError extends VmError {
  override name = 'GuestStoppedError';
  constructor(message: string, readonly reason: StopReason, readonly recentOutput: string) {
    super(message);
  }
}

/** type() was given more than the input limit allows to wait for the guest. */
export class InputOverflowError extends VmError {
  override name = 'InputOverflowError';
}

/** A wait was aborted through its AbortSignal. */
export class AbortError extends VmError {
  override name = 'AbortError';
}

export { BootError, ConfigError, SnapshotError, VmStartError };

/** What run() gives back. */
export interface CommandResult {
  /** What the command printed (stdout and stderr, as the console shows them, without CRs). */
  output: string;
  exitCode: number;
}

type OutputListener = (text: string) => void;

const RECENT_CHARS = 2000;
let commandCounter = 0;

/**
 * A running guest. Its serial console is kept in `output` (bounded); waitFor(), type()
 * and run() make guest tests read like scripts.
 */
export class Vm {
  /** Resolves with how the guest stopped; never rejects. */
  readonly stopped: Promise<StopReason>;
  private text = '';
  /** Characters dropped from the front of `text` so far (positions are absolute). */
  private dropped = 0;
  private mark = 0;
  private stopReason: StopReason | undefined;
  private readonly decoder = new TextDecoder();
  private readonly listeners = new Set<OutputListener>();
  private readonly node: NodeVm;
  private readonly outputLimit: number;
  private readonly inputLimit: number;

  private constructor(options: VmOptions, config: MachineConfig, restore?: RestorePoint) {
    this.outputLimit = options.outputLimit ?? 1 << 20;
    this.inputLimit = options.inputLimit ?? 1 << 20;
    const kernel = readInput(config.kernelPath, 'Kernel image');
    const initrd = config.initrdPath ? readInput(config.initrdPath, 'Initrd') : undefined;
    this.node = startVm(config, { kernel, initrd, consoleOut: (bytes) => this.append(this.decoder.decode(bytes, { stream: true })) }, restore);
    const signal = options.signal;
    const onAbort = () => this.node.stop({ kind: 'quit', status: 0 });
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.stopped = this.node.run().then(
      (reason) => reason,
      (e: unknown): StopReason => ({ kind: 'error', status: 1, message: `internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` }),
    ).then((reason) => {
      this.node.close();
      signal?.removeEventListener('abort', onAbort);
      this.stopReason = reason;
      for (const l of this.listeners) l('');
      return reason;
    });
  }

  /**
   * Boot a guest; it runs in the background until it stops. Throws ConfigError for a bad
   * option, VmStartError for a missing or unusable file, BootError for a bad kernel image.
   */
  static boot(options: VmOptions = {}): Vm {
    return new Vm(options, resolveMachineConfig(options));
  }

  /**
   * Resume a machine saved by saveSnapshot(): the same RAM, CPU and devices, the same
   * disks (refused if one changed since), running on from where it was. The snapshot
   * names its kernel and initrd, which a reboot of the guest needs. Throws SnapshotError
   * for a file that is not a usable snapshot; nothing has started then.
   */
  static restore(file: string, options: Pick<VmOptions, 'signal' | 'outputLimit' | 'inputLimit'> = {}): Vm {
    const point = loadRestorePoint(file);
    return new Vm(options, configFromSnapshot(point.header), point);
  }

  /** Save the whole machine (CPU, devices, RAM without its zero pages) to `file`; the guest runs on. Resolves with the file size. */
  async saveSnapshot(file: string): Promise<{ bytes: number }> {
    return { bytes: await this.node.saveSnapshot(file) };
  }

  /** Instructions the guest's CPU has retired since it booted (or since the restored snapshot's boot). */
  get instructionsRetired(): number {
    return this.node.machine.vcpu.instructionsRetired;
  }

  /** The engine's own figures, when it has any (jit: blocks translated, instructions run as native code, code-cache bytes, compile ms). */
  get engineStats(): Readonly<Record<string, number>> | undefined {
    return this.node.machine.vcpu.stats;
  }

  /** The console output kept so far (the last `outputLimit` characters). */
  get output(): string {
    return this.text;
  }

  /** Called with each piece of console output as it arrives; returns a function that removes the listener. */
  onOutput(listener: OutputListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Console output from the machine: kept (bounded) and handed to the listeners. */
  private append(arg: string): void {
    if (arg === '') return;
    this.text += arg;
    if (this.text.length > this.outputLimit) {
      const cut = this.text.length - this.outputLimit;
      this.text = this.text.slice(cut);
      this.dropped += cut;
    }
    for (const l of this.listeners) l(arg);
  }

  /** The console output as it arrives, until the guest stops. Each iterator keeps at most `outputLimit` characters unread. */
  async *outputChunks(): AsyncGenerator<string> {
    const queue: string[] = [];
    let queued = 0;
    let wake: (() => void) | undefined;
    const off = this.onOutput((t) => {
      if (t) {
        queue.push(t);
        queued += t.length;
        while (queued > this.outputLimit && queue.length > 1) queued -= queue.shift()!.length;
      }
      wake?.();
    });
    try {
      for (;;) {
        if (queue.length) {
          const t = queue.shift()!;
          queued -= t.length;
          yield t;
          continue;
        }
        if (this.stopReason) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      off();
    }
  }

  /**
   * Wait until the console output after the last match contains `pattern`; returns the
   * text up to and including the match. Rejects with WaitTimeoutError after timeoutMs,
   * GuestStoppedError if the guest stops first, AbortError if the signal aborts.
   */
  waitFor(pattern: string | RegExp, options: WaitOptions = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        off();
        options.signal?.removeEventListener('abort', onAbort);
      };
      const check = () => {
        if (done) return;
        const start = Math.max(this.mark, this.dropped) - this.dropped;
        const rest = this.text.slice(start);
        let end = -1;
        if (typeof pattern === 'string') {
          const i = rest.indexOf(pattern);
          if (i >= 0) end = i + pattern.length;
        } else {
          const m = pattern.exec(rest);
          if (m) end = m.index + m[0].length;
        }
        if (end >= 0) {
          finish();
          this.mark = this.dropped + start + end;
          resolve(rest.slice(0, end));
        } else if (this.stopReason) {
          finish();
          reject(new GuestStoppedError(`the guest stopped (${this.stopReason.kind}) while waiting for ${String(pattern)}`, this.stopReason, this.recent()));
        }
      };
      const onAbort = () => {
        finish();
        reject(new AbortError(`waiting for ${String(pattern)} was aborted`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}`, this.recent()));
      }, timeoutMs);
      const off = this.onOutput(check);
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  /** Type text on the guest's serial console. Throws InputOverflowError when more than inputLimit bytes would wait. */
  type(text: string): void {
    const bytes = new TextEncoder().encode(text);
    const waiting = this.node.machine.consoleBacklog();
    if (waiting + bytes.length > this.inputLimit) {
      throw new InputOverflowError(`${waiting} bytes of input are still waiting for the guest; ${bytes.length} more would pass the limit of ${this.inputLimit}`);
    }
    this.node.consoleIn(bytes);
  }

  /**
   * Run one line of shell in the guest (typed at its prompt) and return what it printed and
   * its exit status. Markers that the shell prints frame the output, so the echoed command
   * line is not part of it; kernel messages printed meanwhile are.
   */
  async run(command: string, options: WaitOptions = {}): Promise<CommandResult> {
    if (/[\r\n]/.test(command)) throw new VmError('run() takes one line of shell: join commands with ; or &&');
    const id = `${process.pid.toString(36)}-${(++commandCounter).toString(36)}`;
    // The quotes split each marker in the echoed line, so only the shell's output matches.
    const begin = new RegExp(`@@LILYVM-${id}-BEGIN@@\\r?\\n`);
    const end = new RegExp(`@@LILYVM-${id}-END (\\d+)@@`);
    this.type(`echo '@@LILYVM-${id}'-BEGIN@@; ${command}; echo "@@LILYVM-${id}-END $?"'@@'\n`);
    await this.waitFor(begin, options);
    const text = await this.waitFor(end, options);
    const m = end.exec(text)!;
    return { output: text.slice(0, m.index).replace(/\r/g, '').replace(/\n$/, ''), exitCode: Number(m[1]) };
  }

  /** Stop the guest as Ctrl-A X would; resolves when it has stopped. */
  stop(): Promise<StopReason> {
    this.node.stop({ kind: 'quit', status: 0 });
    return this.stopped;
  }

  private recent(): string {
    return this.text.slice(-RECENT_CHARS);
  }
}
