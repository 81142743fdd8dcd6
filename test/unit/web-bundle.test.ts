// The browser bundle's rule: nothing it bundles may import a Node module. The check is
// esbuild's plugin in scripts/build-web.mjs; here it must refuse a node: import (and a bare
// built-in), and the real page and worker entries must pass it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
// @ts-expect-error: a plain .mjs build script without types
import { noNode } from '../../scripts/build-web.mjs';

const ROOT = join(import.meta.dirname, '..', '..');

async function bundle(entry: string): Promise<string[]> {
  try {
    await build({ entryPoints: [entry], bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent', plugins: [noNode] });
    return [];
  } catch (e) {
    return (e as { errors: { text: string }[] }).errors.map((x) => x.text);
  }
}

test('the web bundle refuses Node modules and the page and worker pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-bundle-'));
  writeFileSync(join(dir, 'uses-node.ts'), "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n");
  writeFileSync(join(dir, 'uses-bare.ts'), "import { join } from 'path';\nexport const y = join;\n");
  const a = await bundle(join(dir, 'uses-node.ts'));
  assert.match(a.join('\n'), /node:fs imported by .*uses-node\.ts: the browser bundle cannot use Node modules/);
  const b = await bundle(join(dir, 'uses-bare.ts'));
  assert.match(b.join('\n'), /path imported by .*uses-bare\.ts/);
  assert.deepEqual(await bundle(join(ROOT, 'src', 'web', 'worker.ts')), []);
  assert.deepEqual(await bundle(join(ROOT, 'src', 'web', 'page.ts')), []);
});
