#!/usr/bin/env node
// Entry point of the `lilyvm` command: the compiled CLI in dist/ (npm run build; npm install builds it).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('lilyvm: dist/ is missing: run `npm run build` (npm install runs it)\n');
  process.exit(1);
}
const cli = await import(main.href);
process.exitCode = await cli.main(process.argv.slice(2));
