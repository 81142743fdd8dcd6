// The default guest in the browser and under Node, in the same run: time to the shell
// prompt and instructions per second over the boot, and what the page transfers.
//
//   npm run bench:web [-- --repeat 3]
//
// The browser is headless Chromium (Debian chromium, or LILYVM_CHROMIUM) through
// puppeteer-core, on the page `lilyvm web` serves. Times are host wall seconds, min of --repeat.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { DEFAULT_INITRD, DEFAULT_KERNEL, Vm } from '../../src/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const WEB = join(ROOT, 'dist', 'web');
const { values } = parseArgs({ options: { repeat: { type: 'string' } } });
const repeat = Number(values.repeat ?? 3);
const PROMPT = /~ # (?:\x1b\[6n)?$/;
const BROWSER = [process.env.LILYVM_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));

interface Boot { seconds: number; ips: number }

async function node(): Promise<Boot> {
  let best: Boot = { seconds: Infinity, ips: 0 };
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    const vm = Vm.boot();
    await vm.waitFor(PROMPT, { timeoutMs: 300_000 });
    const seconds = (performance.now() - t) / 1000;
    const ips = vm.instructionsRetired / seconds;
    await vm.stop();
    if (seconds < best.seconds) best = { seconds, ips };
  }
  return best;
}

async function browser(): Promise<Boot | string> {
  if (!BROWSER) return 'no Chromium (Debian chromium, or LILYVM_CHROMIUM)';
  if (!existsSync(join(WEB, 'index.html'))) return 'the page is not built: npm run build';
  const { default: puppeteer } = await import('puppeteer-core');
  const server = spawn(process.execPath, [join(ROOT, 'bin', 'lilyvm.js'), 'web', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => {
    let out = '';
    server.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  const b = await puppeteer.launch({ executablePath: BROWSER, headless: true, args: ['--no-sandbox'] });
  let best: Boot = { seconds: Infinity, ips: 0 };
  try {
    for (let i = 0; i < repeat; i++) {
      const page = await b.newPage();
      const t = performance.now();
      await page.goto(url);
      await page.waitForFunction(() => /~ # $/m.test((globalThis as unknown as { lilyvm: { screen(): string } }).lilyvm.screen()), { timeout: 300_000, polling: 20 });
      const seconds = (performance.now() - t) / 1000;
      // The count comes with the status messages (every 0.5 s): wait for one after the prompt.
      await new Promise((r) => setTimeout(r, 600));
      const retired = await page.evaluate(() => (globalThis as unknown as { lilyvm: { retired(): number } }).lilyvm.retired());
      const ips = retired / (seconds + 0.6);
      await page.close();
      if (seconds < best.seconds) best = { seconds, ips };
    }
  } finally {
    await b.close();
    server.kill('SIGTERM');
  }
  return best;
}

function transfer(): { raw: number; gzip: number; rows: string[] } {
  const files = ['index.html', 'page.js', 'worker.js', 'page.css', 'xterm.css'].map((f) => join(WEB, f)).concat([DEFAULT_KERNEL, DEFAULT_INITRD]);
  let raw = 0;
  let gzip = 0;
  const rows: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    const z = gzipSync(bytes, { level: 9 }).length;
    raw += bytes.length;
    gzip += z;
    rows.push(`  ${f.replace(ROOT + '/', '').padEnd(28)} ${(bytes.length / 1024).toFixed(0).padStart(7)} KiB  ${(z / 1024).toFixed(0).padStart(7)} KiB gzip`);
  }
  return { raw, gzip, rows };
}

const n = await node();
const w = await browser();
console.log(`Default guest to its shell prompt, min of ${repeat}: Node ${process.version} and headless ${BROWSER ?? 'browser'}`);
console.log('                          Node    browser   browser/Node');
if (typeof w === 'string') {
  console.log(`time to prompt (s)    ${n.seconds.toFixed(2).padStart(7)}          -`);
  console.log(`browser: ${w}`);
} else {
  console.log(`time to prompt (s)    ${n.seconds.toFixed(2).padStart(7)}    ${w.seconds.toFixed(2).padStart(7)}    ${(w.seconds / n.seconds).toFixed(2).padStart(7)}x`);
  console.log(`M instructions/s      ${(n.ips / 1e6).toFixed(1).padStart(7)}    ${(w.ips / 1e6).toFixed(1).padStart(7)}    ${(w.ips / n.ips).toFixed(2).padStart(7)}x`);
}
const t = transfer();
console.log(`Page transfer: ${(t.raw / 1048576).toFixed(2)} MiB, ${(t.gzip / 1048576).toFixed(2)} MiB gzip -9`);
for (const r of t.rows) console.log(r);
