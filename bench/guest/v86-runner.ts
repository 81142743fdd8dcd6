// Child process of bench/guest/main.ts: boots one guest in v86, with its COM1 on stdin/stdout.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { V86 } from 'v86';
import type { RunnerStartMessage } from './console.ts';

export interface V86RunnerConfig {
  kernelPath: string;
  initrdPath: string;
  append: string;
  memoryMiB: number;
  biosPath: string;
  vgaBiosPath: string;
}

function readImage(path: string, what: string): ArrayBuffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const hint = what.includes('BIOS') ? ": install Debian's seabios package or pass --seabios DIR" : '';
    process.stderr.write(`v86 runner: ${what} ${path} cannot be read (${(e as Error).message})${hint}\n`);
    process.exit(2);
  }
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

const config = JSON.parse(process.argv[2] ?? '{}') as V86RunnerConfig;
const wasmPath = join(dirname(createRequire(import.meta.url).resolve('v86')), 'v86.wasm');
const images = {
  bios: readImage(config.biosPath, 'BIOS'),
  vgaBios: readImage(config.vgaBiosPath, 'VGA BIOS'),
  kernel: readImage(config.kernelPath, 'kernel'),
  initrd: readImage(config.initrdPath, 'initrd'),
};

process.on('disconnect', () => process.exit(0));
process.send?.({ kind: 'start' } satisfies RunnerStartMessage);

const emulator = new V86({
  wasm_path: wasmPath,
  memory_size: config.memoryMiB * 1024 * 1024,
  bios: { buffer: images.bios },
  vga_bios: { buffer: images.vgaBios },
  bzimage: { buffer: images.kernel },
  initrd: { buffer: images.initrd },
  cmdline: config.append,
  autostart: true,
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
});

let pending: number[] = [];
emulator.add_listener('serial0-output-byte', (byte) => {
  if (pending.length === 0) {
    setImmediate(() => {
      process.stdout.write(Uint8Array.from(pending));
      pending = [];
    });
  }
  pending.push(byte);
});
process.stdin.on('data', (chunk: Buffer) => emulator.serial_send_bytes(0, new Uint8Array(chunk)));
process.stdin.on('end', () => process.exit(0));
