// Helpers for tests that boot the default guest to its shell: boot, run a command, wait for the stop.
import { afterEach } from 'node:test';
import { existsSync } from 'node:fs';
import { Vm, DEFAULT_APPEND, DEFAULT_KERNEL } from '../../src/index.ts';
import type { StopReason } from '../../src/index.ts';

// ash prints its prompt, then asks the terminal for the cursor position (ESC [ 6 n).
export const PROMPT = /~ # (?:\x1b\[6n)?$/;

/** The engine guest tests boot with: LILYVM_ENGINE=jit runs them under the translator. */
export const TEST_ENGINE: 'interp' | 'jit' = process.env.LILYVM_ENGINE === 'jit' ? 'jit' : 'interp';

/** A skip reason when the default guest is not built, else false. */
export const noGuest: string | false = !existsSync(DEFAULT_KERNEL) && 'the default guest (guest/out/bzImage) is not built';

/**
 * Type a command and return its output, without the echoed command line and the prompt. Kernel
 * messages printed before the echo are dropped with it; the echo may be wrapped at the terminal width.
 */
export async function shell(vm: Vm, command: string, timeoutMs = 120_000): Promise<string> {
  vm.type(command + '\n');
  const text = (await vm.waitFor(PROMPT, { timeoutMs })).replace(/\r/g, '');
  const echo = new RegExp([...command].map((c) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('\n?')).exec(text);
  const afterEcho = echo ? text.slice(echo.index + echo[0].length) : text;
  return afterEcho.split('\n').slice(1, -1).join('\n');
}

/** The guest's stop, or a failure with the console tail if it has not stopped within timeoutMs (a hung guest keeps no timer alive). */
export async function stoppedWithin(vm: Vm, timeoutMs = 60_000): Promise<StopReason> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the guest did not stop within ${timeoutMs} ms; console tail:\n${vm.output.slice(-2000)}`)), timeoutMs);
  });
  try {
    return await Promise.race([vm.stopped, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Guests still running when a test ends (a failed assertion leaves its guest up): stopped after it. */
const live = new Set<Vm>();
afterEach(async () => {
  for (const vm of live) await vm.stop().catch(() => {});
  live.clear();
});

/** Boot the default guest with these disks (on TEST_ENGINE unless told; quiet: no kernel messages on the console) and wait for its shell prompt. */
export async function bootToShell(disks: string[] = [], engine: 'interp' | 'jit' = TEST_ENGINE, quiet = true): Promise<Vm> {
  // quiet: no late kernel messages (the clocksource switch, about a second into the boot) among the commands' output.
  const vm = Vm.boot({ disks, engine, append: quiet ? `${DEFAULT_APPEND} quiet` : DEFAULT_APPEND });
  live.add(vm);
  await vm.waitFor('LilyVM guest ready', { timeoutMs: 180_000 });
  await vm.waitFor(PROMPT, { timeoutMs: 60_000 });
  return vm;
}
