// The default guest and the bench workloads (bench/guest) at a chosen size, as a lockstep script.
import { readFileSync } from 'node:fs';
import { DEFAULT_APPEND, DEFAULT_INITRD, DEFAULT_KERNEL } from '../../src/host/defaults.ts';
import type { LockstepGuest, Script } from './pair.ts';

// ash prints its prompt, then asks the terminal for the cursor position (ESC [ 6 n).
const PROMPT = /~ # (?:\x1b\[6n)?$/;

export function defaultGuest(kernelPath = DEFAULT_KERNEL): LockstepGuest {
  return { kernel: readFileSync(kernelPath), initrd: readFileSync(DEFAULT_INITRD), cmdline: DEFAULT_APPEND, memoryBytes: 256 << 20 };
}

/** Workload sizes: `scale` 1 is bench:guest's (200 000 loop iterations, 16 MB, 200 fork+exec). */
export function benchScript(scale: number): Script {
  const n = (full: number) => Math.max(1, Math.round(full * scale));
  const commands: [string, string][] = [
    ['sh loop', `i=0; while [ $i -lt ${n(200000)} ]; do i=$((i+1)); done`],
    ['dd', `dd if=/dev/urandom of=/tmp/f bs=64k count=${n(256)} 2>/dev/null`],
    ['md5sum', 'md5sum /tmp/f'],
    ['gzip', 'gzip -c /tmp/f | md5sum'],
    ['fork+exec', `i=0; while [ $i -lt ${n(200)} ]; do /bin/true; i=$((i+1)); done`],
  ];
  return {
    ready: /LilyVM guest ready[^]*~ # /,
    steps: commands.map(([label, command], i) => ({
      label,
      input: `${command}; printf '__done_%s_%s__\\n' ${i} $?\n`,
      done: new RegExp(`__done_${i}_0__[^]*${PROMPT.source}`),
    })),
  };
}
