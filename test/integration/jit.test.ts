// A booted guest on the jit engine: the shell, a computation and a checksum come out as the
// host computes them, and a good share of the instructions ran as generated code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bootToShell, noGuest as skip, shell } from './guest-session.ts';

test('the default guest boots and computes on the jit engine', { skip, timeout: 600_000 }, async (t) => {
  const vm = await bootToShell([], 'jit');
  assert.match(await shell(vm, 'uname -a'), /Linux lilyvm .* i686/);
  let sum = 0;
  for (let i = 0; i < 3000; i++) sum += i * i;
  assert.match(await shell(vm, 'i=0; s=0; while [ $i -lt 3000 ]; do s=$((s+i*i)); i=$((i+1)); done; echo sum=$s'), new RegExp(`sum=${sum}\\b`));
  const text = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('');
  const md5 = createHash('md5').update(text).digest('hex');
  assert.match(await shell(vm, 'seq 1 20000 | md5sum'), new RegExp(`^${md5}  -`, 'm'));
  const stats = vm.engineStats!;
  const retired = vm.instructionsRetired;
  t.diagnostic(`${retired} instructions, ${stats.nativeInstructions} (${((100 * stats.nativeInstructions) / retired).toFixed(0)}%) native; ${stats.translated} blocks in ${stats.modules} modules, ${stats.cacheBytes} bytes of code, ${stats.compileMs.toFixed(0)} ms compiling`);
  assert.ok(stats.translated > 100, 'blocks were translated');
  assert.ok(stats.nativeInstructions > retired / 5, 'a fifth or more ran as native code');
  await vm.stop();
});
