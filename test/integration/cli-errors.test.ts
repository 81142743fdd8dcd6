import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, chmodSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KERNEL } from '../../src/cli/main.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lilyvm.js');
const dir = mkdtempSync(join(tmpdir(), 'lilyvm-cli-'));

function lilyvm(...args: string[]): { status: number | null; stderr: string; stdout: string } {
  return run(process.execPath, [BIN, ...args]);
}

function run(cmd: string, args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, input: '' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** root reads any file, so an unreadable image needs an unprivileged user: setpriv(1) gives one. */
function unprivilegedRunner(): string | false {
  if (process.getuid?.() !== 0) return 'yes';
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    return 'setpriv';
  } catch {
    return false;
  }
}

function expectError(args: string[], pattern: RegExp): void {
  const r = lilyvm('run', ...args);
  assert.notEqual(r.status, 0, `exit status for ${args.join(' ')}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
}

/** A wrong command line: exit status 2 and one line on stderr that points at --help. */
function expectUsage(args: string[], pattern: RegExp): void {
  const r = lilyvm(...args);
  assert.equal(r.status, 2, `exit status for ${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, /^lilyvm: [^\n]+ \(see lilyvm run --help\)\n$/, 'one line with the hint');
  assert.match(r.stderr, pattern);
  assert.equal(r.stdout, '');
}

test('an unknown option, an option without its value, a bad value: one line, exit status 2', () => {
  expectUsage(['run', '--frobnicate'], /unknown option --frobnicate/);
  expectUsage(['run', '-x'], /unknown option -x/);
  expectUsage(['run', '--memory'], /option --memory needs a value/);
  expectUsage(['run', '--memory', '-5'], /option --memory needs a value, and the next argument looks like an option/);
  expectUsage(['run', '--memory=-5'], /Memory size "-5" is not a size/);
  expectUsage(['run', '--memory', 'plenty'], /not a size/);
  expectUsage(['run', '--memory', '4096M'], /too large/);
  expectUsage(['run', '--engine', 'warp'], /Engine "warp" is not available/);
  expectUsage(['run', '--trace', 't', '--trace-count', 'many'], /--trace-count "many" is not a whole number/);
  expectUsage(['run', '--disk', 'x.img,fast'], /--disk option "fast" is unknown/);
  expectUsage(['run', 'extra'], /unexpected argument "extra"/);
  expectUsage(['run', '--no-reboot=yes'], /option --no-reboot takes no value/);
  expectUsage(['start'], /unknown command "start"/);
});

test('--version prints the package version', () => {
  const version = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')).version;
  for (const args of [['--version'], ['-V'], ['run', '--version']]) {
    const r = lilyvm(...args);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `lilyvm ${version}\n`);
  }
});

test('a missing or bad file is exit status 1', () => {
  assert.equal(lilyvm('run', '--kernel', join(dir, 'nope')).status, 1);
  assert.equal(lilyvm('run', '--disk', join(dir, 'absent.img')).status, 1);
});

test('--memory 2048M, the documented maximum, boots', { skip: !existsSync(DEFAULT_KERNEL) && 'the default guest kernel is not built', timeout: 300_000 }, () => {
  const r = spawnSync(process.execPath, [BIN, 'run', '--memory', '2048M'], { input: 'free -m | grep Mem\npoweroff -f\n', encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Mem: +\d{3,4} /);
});

test('--help describes the options', () => {
  const r = lilyvm('run', '--help');
  assert.equal(r.status, 0);
  for (const opt of ['--kernel', '--initrd', '--append', '--disk', '--memory', '--engine', '--no-reboot', '--trace', '--version']) assert.match(r.stdout, new RegExp(opt));
  assert.match(r.stdout, /Exit status:/);
});

test('a missing kernel file', () => {
  expectError(['--kernel', join(dir, 'nope')], /Kernel image .*nope does not exist/);
});

test('a file that is not a bzImage', () => {
  const p = join(dir, 'notes.txt');
  writeFileSync(p, 'hello\n'.repeat(200));
  expectError(['--kernel', p], /notes\.txt is not a bzImage/);
});

test('a truncated bzImage', { skip: !existsSync(DEFAULT_KERNEL) && 'the default guest kernel is not built' }, () => {
  const p = join(dir, 'cut-bzImage');
  const k = readFileSync(DEFAULT_KERNEL);
  writeFileSync(p, k.subarray(0, k.length >> 1));
  expectError(['--kernel', p], /cut-bzImage is truncated/);
});

test('memory too small or absurdly large', () => {
  expectError(['--memory', '4M'], /too small/);
  expectError(['--memory', '1T'], /too large/);
  expectError(['--memory', 'plenty'], /not a size/);
});

test('a missing disk, a directory as disk, a disk of the wrong size', () => {
  expectError(['--disk', join(dir, 'absent.img')], /absent\.img/);
  expectError(['--disk', dir], /not a regular file/);
  const odd = join(dir, 'odd.img');
  writeFileSync(odd, Buffer.alloc(1000));
  expectError(['--disk', odd], /multiple of 512/);
});

test('a read-only disk opened read-write', () => {
  const p = join(dir, 'ro.img');
  writeFileSync(p, Buffer.alloc(1024 * 1024));
  chmodSync(p, 0o444);
  expectError(['--disk', p], /read-only.*,ro/);
  assert.equal(readFileSync(p).length, 1024 * 1024, 'image untouched');
});

test('an unreadable disk', { skip: !unprivilegedRunner() && 'running as root without setpriv(1): root can read any file' }, () => {
  const sub = mkdtempSync(join(tmpdir(), 'lilyvm-unreadable-'));
  chmodSync(sub, 0o755);
  const p = join(sub, 'secret.img');
  writeFileSync(p, Buffer.alloc(1024 * 1024));
  chmodSync(p, 0o000);
  const args = [BIN, 'run', '--disk', p];
  const r = process.getuid?.() === 0
    ? run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args])
    : run(process.execPath, args);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /secret\.img is not readable/);
});

test('a disk already open for writing in another lilyvm is refused (status 1); read-only it still attaches', { skip: !existsSync(DEFAULT_KERNEL) && 'the default guest kernel is not built', timeout: 300_000 }, async () => {
  const { spawn } = await import('node:child_process');
  const disk = join(dir, 'locked.img');
  writeFileSync(disk, Buffer.alloc(1024 * 1024));
  const first = spawn(process.execPath, [BIN, 'run', '--disk', disk], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      first.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('LilyVM guest ready')) resolve();
      });
      first.once('exit', (code) => reject(new Error(`the first lilyvm exited (${code}) before its guest was up`)));
    });
    const second = lilyvm('run', '--disk', disk);
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`locked\\.img is already open for writing in another LilyVM process \\(pid ${first.pid}\\): stop that one, or attach it read-only with --disk .*locked\\.img,ro`));
    const ro = spawnSync(process.execPath, [BIN, 'run', '--disk', `${disk},ro`], { input: 'cat /sys/block/vda/ro\npoweroff -f\n', encoding: 'utf8', timeout: 240_000 });
    assert.equal(ro.status, 0, ro.stderr);
    assert.match(ro.stdout, /^1\r?$/m);
  } finally {
    first.stdin.end('poweroff -f\n');
    await new Promise((resolve) => first.once('exit', resolve));
  }
  assert.equal(lilyvm('run', '--disk', join(dir, 'absent.img')).status, 1);
});
