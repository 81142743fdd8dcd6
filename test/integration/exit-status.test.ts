// The exit status of `lilyvm run` tells how the guest stopped (README "Exit status"):
// each case with a real guest, or with a kernel image made to stop in that way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KERNEL } from '../../src/cli/main.ts';
import { Vm } from '../../src/index.ts';
import { noGuest, PROMPT, stoppedWithin, TEST_ENGINE } from './guest-session.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lilyvm.js');
const dir = mkdtempSync(join(tmpdir(), 'lilyvm-exit-'));

/** Run the CLI with this console input; the guest gets it as typed text once its shell reads. */
function lilyvm(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'run', ...args], { input, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The default kernel's real-mode setup with this 32-bit code as its protected-mode part (entered at 1 MiB). */
function kernelWithCode(name: string, code: number[]): string {
  const k = readFileSync(DEFAULT_KERNEL);
  const setupBytes = ((k[0x1f1] || 4) + 1) * 512;
  // Padded to the original length, which the header records.
  const image = Buffer.concat([k.subarray(0, setupBytes), Buffer.from(code), Buffer.alloc(k.length - setupBytes - code.length)]);
  const path = join(dir, name);
  writeFileSync(path, image);
  return path;
}

test('plain poweroff powers the guest off through ACPI S5: exit status 0', { skip: noGuest, timeout: 600_000 }, () => {
  const r = lilyvm([], 'poweroff\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /reboot: Power down/);
  assert.equal(r.stderr, '');
});

test('a kernel panic exits with status 3 and the panic message (pvpanic)', { skip: noGuest, timeout: 600_000 }, () => {
  const r = lilyvm([], 'mount -t debugfs none /sys/kernel/debug && echo PANIC > /sys/kernel/debug/provoke-crash/DIRECT\n');
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /lkdtm: Performing direct entry PANIC/);
  assert.match(r.stderr, /lilyvm: the guest kernel panicked: Kernel panic - not syncing: dumptest/);
});

test('reboot boots the guest again; with --no-reboot it exits with status 0', { skip: noGuest, timeout: 600_000 }, async () => {
  const vm = Vm.boot({ engine: TEST_ENGINE });
  try {
    await vm.waitFor('LilyVM guest ready', { timeoutMs: 180_000 });
    await vm.waitFor(PROMPT, { timeoutMs: 60_000 });
    vm.type('reboot\n');
    await vm.waitFor('reboot: Restarting system', { timeoutMs: 60_000 });
    await vm.waitFor('LilyVM guest ready', { timeoutMs: 180_000 });
    await vm.waitFor(PROMPT, { timeoutMs: 60_000 });
    vm.type('poweroff\n');
    assert.equal((await stoppedWithin(vm)).kind, 'poweroff');
  } finally {
    await vm.stop();
  }
  const r = lilyvm(['--no-reboot'], 'reboot\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /reboot: Restarting system/);
  assert.equal(r.stdout.split('LilyVM guest ready').length, 2, 'booted once');
});

test('a CPU halted with interrupts disabled exits with status 4 and says where', { skip: noGuest, timeout: 120_000 }, () => {
  // cli; hlt: what a decompressor does when it gives up.
  const r = lilyvm(['--kernel', kernelWithCode('halt-bzImage', [0xfa, 0xf4, 0xeb, 0xfd])]);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /lilyvm: the guest CPU halted with interrupts disabled at cs:eip 0010:00100002, without asking for power-off; the guest printed nothing on its console/);
});

test('a triple fault exits with status 4; an IDT outside RAM is an error, status 1', { skip: noGuest, timeout: 120_000 }, () => {
  // lidt [0x200000] (zeros: limit 0), int3: #GP, #DF, shutdown.
  const triple = lilyvm(['--kernel', kernelWithCode('triple-bzImage', [0x0f, 0x01, 0x1d, 0x00, 0x00, 0x20, 0x00, 0xcc])]);
  assert.equal(triple.status, 4, triple.stderr);
  assert.match(triple.stderr, /lilyvm: the guest CPU shut down: triple fault \(exception 13 while delivering double fault\), at cs:eip 0010:00100007; the guest printed nothing/);
  // lidt [idtr] with base 0xfe000000 (MMIO), int3.
  const idtr = 0x100000 + 16;
  const code = [0x0f, 0x01, 0x1d, idtr & 0xff, (idtr >> 8) & 0xff, (idtr >> 16) & 0xff, 0, 0xcc, 0xf4];
  while (code.length < 16) code.push(0x90);
  code.push(0xff, 0x07, 0x00, 0x00, 0x00, 0xfe);
  const mmio = lilyvm(['--kernel', kernelWithCode('mmio-idt-bzImage', code)]);
  assert.equal(mmio.status, 1, mmio.stderr);
  assert.match(mmio.stderr, /event delivery accessed physical address fe000018, outside RAM/);
});
