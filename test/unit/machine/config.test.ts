import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseDisk, parseMemorySize } from '../../../src/machine/config.ts';
import { parseRunArgs } from '../../../src/cli/main.ts';
import { EscapeFilter } from '../../../src/host/terminal.ts';

test('memory sizes', () => {
  assert.equal(parseMemorySize('256M'), 256 * 1024 * 1024);
  assert.equal(parseMemorySize('1G'), 1024 ** 3);
  assert.equal(parseMemorySize('128'), 128 * 1024 * 1024);
  assert.equal(parseMemorySize('65536K'), 64 * 1024 * 1024);
  assert.throws(() => parseMemorySize('1M'), (e: Error) => e instanceof ConfigError && /too small/.test(e.message));
  assert.throws(() => parseMemorySize('64G'), /too large/);
  assert.throws(() => parseMemorySize('lots'), /not a size/);
});

test('disk options', () => {
  assert.deepEqual(parseDisk('a.img'), { path: 'a.img', readOnly: false });
  assert.deepEqual(parseDisk('a.img,ro'), { path: 'a.img', readOnly: true });
  assert.throws(() => parseDisk('a.img,fast'), /unknown/);
  assert.throws(() => parseDisk(',ro'), /names no file/);
});

test('run arguments', () => {
  const c = parseRunArgs(['--memory', '512M', '--disk', 'x.img,ro', '--disk', 'y.img', '--append', 'quiet', '--trace', 't.txt', '--trace-count', '10']);
  assert.equal(c.memoryBytes, 512 * 1024 * 1024);
  assert.deepEqual(c.disks, [{ path: 'x.img', readOnly: true }, { path: 'y.img', readOnly: false }]);
  assert.equal(c.cmdline, 'quiet');
  assert.deepEqual(c.trace, { path: 't.txt', start: 0, count: 10 });
  assert.ok(c.initrdPath, 'default guest brings its initramfs');
  assert.equal(parseRunArgs(['--kernel', 'k']).initrdPath, undefined);
  assert.throws(() => parseRunArgs(['--engine', 'warp']), /not available/);
  assert.throws(() => parseRunArgs(['--bogus']), /unknown option --bogus/);
  assert.equal(parseRunArgs([]).noReboot, false);
  assert.equal(parseRunArgs(['--no-reboot']).noReboot, true);
});

test('Ctrl-A X quits, Ctrl-A S asks for a snapshot, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-C passes through', () => {
  const f = new EscapeFilter();
  assert.deepEqual(f.filter(Uint8Array.of(0x61, 0x03)), { bytes: Uint8Array.of(0x61, 0x03), quit: false, snapshot: false });
  assert.deepEqual(f.filter(Uint8Array.of(0x01, 0x01, 0x62)), { bytes: Uint8Array.of(0x01, 0x62), quit: false, snapshot: false });
  assert.deepEqual(f.filter(Uint8Array.of(0x01, 0x73, 0x63)), { bytes: Uint8Array.of(0x63), quit: false, snapshot: true });
  assert.deepEqual(f.filter(Uint8Array.of(0x01)), { bytes: Uint8Array.of(), quit: false, snapshot: false });
  assert.deepEqual(f.filter(Uint8Array.of(0x78)), { bytes: Uint8Array.of(), quit: true, snapshot: false });
});

test('console input: the terminal stops reading while more than INPUT_HIGH_WATER bytes wait for the guest, and reads on once it drains', async () => {
  const { PassThrough } = await import('node:stream');
  const { attachTerminal, INPUT_HIGH_WATER } = await import('../../../src/host/terminal.ts');
  const input = new PassThrough() as unknown as NodeJS.ReadStream;
  let backlog = 0;
  let received = 0;
  const detach = attachTerminal({ input, onData: (b) => { backlog += b.length; received += b.length; }, onQuit: () => {}, backlog: () => backlog });
  input.write(Buffer.alloc(INPUT_HIGH_WATER + 1, 0x61));
  await new Promise((r) => setImmediate(r));
  assert.equal(received, INPUT_HIGH_WATER + 1);
  assert.equal(input.isPaused(), true, 'paused above the high-water mark');
  input.write(Buffer.alloc(100, 0x62));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(received, INPUT_HIGH_WATER + 1, 'nothing more is read while the guest is behind');
  backlog = 0; // the guest has read it all
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(input.isPaused(), false);
  assert.equal(received, INPUT_HIGH_WATER + 101, 'the rest arrives after the drain');
  detach();
});
