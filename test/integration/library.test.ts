// The library API (src/vm.ts) on the default guest: run(), waitFor()'s errors, bounded
// output and input, output events, AbortSignal, typed option errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  AbortError, ConfigError, DEFAULT_APPEND, GuestStoppedError, InputOverflowError, Vm, VmStartError, WaitTimeoutError,
} from '../../src/index.ts';
import { noGuest, PROMPT, TEST_ENGINE } from './guest-session.ts';

test('run() returns a command\'s output and exit status; waitFor() times out and aborts with the recent output', { skip: noGuest, timeout: 600_000 }, async () => {
  const chunks: string[] = [];
  // quiet: no late kernel messages (the clocksource switch) among the commands' output.
  const vm = Vm.boot({ engine: TEST_ENGINE, outputLimit: 4096, inputLimit: 64 * 1024, append: `${DEFAULT_APPEND} quiet` });
  const off = vm.onOutput((t) => chunks.push(t));
  try {
    await vm.waitFor(PROMPT, { timeoutMs: 180_000 });
    assert.deepEqual(await vm.run('echo hello; echo world'), { output: 'hello\nworld', exitCode: 0 });
    assert.deepEqual(await vm.run('ls /nonexistent'), { output: 'ls: /nonexistent: No such file or directory', exitCode: 1 });
    assert.deepEqual(await vm.run('exit 7 2>/dev/null | true; (exit 7)'), { output: '', exitCode: 7 });
    await assert.rejects(vm.run('echo a\necho b'), /one line of shell/);

    // Bounded output: a long listing leaves only the last outputLimit characters.
    const long = await vm.run('seq 1 5000');
    assert.equal(long.exitCode, 0);
    assert.ok(vm.output.length <= 4096, `output holds ${vm.output.length} characters`);
    assert.match(vm.output, /5000/);
    assert.ok(chunks.join('').includes('\n2500\r\n'), 'listeners saw everything');
    off();

    const timeout = await vm.waitFor('never printed', { timeoutMs: 200 }).catch((e: unknown) => e);
    assert.ok(timeout instanceof WaitTimeoutError);
    assert.match(timeout.recentOutput, /5000/);
    const ac = new AbortController();
    const aborted = vm.waitFor('never printed', { signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, AbortError);

    assert.throws(() => vm.type('x'.repeat(64 * 1024 + 1)), InputOverflowError);

    const iterator = vm.outputChunks();
    vm.type('poweroff\n');
    let seen = '';
    for await (const chunk of iterator) seen += chunk;
    assert.match(seen, /reboot: Power down/);
    assert.deepEqual(await vm.stopped, { kind: 'poweroff', status: 0 });
    await assert.rejects(vm.waitFor('anything at all'), GuestStoppedError);
  } finally {
    await vm.stop();
  }
});

test('an AbortSignal given to boot stops the guest', { skip: noGuest, timeout: 300_000 }, async () => {
  const ac = new AbortController();
  const vm = Vm.boot({ engine: TEST_ENGINE, signal: ac.signal });
  await vm.waitFor('Run /init', { timeoutMs: 180_000 });
  ac.abort();
  assert.deepEqual(await vm.stopped, { kind: 'quit', status: 0 });
});

test('bad options and missing files are typed errors, thrown by boot', () => {
  assert.throws(() => Vm.boot({ memory: '4M' }), ConfigError);
  assert.throws(() => Vm.boot({ memory: 1.5 }), ConfigError);
  assert.throws(() => Vm.boot({ engine: 'warp' as 'interp' }), ConfigError);
  assert.throws(() => Vm.boot({ disks: ['x.img,fast'] }), ConfigError);
  assert.throws(() => Vm.boot({ kernel: join(tmpdir(), 'no-such-bzImage') }), VmStartError);
  assert.throws(() => Vm.boot({ disks: [{ path: join(tmpdir(), 'no-such-disk.img') }] }), (e: Error) => e instanceof VmStartError && /no-such-disk\.img does not exist/.test(e.message));
});
