// Where the package's own files are (the default guest, package.json), and the
// configuration both the CLI and the library start from.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ENGINES, parseDisk, parseMemorySize, type DiskConfig, type EngineName, type MachineConfig, type TraceConfig } from '../machine/config.ts';

/** The package root: src/host/ (or dist/host/ in the published package) is two levels down. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_KERNEL = join(PACKAGE_ROOT, 'guest', 'out', 'bzImage');
export const DEFAULT_INITRD = join(PACKAGE_ROOT, 'guest', 'out', 'initramfs.cpio');
export const DEFAULT_APPEND = 'console=ttyS0 tsc=reliable panic=-1';
export const DEFAULT_MEMORY = '256M';

/** The package version. */
export const VERSION: string = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;

/** What a machine is asked to be, before defaults and checks (the library's options, the CLI's parsed flags). */
export interface MachineRequest {
  /** bzImage path; default: the bundled guest kernel, with its initramfs. */
  kernel?: string;
  /** initrd or initramfs path; default: the bundled one when `kernel` is not given, else none. */
  initrd?: string;
  /** Kernel command line; default DEFAULT_APPEND. */
  append?: string;
  /** Guest RAM: bytes, or a size such as "256M" or "1G" (32M..2048M); default 256M. */
  memory?: number | string;
  /** Raw disk images: a path, "PATH,ro", or { path, readOnly }. */
  disks?: (string | DiskConfig)[];
  engine?: EngineName;
  /** Stop when the guest reboots instead of booting it again. */
  noReboot?: boolean;
  trace?: TraceConfig;
}

/** Defaults applied and every value checked; throws ConfigError with a message for the user. */
export function resolveMachineConfig(r: MachineRequest): MachineConfig {
  const engine = r.engine ?? 'interp';
  if (!ENGINES.includes(engine)) throw new ConfigError(`Engine "${engine}" is not available: choose one of ${ENGINES.join(', ')}`);
  let memoryBytes: number;
  if (typeof r.memory === 'number') {
    if (!Number.isInteger(r.memory) || r.memory <= 0) throw new ConfigError(`Memory size ${r.memory} is not a whole number of bytes`);
    memoryBytes = parseMemorySize(`${r.memory / 1024}K`);
  } else {
    memoryBytes = parseMemorySize(r.memory ?? DEFAULT_MEMORY);
  }
  return {
    kernelPath: r.kernel ?? DEFAULT_KERNEL,
    initrdPath: r.initrd ?? (r.kernel ? undefined : DEFAULT_INITRD),
    cmdline: r.append ?? DEFAULT_APPEND,
    memoryBytes,
    disks: (r.disks ?? []).map((d) => (typeof d === 'string' ? parseDisk(d) : { path: d.path, readOnly: d.readOnly ?? false })),
    engine,
    trace: r.trace,
    noReboot: r.noReboot ?? false,
  };
}
