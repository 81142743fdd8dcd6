// The npm package as a user gets it: `npm pack`, installed into a fresh project, runs the
// README's library example as plain JavaScript with node, type-checks it as a strict
// TypeScript consumer, and `npm install -g` gives a working `lilyvm` command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { noGuest } from './guest-session.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const work = mkdtempSync(join(tmpdir(), 'lilyvm-package-'));

function npm(args: string[], cwd: string): string {
  return execFileSync(NPM, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
}

/** The README's library example (between the library-example markers). */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- library-example -->\s*```js\n([\s\S]*?)```\s*<!-- \/library-example -->/.exec(readme);
  assert.ok(m, 'README has the library example between its markers');
  return m[1];
}

/**
 * npm pack without its prepare script: `npm test` has just built dist/, and rebuilding it here
 * would pull it away from the CLI tests running alongside. Standalone, build it once if missing.
 */
function ensureBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) npm(['run', 'build'], ROOT);
}

let tarball: string | undefined;
function pack(): string {
  if (tarball) return tarball;
  ensureBuilt();
  const out = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
  const info = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0].filename);
  return tarball;
}

test('npm pack gives compiled JavaScript with types, the default guest, and no TypeScript sources', { timeout: 300_000 }, () => {
  ensureBuilt();
  const out = npm(['pack', '--dry-run', '--ignore-scripts', '--json'], ROOT);
  const files = (JSON.parse(out.slice(out.indexOf('['))) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'bin/lilyvm.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/web/index.html', 'dist/web/worker.js', 'guest/out/bzImage', 'guest/out/initramfs.cpio']) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  const sources = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  assert.deepEqual(sources, [], 'no TypeScript sources');
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('src/')), 'no tests or src/');
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.deepEqual(manifest.dependencies ?? {}, {}, 'nothing needed at run time (tsx is a dev dependency)');
});

test('installed from the tarball: the README example runs with node, and type-checks with tsc --strict', { skip: noGuest, timeout: 600_000 }, () => {
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
  npm(['install', '--offline', pack()], app);
  const example = readmeExample();
  writeFileSync(join(app, 'app.mjs'), example);
  const run = spawnSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^Linux i686 0$/m);
  assert.match(run.stdout, /^poweroff 0$/m);

  writeFileSync(join(app, 'app.ts'), example);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const check = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
    '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'), 'app.ts'], { cwd: app, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  // And a wrong use is caught: the types are real.
  writeFileSync(join(app, 'bad.ts'), `import { Vm } from 'lilyvm';\nVm.boot({ memory: true });\n`);
  const bad = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
    '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'), 'bad.ts'], { cwd: app, encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /bad\.ts\(2,/);
});

test('npm install -g of the tarball gives a working lilyvm command', { skip: noGuest, timeout: 600_000 }, () => {
  const prefix = join(work, 'global');
  npm(['install', '-g', '--offline', '--prefix', prefix, pack()], work);
  const bin = join(prefix, 'bin', 'lilyvm');
  assert.ok(existsSync(bin), 'bin/lilyvm installed');
  assert.match(execFileSync(bin, ['--version'], { encoding: 'utf8' }), /^lilyvm \d+\.\d+\.\d+\n$/);
  const r = spawnSync(bin, ['run'], { input: 'uname -s\npoweroff\n', encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Linux\r?$/m);
});
