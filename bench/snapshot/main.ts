// Snapshot figures for a 256 MiB guest: save time, file size, restore time (to the first
// command answered), LilyVM next to v86 (save_state/restore_state) in the same run.
//
//   npm run bench:snapshot [-- --memory 256 --dirty 16]
//
// Both guests boot the default guest to its prompt and fill `--dirty` MiB of page cache
// with random data first, so that the snapshot holds more than the kernel. Times are host
// wall milliseconds, min of `--repeat` saves and restores.
import { readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_APPEND, DEFAULT_INITRD, DEFAULT_KERNEL, Vm } from '../../src/index.ts';

const { values } = parseArgs({ options: { memory: { type: 'string' }, dirty: { type: 'string' }, repeat: { type: 'string' }, seabios: { type: 'string' } } });
const memoryMiB = Number(values.memory ?? 256);
const dirtyMiB = Number(values.dirty ?? 16);
const repeat = Number(values.repeat ?? 3);
const seabios = values.seabios ?? '/usr/share/seabios';
const PROMPT = /~ # (?:\x1b\[6n)?$/;
const fill = `dd if=/dev/urandom of=/tmp/fill bs=1M count=${dirtyMiB} 2>/dev/null; echo filled`;

interface Figures { saveMs: number; bytes: number; restoreMs: number }

async function lilyvm(): Promise<Figures> {
  const vm = Vm.boot({ memory: `${memoryMiB}M` });
  await vm.waitFor(PROMPT, { timeoutMs: 300_000 });
  await vm.run(fill, { timeoutMs: 300_000 });
  const file = join(tmpdir(), `lilyvm-bench-${process.pid}.snap`);
  let saveMs = Infinity;
  let restoreMs = Infinity;
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    await vm.saveSnapshot(file);
    saveMs = Math.min(saveMs, performance.now() - t);
  }
  await vm.stop();
  const bytes = statSync(file).size;
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    const r = Vm.restore(file);
    await r.run('true');
    restoreMs = Math.min(restoreMs, performance.now() - t);
    await r.stop();
  }
  rmSync(file);
  return { saveMs, bytes, restoreMs };
}

function image(path: string): ArrayBuffer {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

async function v86(): Promise<Figures | string> {
  let V86: typeof import('v86').V86;
  try {
    ({ V86 } = await import('v86'));
  } catch (e) {
    return `v86 not installed (${(e as Error).message})`;
  }
  let bios: ArrayBuffer;
  let vgaBios: ArrayBuffer;
  try {
    bios = image(join(seabios, 'bios.bin'));
    vgaBios = image(join(seabios, 'vgabios-stdvga.bin'));
  } catch (e) {
    return `no SeaBIOS for v86 in ${seabios} (Debian seabios): ${(e as Error).message}`;
  }
  const wasm = join(dirname(createRequire(import.meta.url).resolve('v86')), 'v86.wasm');
  const emulator = new V86({
    wasm_path: wasm, memory_size: memoryMiB << 20, bios: { buffer: bios }, vga_bios: { buffer: vgaBios },
    bzimage: { buffer: image(DEFAULT_KERNEL) }, initrd: { buffer: image(DEFAULT_INITRD) }, cmdline: DEFAULT_APPEND,
    autostart: true, disable_keyboard: true, disable_mouse: true, disable_speaker: true,
  });
  let out = '';
  emulator.add_listener('serial0-output-byte', (b: number) => (out += String.fromCharCode(b)));
  const wait = async (re: RegExp, ms: number) => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > end) throw new Error(`v86: no ${re} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const type = (s: string) => emulator.serial_send_bytes(0, new TextEncoder().encode(s));
  await wait(PROMPT, 300_000);
  out = '';
  type(`${fill}\n`);
  await wait(/\nfilled\r?\n/, 300_000);
  await wait(PROMPT, 60_000);
  let saveMs = Infinity;
  let state: ArrayBuffer | undefined;
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    state = await emulator.save_state();
    saveMs = Math.min(saveMs, performance.now() - t);
  }
  let restoreMs = Infinity;
  for (let i = 0; i < repeat; i++) {
    out = '';
    const t = performance.now();
    await emulator.restore_state(state!);
    type('echo restored-ok\n');
    await wait(/\nrestored-ok\r?\n/, 60_000);
    restoreMs = Math.min(restoreMs, performance.now() - t);
  }
  await emulator.destroy();
  return { saveMs, bytes: state!.byteLength, restoreMs };
}

const lily = await lilyvm();
const peer = await v86();
const fmt = (n: number) => n.toFixed(0).padStart(8);
const mb = (n: number) => (n / 1e6).toFixed(1).padStart(8);
console.log(`Snapshot of a ${memoryMiB} MiB guest at its prompt with ${dirtyMiB} MiB of random data in /tmp; min of ${repeat}`);
console.log('                       LilyVM       v86   LilyVM/v86');
const row = (label: string, a: number, b: number | undefined, f: (n: number) => string) =>
  console.log(`${label.padEnd(18)} ${f(a)}  ${b === undefined ? '       -' : f(b)}   ${b === undefined ? '   -' : (a / b).toFixed(2).padStart(6)}x`);
const p = typeof peer === 'string' ? undefined : peer;
row('save (ms)', lily.saveMs, p?.saveMs, fmt);
row('size (MB)', lily.bytes, p?.bytes, mb);
row('restore (ms)', lily.restoreMs, p?.restoreMs, fmt);
if (typeof peer === 'string') console.log(`v86: ${peer}`);
console.log('LilyVM: file on disk (zero pages left out), restore until a shell command answers; v86: save_state() ArrayBuffer in memory, restore_state() until a command answers.');
