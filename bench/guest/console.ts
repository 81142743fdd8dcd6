import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export class StepTimeoutError extends Error {}
export class GuestStoppedError extends Error {}

/** A guest's serial console as the benchmark drives it, whichever VM runs the guest. */
export interface GuestConsole {
  /** performance.now() when the VM was created; boot time counts from here. */
  readonly startedAtMs: number;
  /**
   * Wait until the console output after the previous match matches `pattern`;
   * resolves with that text up to the end of the match. Rejects with
   * StepTimeoutError or GuestStoppedError.
   */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  type(text: string): void;
  /** Host CPU time the VM has used since it was created (all its threads); undefined where unknown. */
  cpuSeconds(): number | undefined;
  /** Figures the VM reports about itself (LilyVM's engine), for the notes. Optional. */
  engineNote?(): string | undefined;
  /** The last `chars` characters of console output, for reports. */
  tail(chars: number): string;
  close(): Promise<void>;
}

const liveChildren = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  liveChildren.clear();
}

/** Message a child runner sends over IPC just before it creates its VM. */
export interface RunnerStartMessage {
  kind: 'start';
}

function isStartMessage(message: unknown): message is RunnerStartMessage {
  return typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === 'start';
}

/** A VM in a child process whose stdin and stdout are the guest's serial console. */
export class ProcessConsole implements GuestConsole {
  startedAtMs: number;
  /** performance.now() at spawn; differs from startedAtMs when the child reports its own start. */
  readonly spawnedAtMs: number;
  private cpuBaseSeconds = 0;
  private output = '';
  private consumed = 0;
  private stderr = '';
  private exitReason: string | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(private readonly label: string, command: string, args: string[], options: { ipc?: boolean } = {}) {
    this.spawnedAtMs = performance.now();
    this.startedAtMs = this.spawnedAtMs;
    const child = spawn(command, args, { stdio: options.ipc ? ['pipe', 'pipe', 'pipe', 'ipc'] : ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    liveChildren.add(child);
    child.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString('latin1');
      this.notify();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.stdin?.on('error', () => {});
    child.on('message', (message) => {
      if (!isStartMessage(message)) return;
      this.startedAtMs = performance.now();
      this.cpuBaseSeconds = this.processCpuSeconds() ?? 0;
    });
    this.exited = new Promise<void>((resolve) => {
      const finish = (reason: string) => {
        this.exitReason ??= reason;
        liveChildren.delete(child);
        this.notify();
        resolve();
      };
      child.on('error', (e) => finish(`${label} could not be started (${command}): ${e.message}`));
      child.on('close', (code, signal) => {
        const how = signal ? `killed by ${signal}` : `exited with status ${code}`;
        const err = this.stderr.trim();
        finish(`${label} ${how}${err ? `; its stderr: ${err.slice(-1500)}` : ''}`);
      });
    });
  }

  waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const check = () => {
        const rest = this.output.slice(this.consumed);
        pattern.lastIndex = 0;
        const match = pattern.exec(rest);
        if (match) {
          const end = match.index + match[0].length;
          this.consumed += end;
          done();
          resolve(rest.slice(0, end));
        } else if (this.exitReason !== undefined) {
          done();
          reject(new GuestStoppedError(this.exitReason));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new StepTimeoutError(`no ${pattern} on the console within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  type(text: string): void {
    if (this.exitReason === undefined) this.child.stdin?.write(text, 'latin1');
  }

  tail(chars: number): string {
    return this.output.slice(-chars);
  }

  cpuSeconds(): number | undefined {
    const total = this.processCpuSeconds();
    return total === undefined ? undefined : total - this.cpuBaseSeconds;
  }

  private processCpuSeconds(): number | undefined {
    if (this.child.pid === undefined || this.exitReason !== undefined) return undefined;
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'latin1');
      // Fields after "(comm) ": state is the first, utime and stime the 12th and 13th, in USER_HZ (100/s) ticks.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.exitReason === undefined) this.child.kill('SIGKILL');
    await this.exited;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
