// Builds dist/web/: the page (page.js, index.html, CSS) and the machine's worker
// (worker.js), bundled by esbuild for the browser. The build fails if anything it bundles
// imports a node: module: the CPU, machine and devices must run unchanged in a browser.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');

/** Refuse node: imports (and Node built-ins by their bare names) with the importing file. */
export const noNode = {
  name: 'no-node-builtins',
  setup(b) {
    const builtins = new Set(createRequire(import.meta.url)('node:module').builtinModules);
    b.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, '');
      if (args.path.startsWith('node:') || (builtins.has(bare) && !args.path.startsWith('.'))) {
        return { errors: [{ text: `${args.path} imported by ${args.importer.replace(root + '/', '')}: the browser bundle cannot use Node modules (move it behind a host adapter)` }] };
      }
      return undefined;
    });
  },
};

export async function buildWeb() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: { page: join(root, 'src/web/page.ts'), worker: join(root, 'src/web/worker.ts') },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    metafile: true,
    logLevel: 'warning',
    plugins: [noNode],
  });
  copyFileSync(join(root, 'src/web/index.html'), join(out, 'index.html'));
  copyFileSync(join(root, 'src/web/page.css'), join(out, 'page.css'));
  copyFileSync(createRequire(import.meta.url).resolve('@xterm/xterm/css/xterm.css'), join(out, 'xterm.css'));
  return result.metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildWeb();
