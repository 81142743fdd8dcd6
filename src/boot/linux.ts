// Linux/x86 boot protocol, 32-bit entry (Documentation/arch/x86/boot.rst).
import type { GuestMemory } from '../memory/guest-memory.ts';
import {
  BOOT_CMDLINE_ADDR, BOOT_CMDLINE_MAX_BYTES, BOOT_GDT_ADDR, BOOT_PARAMS_ADDR, BOOT_STACK_TOP,
  HIGH_RAM_START, KERNEL_LOAD_ADDR, LEGACY_HOLE_START, LOW_RAM_END,
} from '../machine/layout.ts';

export class BootError extends Error {}

// Setup header fields: offsets in the bzImage and in boot_params alike.
const HDR_SETUP_SECTS = 0x1f1;
const HDR_SYSSIZE = 0x1f4;
const HDR_BOOT_FLAG = 0x1fe;
const HDR_JUMP = 0x200;
const HDR_MAGIC = 0x202;
const HDR_VERSION = 0x206;
const HDR_TYPE_OF_LOADER = 0x210;
const HDR_LOADFLAGS = 0x211;
const HDR_CODE32_START = 0x214;
const HDR_RAMDISK_IMAGE = 0x218;
const HDR_RAMDISK_SIZE = 0x21c;
const HDR_HEAP_END_PTR = 0x224;
const HDR_CMD_LINE_PTR = 0x228;
const HDR_INITRD_ADDR_MAX = 0x22c;
const HDR_CMDLINE_SIZE = 0x238;
const HDR_INIT_SIZE = 0x260;

// boot_params fields outside the setup header.
const BP_EXT_MEM_K = 0x002;
const BP_ALT_MEM_K = 0x1e0;
const BP_E820_ENTRIES = 0x1e8;
const BP_E820_TABLE = 0x2d0;
const BP_SIZE = 0x1000;

const LOADFLAG_LOADED_HIGH = 0x01;
const LOADFLAG_CAN_USE_HEAP = 0x80;
const MIN_PROTOCOL = 0x0206;
const E820_RAM = 1;
const E820_RESERVED = 2;
/** Keep the initrd within the kernel's direct map (lowmem ends near 896 MiB without HIGHMEM). */
const INITRD_CEILING = 0x3700_0000;

/** Selectors of the flat boot GDT, as the protocol requires (__BOOT_CS, __BOOT_DS). */
export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;

export interface LinuxImages {
  kernel: Uint8Array;
  kernelName: string;
  initrd?: Uint8Array;
  initrdName?: string;
  cmdline: string;
}

export interface KernelInfo {
  protocolVersion: number;
  setupBytes: number;
  code32Start: number;
  initSizeBytes: number;
  initrdAddrMax: number;
  cmdlineMaxBytes: number;
}

/** What the CPU must be set to for the 32-bit entry. */
export interface BootEntry {
  eip: number;
  esi: number;
  esp: number;
  gdtBase: number;
  gdtLimit: number;
  info: KernelInfo;
  initrdAddr: number;
}

/** Parse and validate the bzImage setup header. */
export function parseBzImage(image: Uint8Array, name: string): KernelInfo {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 0x300) {
    throw new BootError(`Kernel image ${name} is too small (${image.length} bytes) to be a bzImage: pass a bzImage built for x86`);
  }
  if (view.getUint32(HDR_MAGIC, true) !== 0x53726448) {
    throw new BootError(`Kernel image ${name} is not a bzImage (no "HdrS" magic at 0x202): pass a bzImage built for x86`);
  }
  const version = view.getUint16(HDR_VERSION, true);
  if (version < MIN_PROTOCOL) {
    const v = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
    throw new BootError(`Kernel image ${name} uses boot protocol ${v}; LilyVM needs 2.06 or newer (Linux 2.6.22+)`);
  }
  if (!(image[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH)) {
    throw new BootError(`Kernel image ${name} is a zImage (loads low): pass a bzImage`);
  }
  let setupSects = image[HDR_SETUP_SECTS];
  if (setupSects === 0) setupSects = 4;
  const setupBytes = (setupSects + 1) * 512;
  const sysBytes = view.getUint32(HDR_SYSSIZE, true) * 16;
  if (image.length < setupBytes + sysBytes) {
    throw new BootError(
      `Kernel image ${name} is truncated: its header says ${setupBytes + sysBytes} bytes but the file has ${image.length}`,
    );
  }
  return {
    protocolVersion: version,
    setupBytes,
    code32Start: view.getUint32(HDR_CODE32_START, true),
    initSizeBytes: version >= 0x020a ? view.getUint32(HDR_INIT_SIZE, true) : 0,
    initrdAddrMax: view.getUint32(HDR_INITRD_ADDR_MAX, true),
    cmdlineMaxBytes: view.getUint32(HDR_CMDLINE_SIZE, true),
  };
}

/** The e820 map for ramSizeBytes of RAM. */
export function e820Map(ramSizeBytes: number): { addr: number; size: number; type: number }[] {
  return [
    { addr: 0, size: LOW_RAM_END, type: E820_RAM },
    { addr: LOW_RAM_END, size: LEGACY_HOLE_START - LOW_RAM_END, type: E820_RESERVED },
    { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
    { addr: HIGH_RAM_START, size: ramSizeBytes - HIGH_RAM_START, type: E820_RAM },
  ];
}

/**
 * Place the kernel, command line and initrd in guest memory and fill boot_params.
 * Returns the register state for the 32-bit entry.
 */
export function loadLinux(mem: GuestMemory, images: LinuxImages): BootEntry {
  const info = parseBzImage(images.kernel, images.kernelName);
  const kernel = images.kernel;
  const payload = kernel.subarray(info.setupBytes);
  const loadAddr = KERNEL_LOAD_ADDR;
  const kernelEnd = loadAddr + Math.max(payload.length, info.initSizeBytes);
  if (kernelEnd > mem.sizeBytes) {
    throw new BootError(
      `Guest memory (${mib(mem.sizeBytes)}) is too small for kernel ${images.kernelName}, which needs ${mib(kernelEnd)}: raise --memory`,
    );
  }
  mem.writeBytes(loadAddr, payload);

  const cmdlineBytes = new TextEncoder().encode(images.cmdline);
  const cmdlineMax = Math.min(info.cmdlineMaxBytes || 255, BOOT_CMDLINE_MAX_BYTES - 1);
  if (cmdlineBytes.length > cmdlineMax) {
    throw new BootError(`Kernel command line is ${cmdlineBytes.length} bytes; ${images.kernelName} accepts at most ${cmdlineMax}`);
  }
  mem.slice(BOOT_CMDLINE_ADDR, cmdlineBytes.length + 1).fill(0);
  mem.writeBytes(BOOT_CMDLINE_ADDR, cmdlineBytes);

  let initrdAddr = 0;
  if (images.initrd && images.initrd.length > 0) {
    const ceiling = Math.min(mem.sizeBytes, INITRD_CEILING, info.initrdAddrMax + 1);
    initrdAddr = Math.floor((ceiling - images.initrd.length) / 4096) * 4096;
    if (initrdAddr < alignUp(kernelEnd, 4096)) {
      throw new BootError(
        `Guest memory (${mib(mem.sizeBytes)}) is too small for the kernel and initrd ${images.initrdName ?? ''} ` +
          `(${mib(kernelEnd + images.initrd.length)} needed): raise --memory`,
      );
    }
    mem.writeBytes(initrdAddr, images.initrd);
  }

  const bp = mem.slice(BOOT_PARAMS_ADDR, BP_SIZE);
  bp.fill(0);
  const hdrEnd = HDR_JUMP + 2 + kernel[HDR_JUMP + 1];
  bp.set(kernel.subarray(HDR_SETUP_SECTS, Math.min(hdrEnd, 0x290)), HDR_SETUP_SECTS);
  const bpv = new DataView(bp.buffer, bp.byteOffset, BP_SIZE);
  bp[HDR_TYPE_OF_LOADER] = 0xff;
  bp[HDR_LOADFLAGS] = (bp[HDR_LOADFLAGS] | LOADFLAG_CAN_USE_HEAP) & 0xff;
  bpv.setUint16(HDR_HEAP_END_PTR, 0xfe00, true);
  bpv.setUint32(HDR_CMD_LINE_PTR, BOOT_CMDLINE_ADDR, true);
  bpv.setUint32(HDR_RAMDISK_IMAGE, initrdAddr, true);
  bpv.setUint32(HDR_RAMDISK_SIZE, images.initrd?.length ?? 0, true);
  bpv.setUint16(HDR_BOOT_FLAG, 0xaa55, true);
  const extKb = Math.min((mem.sizeBytes - HIGH_RAM_START) / 1024, 0xffff);
  bpv.setUint16(BP_EXT_MEM_K, extKb, true);
  bpv.setUint32(BP_ALT_MEM_K, (mem.sizeBytes - HIGH_RAM_START) / 1024, true);
  const map = e820Map(mem.sizeBytes);
  bp[BP_E820_ENTRIES] = map.length;
  map.forEach((e, i) => {
    const at = BP_E820_TABLE + i * 20;
    bpv.setBigUint64(at, BigInt(e.addr), true);
    bpv.setBigUint64(at + 8, BigInt(e.size), true);
    bpv.setUint32(at + 16, e.type, true);
  });

  // Flat GDT: null, null, __BOOT_CS (0x10), __BOOT_DS (0x18).
  const gdt = [0n, 0n, 0x00cf9a000000ffffn, 0x00cf92000000ffffn];
  gdt.forEach((d, i) => mem.write64(BOOT_GDT_ADDR + i * 8, d));

  return {
    eip: info.code32Start || loadAddr,
    esi: BOOT_PARAMS_ADDR,
    esp: BOOT_STACK_TOP,
    gdtBase: BOOT_GDT_ADDR,
    gdtLimit: gdt.length * 8 - 1,
    info,
    initrdAddr,
  };
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function mib(n: number): string {
  return `${Math.ceil(n / (1024 * 1024))} MiB`;
}
