import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestStoppedError, ProcessConsole, StepTimeoutError, type GuestConsole } from './console.ts';
import type { V86RunnerConfig } from './v86-runner.ts';
import type { EngineName, Vm as LilyVm } from '../../src/index.ts';

/** LilyVM with each of its engines, and the peers. */
export type VmName = 'jit' | 'interp' | 'qemu' | 'v86';
export const VM_NAMES: readonly VmName[] = ['jit', 'interp', 'qemu', 'v86'];
export const VM_LABELS: Record<VmName, string> = { jit: 'LilyVM jit', interp: 'LilyVM interp', qemu: 'QEMU', v86: 'v86' };

export interface GuestSpec {
  kernelPath: string;
  initrdPath: string;
  append: string;
  memoryMiB: number;
  seabiosDir: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));

export async function startVm(name: VmName, spec: GuestSpec): Promise<GuestConsole> {
  switch (name) {
    case 'jit': case 'interp':
      return startLilyVm(spec, name);
    case 'qemu':
      return startQemu(spec);
    case 'v86':
      return startV86(spec);
  }
}

function startQemu(spec: GuestSpec): GuestConsole {
  return new ProcessConsole('QEMU', 'qemu-system-i386', [
    '-accel', 'tcg', '-cpu', 'pentium2', '-m', String(spec.memoryMiB),
    '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', spec.kernelPath, '-initrd', spec.initrdPath, '-append', spec.append,
  ]);
}

function startV86(spec: GuestSpec): GuestConsole {
  const config: V86RunnerConfig = {
    kernelPath: spec.kernelPath,
    initrdPath: spec.initrdPath,
    append: spec.append,
    memoryMiB: spec.memoryMiB,
    biosPath: join(spec.seabiosDir, 'bios.bin'),
    vgaBiosPath: join(spec.seabiosDir, 'vgabios-stdvga.bin'),
  };
  return new ProcessConsole(
    'v86',
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(HERE, 'v86-runner.ts'), JSON.stringify(config)],
    { ipc: true },
  );
}

type LilyVmLibrary = typeof import('../../src/index.ts');

async function startLilyVm(spec: GuestSpec, engine: EngineName): Promise<GuestConsole> {
  let library: LilyVmLibrary;
  try {
    library = await import('../../src/index.ts');
  } catch (e) {
    throw new GuestStoppedError(`the LilyVM library (src/index.ts) does not load: ${(e as Error).message}`);
  }
  const startedAtMs = performance.now();
  let vm: LilyVm;
  try {
    vm = library.Vm.boot({
      kernel: spec.kernelPath,
      initrd: spec.initrdPath,
      append: spec.append,
      memory: `${spec.memoryMiB}M`,
      engine,
    });
  } catch (e) {
    throw new GuestStoppedError(`Vm.boot failed: ${(e as Error).message}`);
  }
  return new LilyVmConsole(vm, library.WaitTimeoutError, startedAtMs);
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** LilyVM runs in this process, driven through its own Node library. */
class LilyVmConsole implements GuestConsole {
  private stopReason: string | undefined;
  private readonly cpuBaseMicros = cpuMicros();
  private readonly stoppedMessage: Promise<string>;

  constructor(private readonly vm: LilyVm, private readonly waitTimeoutError: LilyVmLibrary['WaitTimeoutError'], readonly startedAtMs: number) {
    this.stoppedMessage = vm.stopped.then(
      (reason) => `LilyVM stopped: ${reason.kind}${'message' in reason ? `: ${reason.message}` : ''}`,
      (e: unknown) => `LilyVM crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    ).then((message) => (this.stopReason = message));
  }

  /** The jit's share of native instructions, its code cache and compile time (nothing for interp). */
  engineNote(): string | undefined {
    const s = this.vm.engineStats;
    if (!s) return undefined;
    const retired = this.vm.instructionsRetired;
    const cpuMs = (cpuMicros() - this.cpuBaseMicros) / 1000;
    return `jit: ${((100 * s.nativeInstructions) / retired).toFixed(0)}% of ${(retired / 1e6).toFixed(0)} M guest instructions ran as native code; `
      + `${s.translated} blocks in ${s.modules} modules, code cache ${(s.cacheBytes / 1048576).toFixed(1)} MB of ${(s.cacheLimit / 1048576).toFixed(0)} MB (${s.flushes} flushes); `
      + `compiling took ${(s.compileMs / 1000).toFixed(2)} s, ${((100 * s.compileMs) / cpuMs).toFixed(1)}% of the VM's CPU time`;
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const outcome = await Promise.race([
      this.vm.waitFor(pattern, { timeoutMs }).then((text) => ({ text }), (error: unknown) => ({ error })),
      this.stoppedMessage.then((stopped) => ({ stopped })),
    ]);
    if ('text' in outcome) return outcome.text;
    if ('stopped' in outcome) throw new GuestStoppedError(outcome.stopped);
    if (this.stopReason !== undefined) throw new GuestStoppedError(this.stopReason);
    if (outcome.error instanceof this.waitTimeoutError) throw new StepTimeoutError(`no ${pattern} on the console within ${timeoutMs / 1000} s`);
    throw outcome.error;
  }

  type(text: string): void {
    if (this.stopReason === undefined) this.vm.type(text);
  }

  tail(chars: number): string {
    return this.vm.output.slice(-chars);
  }

  /** The whole benchmark process: LilyVM runs in it, and the driver's own share is negligible. */
  cpuSeconds(): number {
    return (cpuMicros() - this.cpuBaseMicros) / 1e6;
  }

  async close(): Promise<void> {
    if (this.stopReason !== undefined) return;
    await Promise.race([
      this.vm.stop().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 10_000).unref()),
    ]);
  }
}

export function vmVersions(): Record<VmName, string> {
  const qemu = (() => {
    try {
      return execFileSync('qemu-system-i386', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
    } catch {
      return 'qemu-system-i386 not found (Debian package qemu-system-x86)';
    }
  })();
  const v86 = (() => {
    try {
      const require = createRequire(import.meta.url);
      const pkg = JSON.parse(readFileSync(join(dirname(require.resolve('v86')), '..', 'package.json'), 'utf8')) as { version: string };
      return `v86 ${pkg.version} (npm)`;
    } catch {
      return 'v86 not installed (npm install)';
    }
  })();
  const lily = (() => {
    try {
      const pkg = JSON.parse(readFileSync(join(HERE, '..', '..', 'package.json'), 'utf8')) as { version: string };
      const git = (...args: string[]) => execFileSync('git', ['-C', join(HERE, '..', '..'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      const dirty = git('status', '--porcelain', '--', 'src') === '' ? '' : ', with uncommitted changes in src/';
      return `LilyVM ${pkg.version} (commit ${git('rev-parse', '--short', 'HEAD')}${dirty})`;
    } catch {
      return 'LilyVM';
    }
  })();
  return { jit: lily, interp: lily, qemu, v86 };
}
