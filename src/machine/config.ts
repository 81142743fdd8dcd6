import { RAM_MAX_BYTES, RAM_MIN_BYTES } from './layout.ts';

/** User-facing machine configuration (kept apart from the runtime objects). */
export interface MachineConfig {
  kernelPath: string;
  initrdPath?: string;
  cmdline: string;
  memoryBytes: number;
  disks: DiskConfig[];
  engine: EngineName;
  /** Instruction trace: write `count` instructions starting after `start` retired instructions to `path` (first boot only). */
  trace?: TraceConfig;
  /** When the guest resets, stop (status 0) instead of booting again, as QEMU's -no-reboot. */
  noReboot?: boolean;
}

export interface DiskConfig {
  path: string;
  readOnly?: boolean;
}

export interface TraceConfig {
  path: string;
  start: number;
  count: number;
}

export const ENGINES = ['interp', 'jit'] as const;
export type EngineName = (typeof ENGINES)[number];

export class ConfigError extends Error {}

/** Parse a memory size like QEMU's -m: a number with an optional K/M/G suffix (default M). */
export function parseMemorySize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?$/.exec(text.trim());
  if (!m) throw new ConfigError(`Memory size "${text}" is not a size: use a number with K, M or G, e.g. 256M`);
  const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, '': 1024 ** 2 }[m[2].toLowerCase() as 'k' | 'm' | 'g' | 't' | ''];
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < RAM_MIN_BYTES) {
    throw new ConfigError(`Memory size ${text} is too small: the guest needs at least ${RAM_MIN_BYTES / 1024 ** 2}M`);
  }
  if (bytes > RAM_MAX_BYTES) {
    throw new ConfigError(`Memory size ${text} is too large: a 32-bit guest without PAE gets at most ${RAM_MAX_BYTES / 1024 ** 2}M`);
  }
  return Math.floor(bytes / 4096) * 4096;
}

/** Parse `FILE[,ro]` (also accepts `,rw`, `,readonly`). */
export function parseDisk(text: string): DiskConfig {
  const parts = text.split(',');
  const path = parts[0];
  if (!path) throw new ConfigError(`--disk "${text}" names no file: use --disk FILE[,ro]`);
  let readOnly = false;
  for (const opt of parts.slice(1)) {
    if (opt === 'ro' || opt === 'readonly') readOnly = true;
    else if (opt === 'rw') readOnly = false;
    else throw new ConfigError(`--disk option "${opt}" is unknown: use --disk FILE[,ro]`);
  }
  return { path, readOnly };
}
