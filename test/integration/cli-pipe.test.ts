import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KERNEL } from '../../src/cli/main.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lilyvm.js');
const skip = !existsSync(DEFAULT_KERNEL) && 'the default guest (guest/out/bzImage) is not built';

test('a script drives the console through a pipe; --trace writes the chosen instructions', { skip, timeout: 600_000 }, () => {
  const trace = join(mkdtempSync(join(tmpdir(), 'lilyvm-trace-')), 'trace.txt');
  const r = spawnSync(process.execPath, [BIN, 'run', '--trace', trace, '--trace-start', '1000', '--trace-count', '50'], {
    input: 'echo piped-$((40+2))\npoweroff -f\n',
    encoding: 'utf8',
    timeout: 540_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /piped-42/);
  const lines = readFileSync(trace, 'utf8').trim().split('\n');
  assert.equal(lines.length, 50);
  assert.match(lines[0], /^1000 0010:[0-9a-f]{8} [0-9a-f]+ +eax=[0-9a-f]{8} ecx=.* eflags=[0-9a-f]{8}$/);
  assert.match(lines[49], /^1049 /);
});
