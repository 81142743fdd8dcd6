// The web page in a real browser: `lilyvm web` serves it, headless Chromium (Debian's
// chromium package, driven by puppeteer-core) boots the guest to its prompt, types
// `uname -a`, attaches a small ext2 image as /dev/vda and reads a file from it, and
// downloads the changed image. Screenshots go to test-output/web/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGuest } from './guest-session.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, 'test-output', 'web');
const BROWSER = [process.env.LILYVM_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));
const skip = noGuest || (!BROWSER && 'no Chromium found (Debian chromium, or LILYVM_CHROMIUM=path); .ci/run installs it')
  || (!existsSync(join(ROOT, 'dist', 'web', 'index.html')) && 'the web page is not built: npm run build');

/** Start `lilyvm web --port 0` and return its address. */
async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'lilyvm.js'), 'web', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /LilyVM web page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`lilyvm web exited (${code}): ${out}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

test('the page boots the guest in Chromium: uname, paste, resize, stop and restart, a file read from an attached disk, a snapshot saved and restored', { skip, timeout: 600_000 }, async () => {
  const { default: puppeteer } = await import('puppeteer-core');
  mkdirSync(OUT, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-web-'));
  mkdirSync(join(dir, 'root'));
  writeFileSync(join(dir, 'root', 'hello.txt'), 'hello from the attached disk\n');
  const image = join(dir, 'small.img');
  execFileSync('mke2fs', ['-q', '-t', 'ext2', '-d', join(dir, 'root'), image, '2M']);

  const server = await startServer();
  const browser = await puppeteer.launch({ executablePath: BROWSER, headless: true, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 700 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push((e as Error).message));
    await page.goto(server.url);
    const screen = () => page.evaluate(() => (globalThis as unknown as { lilyvm: { screen(): string } }).lilyvm.screen());
    const waitScreen = async (re: RegExp, timeout: number) => {
      try {
        await page.waitForFunction(
          (source: string, flags: string) => new RegExp(source, flags).test((globalThis as unknown as { lilyvm: { screen(): string } }).lilyvm.screen()), { timeout }, re.source, re.flags);
      } catch (e) {
        await page.screenshot({ path: join(OUT, 'failure.png') }).catch(() => {});
        const status = await page.$eval('#status', (el) => el.textContent).catch(() => '?');
        throw new Error(`no ${re} on the page's terminal within ${timeout} ms (status: ${status}); screen:\n${(await screen()).trimEnd().split('\n').slice(-15).join('\n')}`, { cause: e });
      }
    };
    // The prompt after the banner (a late kernel message, the clocksource switch, may follow it).
    await waitScreen(/LilyVM guest ready[\s\S]*~ # /, 180_000);
    // The guest files loaded with the progress bar, which went to 100% and hid.
    assert.deepEqual(await page.$eval('#progress', (e) => [(e as unknown as { hidden: boolean }).hidden, (e.firstElementChild as unknown as { style: { width: string } }).style.width]), [true, '100%']);
    assert.match(await page.$eval('#status', (e) => e.textContent ?? ''), /running · [\d.]+ M instructions\/s/);
    await page.click('#terminal');
    await page.keyboard.type('uname -a\n');
    await waitScreen(/Linux lilyvm \S+ .* i686/, 60_000);
    await page.screenshot({ path: join(OUT, 'uname.png') });

    // Paste: a clipboard event on xterm's input reaches the guest like typing.
    await page.evaluate((text: string) => {
      const g = globalThis as unknown as { document: { querySelector(s: string): { dispatchEvent(e: unknown): void } }; DataTransfer: new () => { setData(t: string, v: string): void }; ClipboardEvent: new (t: string, i: object) => unknown };
      const data = new g.DataTransfer();
      data.setData('text/plain', text);
      g.document.querySelector('.xterm-helper-textarea').dispatchEvent(new g.ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, 'echo pasted-$((2+3))\n');
    await waitScreen(/^pasted-5$/m, 30_000);

    // Resize: the terminal follows the window.
    const size = () => page.evaluate(() => (globalThis as unknown as { lilyvm: { size(): { cols: number; rows: number } } }).lilyvm.size());
    const before = await size();
    await page.setViewport({ width: 640, height: 480 });
    await page.waitForFunction((cols: number) => (globalThis as unknown as { lilyvm: { size(): { cols: number } } }).lilyvm.size().cols < cols, { timeout: 10_000 }, before.cols);
    assert.ok((await size()).rows < before.rows);
    await page.setViewport({ width: 1000, height: 700 });

    // Stop, then Restart: the guest boots again.
    await page.click('#stop');
    await page.waitForFunction(() => /^stopped \(quit\)/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent));
    await page.click('#restart');
    await waitScreen(/LilyVM guest ready[\s\S]*~ # /, 180_000);

    // Attach the image: the guest boots again with it as /dev/vda.
    const input = await page.$('#disk');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(image);
    await page.waitForFunction(() => !(globalThis as unknown as { document: { getElementById(id: string): { hidden: boolean } } }).document.getElementById('disk-note').hidden);
    await waitScreen(/LilyVM guest ready[\s\S]*~ # /, 180_000);
    await page.click('#terminal');
    await page.keyboard.type('mount /dev/vda /mnt && cat /mnt/hello.txt && echo changed > /mnt/new.txt && umount /mnt && echo done-$((6*7))\n');
    await waitScreen(/hello from the attached disk[\s\S]*done-42/, 60_000);
    await page.screenshot({ path: join(OUT, 'disk.png') });
    assert.match(await screen(), /hello from the attached disk/);

    // Download the changed image; it holds the guest's new file.
    const downloads = join(dir, 'downloads');
    mkdirSync(downloads);
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await page.click('#download');
    const deadline = Date.now() + 30_000;
    while (!readdirSync(downloads).some((f) => f === 'small.img') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const saved = readFileSync(join(downloads, 'small.img'));
    assert.equal(saved.length, readFileSync(image).length);
    assert.ok(saved.includes(Buffer.from('changed\n')), 'the download has the guest\'s write');
    assert.equal(readFileSync(image).includes(Buffer.from('changed\n')), false, 'the user\'s file is untouched');

    // Save a snapshot to a file, boot afresh, and restore it: the same shell, the same disk.
    await page.click('#terminal');
    await page.keyboard.type('export KEPT=snap-$((3*4))\n');
    await waitScreen(/export KEPT[^\n]*\n[\s\S]*~ # /, 30_000);
    // ash asks the terminal for the cursor position after each prompt (ESC [ 6 n); let the
    // answer arrive first, or the restored shell would still wait for it and eat typed keys.
    await new Promise((r) => setTimeout(r, 500));
    await page.click('#save');
    const snapshotDeadline = Date.now() + 60_000;
    while (!readdirSync(downloads).includes('lilyvm.snapshot') && Date.now() < snapshotDeadline) await new Promise((r) => setTimeout(r, 100));
    const snapshot = join(downloads, 'lilyvm.snapshot');
    assert.equal(readFileSync(snapshot).toString('latin1', 0, 8), 'LILYSNAP');
    await page.click('#restart');
    await waitScreen(/LilyVM guest ready[\s\S]*~ # /, 180_000);
    const starts = () => page.evaluate(() => (globalThis as unknown as { lilyvm: { starts(): number } }).lilyvm.starts());
    const startsBefore = await starts();
    const restoreInput = await page.$('#restore');
    await (restoreInput as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(snapshot);
    // The restored machine, not the one booted before it: a new start, then running.
    await page.waitForFunction((n: number) => {
      const g = globalThis as unknown as { lilyvm: { starts(): number; state(): string } };
      return g.lilyvm.starts() > n && /^running/.test(g.lilyvm.state());
    }, { timeout: 60_000 }, startsBefore);
    await page.click('#terminal');
    // A fresh prompt first: the restored shell gets a new (reset, empty) terminal.
    await page.keyboard.type('\n');
    await waitScreen(/~ # /, 30_000);
    await page.keyboard.type('echo restored-$KEPT; mount /dev/vda /mnt && cat /mnt/new.txt\n');
    await waitScreen(/^restored-snap-12$[\s\S]*^changed$/m, 60_000);
    await page.screenshot({ path: join(OUT, 'restored.png') });
    // lilyvm run cannot resume it: the disk is inside, and says so.
    const cli = spawnSync(process.execPath, [join(ROOT, 'bin', 'lilyvm.js'), 'run', '--restore', snapshot], { encoding: 'utf8', input: '' });
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /was saved by the web page, with its disk inside: restore it there/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.stop();
  }
});
