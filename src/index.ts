// The Node library: build, boot and drive guests from code.
import { readFileSync } from 'node:fs';
import { parseRunArgs } from './cli/main.ts';
import { startVm, type NodeVm } from './host/node-vm.ts';
import type { StopReason } from './machine/machine.ts';

export type { StopReason } from './machine/machine.ts';
export { DEFAULT_APPEND, DEFAULT_INITRD, DEFAULT_KERNEL } from './cli/main.ts';

export interface VmOptions {
  /** bzImage path; default: the bundled guest kernel (with its initramfs). */
  kernel?: string;
  initrd?: string;
  append?: string;
  /** e.g. "256M". */
  memory?: string;
  /** Raw disk images; "FILE,ro" for read-only. */
  disks?: string[];
  engine?: string;
  /** Stop when the guest reboots instead of booting it again (CLI --no-reboot). */
  noReboot?: boolean;
}

export class WaitTimeoutError extends Error {}

/**
 * A running guest. Its serial console is collected in `output`; waitFor() and
 * type() make guest tests read like scripts.
 */
export class Vm {
  output = '';
  readonly stopped: Promise<StopReason>;
  private readonly decoder = new TextDecoder();
  private readonly waiters = new Set<() => void>();
  private readonly node: NodeVm;
  private mark = 0;

  private constructor(argv: string[]) {
    const config = parseRunArgs(argv);
    const kernel = readFileSync(config.kernelPath);
    const initrd = config.initrdPath ? readFileSync(config.initrdPath) : undefined;
    this.node = startVm(config, {
      kernel,
      initrd,
      consoleOut: (bytes) => {
        this.output += this.decoder.decode(bytes, { stream: true });
        for (const w of this.waiters) w();
      },
    });
    this.stopped = this.node.run().finally(() => {
      this.node.close();
      for (const w of this.waiters) w();
    });
  }

  /** Boot a guest; it runs in the background until it stops. */
  static boot(options: VmOptions = {}): Vm {
    const argv: string[] = [];
    if (options.kernel) argv.push('--kernel', options.kernel);
    if (options.initrd) argv.push('--initrd', options.initrd);
    if (options.append !== undefined) argv.push('--append', options.append);
    if (options.memory) argv.push('--memory', options.memory);
    if (options.engine) argv.push('--engine', options.engine);
    for (const d of options.disks ?? []) argv.push('--disk', d);
    if (options.noReboot) argv.push('--no-reboot');
    return new Vm(argv);
  }

  /**
   * Wait until the console output after the last match contains `pattern`;
   * returns the text up to and including the match.
   */
  waitFor(pattern: string | RegExp, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      let done = false;
      const check = () => {
        if (done) return;
        const rest = this.output.slice(this.mark);
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
          const text = rest.slice(0, end);
          this.mark += end;
          resolve(text);
        }
      };
      const finish = () => {
        done = true;
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}; console tail:\n${this.output.slice(-2000)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
      this.stopped.then(() => {
        if (!done) {
          check();
          if (!done) {
            finish();
            reject(new WaitTimeoutError(`guest stopped while waiting for ${String(pattern)}; console tail:\n${this.output.slice(-2000)}`));
          }
        }
      }, () => {});
    });
  }

  /** Type text on the guest's serial console. */
  type(text: string): void {
    this.node.consoleIn(new TextEncoder().encode(text));
  }

  /** Stop the guest as Ctrl-A X would. */
  stop(): Promise<StopReason> {
    this.node.stop({ kind: 'quit', status: 0 });
    return this.stopped;
  }
}
