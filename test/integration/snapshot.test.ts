// Whole-machine snapshots on the default guest: the same shell session after a restore,
// two restores of one snapshot giving the same result, disks that changed refused,
// corrupt and truncated files refused before anything starts, and the CLI's --restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_APPEND, SnapshotError, Vm } from '../../src/index.ts';
import { noGuest, PROMPT, TEST_ENGINE } from './guest-session.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lilyvm.js');
const dir = mkdtempSync(join(tmpdir(), 'lilyvm-snapshot-'));

async function booted(disks: string[] = []): Promise<Vm> {
  // quiet: no late kernel messages (the clocksource switch) among the commands' output.
  const vm = Vm.boot({ engine: TEST_ENGINE, disks, append: `${DEFAULT_APPEND} quiet` });
  await vm.waitFor(PROMPT, { timeoutMs: 180_000 });
  return vm;
}

test('a restored guest continues the same shell session; restoring one snapshot twice gives the same result', { skip: noGuest, timeout: 600_000 }, async () => {
  const file = join(dir, 'session.snap');
  const vm = await booted();
  try {
    await vm.run('cd /tmp && X=41 && echo snapshot-me > note');
    assert.equal((await vm.saveSnapshot(file)).bytes, statSync(file).size);
    // The original runs on, and changes what the snapshot saw.
    await vm.run('X=0; rm note');
  } finally {
    vm.type('poweroff\n');
    await vm.stopped;
  }
  const results: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = Vm.restore(file);
    try {
      // A command typed after the restore, in the shell that was saved: its variables, cwd and files.
      const out = await r.run('echo X=$((X+1)) cwd=$(pwd) note=$(cat note); md5sum /bin/busybox | cut -c1-8');
      assert.equal(out.exitCode, 0);
      assert.match(out.output, /^X=42 cwd=\/tmp note=snapshot-me\n[0-9a-f]{8}$/);
      results.push(out.output);
      r.type('poweroff\n');
      assert.equal((await r.stopped).kind, 'poweroff');
    } finally {
      await r.stop();
    }
  }
  assert.equal(results[0], results[1]);
  const header = readFileSync(file);
  assert.equal(header.toString('latin1', 0, 8), 'LILYSNAP');
  assert.equal(header.readUInt32LE(8), 1, 'format version');
  assert.ok(header.length < 64 << 20, `zero pages are left out: ${header.length} bytes for a 256 MiB guest`);
});

test('a disk that changed since the snapshot is refused; an unchanged one restores', { skip: noGuest, timeout: 600_000 }, async () => {
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, Buffer.alloc(4 << 20));
  const file = join(dir, 'disk.snap');
  const vm = await booted([disk]);
  try {
    await vm.run('mke2fs -q /dev/vda && mount /dev/vda /mnt && echo on-disk > /mnt/f && sync');
    await vm.saveSnapshot(file);
  } finally {
    vm.type('poweroff -f\n');
    await vm.stopped;
  }
  // The guest's poweroff did not write the disk after the snapshot: it restores, and the data is there.
  const r = Vm.restore(file);
  try {
    assert.deepEqual(await r.run('cat /mnt/f'), { output: 'on-disk', exitCode: 0 });
    await r.run('echo more > /mnt/g && sync');
    r.type('poweroff -f\n');
    await r.stopped;
  } finally {
    await r.stop();
  }
  assert.throws(() => Vm.restore(file), (e: Error) => e instanceof SnapshotError && /disk .*disk\.img changed since the snapshot was taken/.test(e.message));
});

test('a corrupt, truncated or foreign snapshot file is refused with a clear error', { skip: noGuest, timeout: 600_000 }, async () => {
  const file = join(dir, 'good.snap');
  const vm = await booted();
  await vm.saveSnapshot(file);
  await vm.stop();
  const good = readFileSync(file);
  const cases: [string, Buffer, RegExp][] = [
    ['truncated', good.subarray(0, good.length >> 1), /checksum does not match: the file is truncated or damaged/],
    ['flipped', Buffer.from(good.map((b, i) => (i === good.length >> 1 ? b ^ 1 : b))), /checksum does not match/],
    ['foreign', Buffer.from('hello, not a snapshot\n'.repeat(10)), /not a LilyVM snapshot/],
    ['empty', Buffer.alloc(0), /not a LilyVM snapshot/],
  ];
  for (const [name, bytes, pattern] of cases) {
    const p = join(dir, `${name}.snap`);
    writeFileSync(p, bytes);
    assert.throws(() => Vm.restore(p), (e: Error) => e instanceof SnapshotError && pattern.test(e.message), name);
  }
  const future = Buffer.from(good);
  future.writeUInt32LE(99, 8);
  writeFileSync(join(dir, 'future.snap'), future);
  assert.throws(() => Vm.restore(join(dir, 'future.snap')), /format version 99; this LilyVM reads version 1/);
  assert.throws(() => Vm.restore(join(dir, 'absent.snap')), /cannot be read/);
  // The CLI says the same in one line, exit status 1.
  const r = spawnSync(process.execPath, [BIN, 'run', '--restore', join(dir, 'truncated.snap')], { encoding: 'utf8', input: '' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^lilyvm: snapshot .*truncated\.snap is not usable: its checksum does not match/);
  const mixed = spawnSync(process.execPath, [BIN, 'run', '--restore', file, '--memory', '512M'], { encoding: 'utf8', input: '' });
  assert.equal(mixed.status, 2);
});

test('the CLI saves with SIGUSR1 and Ctrl-A S, and lilyvm run --restore resumes the session', { skip: noGuest, timeout: 600_000 }, async () => {
  const file = join(dir, 'cli.snap');
  const child = spawn(process.execPath, [BIN, 'run', '--snapshot', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const until = async (what: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!what()) {
      if (Date.now() > end) throw new Error(`timed out; stdout tail: ${out.slice(-500)} stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await until(() => / # /.test(out), 180_000);
  child.stdin.write('export SAVED=cli-$((6*7))\n');
  await until(() => out.includes('export SAVED'), 30_000);
  await new Promise((r) => setTimeout(r, 500));
  child.kill('SIGUSR1');
  await until(() => /snapshot saved to .*cli\.snap/.test(err), 60_000);
  assert.ok(existsSync(file));
  child.stdin.write('\x01s');
  await until(() => (err.match(/snapshot saved/g) ?? []).length === 2, 60_000);
  child.stdin.end('poweroff\n');
  const status = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(status, 0, err);
  const r = spawnSync(process.execPath, [BIN, 'run', '--restore', file], { input: 'echo restored-$SAVED\npoweroff\n', encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /restored-cli-42/);
});
