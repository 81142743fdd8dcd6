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

test('Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-C passes through', () => {
  const f = new EscapeFilter();
  assert.deepEqual(f.filter(Uint8Array.of(0x61, 0x03)), { bytes: Uint8Array.of(0x61, 0x03), quit: false });
  assert.deepEqual(f.filter(Uint8Array.of(0x01, 0x01, 0x62)), { bytes: Uint8Array.of(0x01, 0x62), quit: false });
  assert.deepEqual(f.filter(Uint8Array.of(0x01)), { bytes: Uint8Array.of(), quit: false });
  assert.deepEqual(f.filter(Uint8Array.of(0x78)), { bytes: Uint8Array.of(), quit: true });
});
