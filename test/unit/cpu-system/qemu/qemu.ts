// Runs a scenario image under QEMU (TCG) with the same ports the interpreter harness has:
// debugcon on 0xE9 and isa-debug-exit on 0xF4.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../machine.ts';

export const QEMU = 'qemu-system-i386';

export function qemuAvailable(): boolean {
  return spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Boot image (a multiboot kernel) in QEMU. An exit through isa-debug-exit gives
 * status (code << 1) | 1; a triple fault with -no-reboot ends QEMU with status 0.
 */
export function runInQemu(image: Uint8Array, timeoutMs = 20_000, cpuModel = 'pentium2'): RunResult {
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-qemu-'));
  try {
    const kernel = join(dir, 'kernel.bin');
    const out = join(dir, 'debugcon.txt');
    writeFileSync(kernel, image);
    writeFileSync(out, '');
    const r = spawnSync(QEMU, [
      '-kernel', kernel, '-cpu', cpuModel, '-m', '64', '-accel', 'tcg',
      '-debugcon', `file:${out}`, '-device', 'isa-debug-exit,iobase=0xf4,iosize=1',
      '-display', 'none', '-serial', 'none', '-monitor', 'none', '-parallel', 'none',
      '-no-reboot', '-nodefaults',
    ], { timeout: timeoutMs, stdio: ['ignore', 'ignore', 'pipe'] });
    const output = readFileSync(out, 'latin1');
    if (r.error) return { output, end: 'budget', reason: String(r.error) };
    if (r.status !== null && r.status & 1) return { output, end: 'exit', exitCode: r.status >> 1 };
    if (r.status === 0) return { output, end: 'shutdown', reason: 'QEMU ended without isa-debug-exit (triple fault with -no-reboot)' };
    return { output, end: 'error', reason: `QEMU status ${r.status}: ${r.stderr.toString()}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
