// The default guest uses CPU features that only a real kernel reaches: LDT segments set up by
// a 32-bit program through modify_ldt(2), a program that single-steps itself over system
// calls, and a double fault taken through Linux i386's #DF task gate (provoked by LKDTM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootToShell, noGuest, shell, stoppedWithin, TEST_ENGINE } from './guest-session.ts';

const PROGRAMS = join(dirname(fileURLToPath(import.meta.url)), 'programs');

/** Build test/integration/programs/{ldt,singlestep}.c as static i386 programs on an ext2 image: its path, or why this host cannot. */
function buildProgramsDisk(): string | { reason: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-programs-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  for (const name of ['ldt', 'singlestep']) {
    try {
      execFileSync('gcc', ['-m32', '-static', '-O2', '-o', join(root, name), join(PROGRAMS, `${name}.c`)], { stdio: 'pipe' });
    } catch (e) {
      return { reason: `gcc -m32 -static cannot build the test programs (install gcc-multilib): ${String((e as { stderr?: Buffer }).stderr ?? e).split('\n')[0]}` };
    }
  }
  const image = join(dir, 'programs.img');
  try {
    execFileSync('mke2fs', ['-q', '-t', 'ext2', '-d', root, image, '4M'], { stdio: 'pipe' });
  } catch (e) {
    return { reason: `mke2fs -d cannot make the disk (install e2fsprogs): ${String(e).split('\n')[0]}` };
  }
  return image;
}

test('32-bit programs use LDT segments and single-step over system calls in the guest; the kernel logs no warning', { skip: noGuest, timeout: 600_000 }, async (t) => {
  const disk = buildProgramsDisk();
  if (typeof disk !== 'string') {
    t.skip(disk.reason);
    return;
  }
  const vm = await bootToShell([`${disk},ro`]);
  const out = await shell(vm, 'mount -o ro /dev/vda /mnt && /mnt/ldt; echo rc=$?');
  assert.match(out, /ldt: far call ran with cs=0x17/);
  assert.match(out, /ldt: fs:0x1000 past the limit gave signal 11/);
  assert.match(out, /ldt: all checks passed\nrc=0/);
  // One SIGTRAP per user instruction run with TF set, none inside the INT 0x80 handler
  // (hardware and qemu-i386 give the same 7).
  const step = await shell(vm, '/mnt/singlestep; echo rc=$?');
  assert.match(step, /singlestep: getpid (\d+) \1 \(pid \1\), 7 traps\nrc=0/);
  // Nothing the CPU did made the kernel complain: no trap in a kernel handler, no MSR it expected missing.
  const pattern = 'WARNING|unchecked MSR|BUG:|Oops|exc_debug';
  assert.match(await shell(vm, `echo complaints=$(dmesg | grep -c -E '${pattern}')`), /^complaints=0$/m, await shell(vm, `dmesg | grep -E '${pattern}'`));
  vm.type('poweroff -f\n');
  assert.equal((await stoppedWithin(vm)).kind, 'poweroff');
});

test('a double fault in the kernel reaches Linux\'s #DF task gate and its report', { skip: noGuest, timeout: 600_000 }, async () => {
  const vm = await bootToShell([], TEST_ENGINE, false); // the kernel's report is the point
  // LKDTM loads a zero-limit SS and touches the stack: #SS, whose delivery faults again, is #DF.
  // (An i386 kernel has no guard page under its stack, so a plain overflow does not fault.)
  vm.type('mount -t debugfs none /sys/kernel/debug && echo DOUBLE_FAULT > /sys/kernel/debug/provoke-crash/DIRECT\n');
  await vm.waitFor('lkdtm: Performing direct entry DOUBLE_FAULT', { timeoutMs: 60_000 });
  // exc_double_fault() runs in the double-fault task, with the faulting task's registers from its TSS.
  const report = await vm.waitFor(/Kernel panic - not syncing: [^\n]*\n/, { timeoutMs: 60_000 });
  assert.match(report, /traps: PANIC: double fault, error_code: 0x0/);
  assert.match(report, /SS: 0030 /, 'the faulting task had the zero-limit SS');
  const stop = await stoppedWithin(vm);
  assert.equal(stop.kind, 'panic', `the machine reports the panic (pvpanic): ${JSON.stringify(stop)}`);
});
