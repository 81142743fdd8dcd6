import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootError, e820Map, loadLinux, parseBzImage } from '../../../src/boot/linux.ts';
import { GuestMemory } from '../../../src/memory/guest-memory.ts';
import { BOOT_CMDLINE_ADDR, BOOT_PARAMS_ADDR } from '../../../src/machine/layout.ts';

/** A synthetic bzImage: setup header + payload, as the boot protocol lays it out. */
function fakeBzImage(opts: { version?: number; payloadBytes?: number; setupSects?: number; truncateBy?: number } = {}): Uint8Array {
  const setupSects = opts.setupSects ?? 4;
  const payloadBytes = opts.payloadBytes ?? 64 * 1024;
  const img = new Uint8Array((setupSects + 1) * 512 + payloadBytes);
  const v = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  v.setUint32(0x1f4, payloadBytes / 16, true);
  v.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb;
  img[0x201] = 0x6a; // jump over the header: header ends at 0x26c
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, opts.version ?? 0x020f, true);
  img[0x211] = 0x01;
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x238, 2047, true);
  v.setUint32(0x260, 0x200000, true);
  for (let i = 0; i < payloadBytes; i++) img[(setupSects + 1) * 512 + i] = i & 0xff;
  return opts.truncateBy ? img.subarray(0, img.length - opts.truncateBy) : img;
}

test('parses the setup header', () => {
  const info = parseBzImage(fakeBzImage(), 'k');
  assert.equal(info.protocolVersion, 0x020f);
  assert.equal(info.setupBytes, 5 * 512);
  assert.equal(info.code32Start, 0x100000);
  assert.equal(info.initSizeBytes, 0x200000);
});

test('rejects a file that is not a bzImage, naming it', () => {
  const junk = new Uint8Array(4096).fill(0x41);
  assert.throws(() => parseBzImage(junk, '/tmp/junk'), (e: Error) => e instanceof BootError && /\/tmp\/junk is not a bzImage/.test(e.message));
  assert.throws(() => parseBzImage(new Uint8Array(10), 'tiny'), /too small/);
});

test('rejects an old boot protocol and a truncated image', () => {
  assert.throws(() => parseBzImage(fakeBzImage({ version: 0x0204 }), 'old'), /protocol 2\.04.*2\.06/);
  assert.throws(() => parseBzImage(fakeBzImage({ truncateBy: 100 }), 'cut'), /cut is truncated/);
});

test('loads kernel, command line, initrd and boot_params', () => {
  const mem = new GuestMemory(64 * 1024 * 1024);
  const kernel = fakeBzImage();
  const initrd = new Uint8Array(100_000).fill(7);
  const entry = loadLinux(mem, { kernel, kernelName: 'k', initrd, initrdName: 'i', cmdline: 'console=ttyS0' });
  assert.equal(entry.eip, 0x100000);
  assert.equal(entry.esi, BOOT_PARAMS_ADDR);
  assert.deepEqual(mem.slice(0x100000, 16), kernel.subarray(5 * 512, 5 * 512 + 16));
  assert.equal(new TextDecoder().decode(mem.slice(BOOT_CMDLINE_ADDR, 13)), 'console=ttyS0');
  assert.equal(mem.read8(BOOT_CMDLINE_ADDR + 13), 0);
  const bp = BOOT_PARAMS_ADDR;
  assert.equal(mem.read32(bp + 0x202), 0x53726448, 'setup header copied');
  assert.equal(mem.read8(bp + 0x210), 0xff, 'type_of_loader');
  assert.equal(mem.read32(bp + 0x228), BOOT_CMDLINE_ADDR);
  assert.equal(mem.read32(bp + 0x218), entry.initrdAddr);
  assert.equal(mem.read32(bp + 0x21c), initrd.length);
  assert.equal(entry.initrdAddr % 4096, 0);
  assert.ok(entry.initrdAddr + initrd.length <= mem.sizeBytes);
  assert.ok(entry.initrdAddr >= 0x100000 + 0x200000, 'initrd above the kernel init_size');
  assert.equal(mem.read8(entry.initrdAddr + 500), 7);
  const map = e820Map(mem.sizeBytes);
  assert.equal(mem.read8(bp + 0x1e8), map.length);
  assert.equal(Number(mem.read64(bp + 0x2d0 + 3 * 20 + 8)), mem.sizeBytes - 0x100000);
  assert.equal(mem.read32(bp + 0x2d0 + 3 * 20 + 16), 1);
});

test('refuses memory too small for kernel and initrd', () => {
  const mem = new GuestMemory(4 * 1024 * 1024);
  const initrd = new Uint8Array(3 * 1024 * 1024);
  assert.throws(() => loadLinux(mem, { kernel: fakeBzImage(), kernelName: 'k', initrd, initrdName: 'i', cmdline: '' }), /too small.*--memory/);
});

test('refuses a command line longer than the kernel accepts', () => {
  const mem = new GuestMemory(64 * 1024 * 1024);
  assert.throws(() => loadLinux(mem, { kernel: fakeBzImage(), kernelName: 'k', cmdline: 'x'.repeat(3000) }), /command line is 3000 bytes/);
});
