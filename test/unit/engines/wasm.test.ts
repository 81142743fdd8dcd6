// The WebAssembly encoder's name section: the names it gives functions are the ones
// V8 shows in stack traces and CPU profiles (page functions by physical page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, encodeModule, I32, Op } from '../../../src/engines/jit/wasm.ts';

// The project's TypeScript settings have no WebAssembly types: the little used here.
interface Wasm {
  Module: { new (bytes: Uint8Array): object; customSections(m: object, name: string): ArrayBuffer[] };
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum: number }) => object;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

test('a function named in the encoder shows under that name in a stack trace', () => {
  const body = new Code();
  body.call(0).op(Op.drop).i32(7);
  const bytes = encodeModule({
    imports: [{ module: 'h', name: 'boom', type: { params: [], results: [I32] } }],
    memory: { module: 'env', name: 'memory', pages: 1 },
    functions: [{ type: { params: [], results: [I32] }, locals: 0, body, exportName: 'f', name: 'page_0012f000' }],
  });
  const module = new WebAssembly.Module(bytes);
  assert.equal(WebAssembly.Module.customSections(module, 'name').length, 1);
  const instance = new WebAssembly.Instance(module, {
    env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1 }) },
    h: { boom: () => { throw new Error('from the import'); } },
  });
  const f = instance.exports.f as () => number;
  assert.throws(f, (e: Error) => /page_0012f000/.test(e.stack ?? ''));
});

test('a module without names has no name section', () => {
  const body = new Code();
  body.i32(1);
  const bytes = encodeModule({
    imports: [],
    memory: { module: 'env', name: 'memory', pages: 1 },
    functions: [{ type: { params: [], results: [I32] }, locals: 0, body, exportName: 'f' }],
  });
  const module = new WebAssembly.Module(bytes);
  assert.equal(WebAssembly.Module.customSections(module, 'name').length, 0);
  const instance = new WebAssembly.Instance(module, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1 }) } });
  assert.equal((instance.exports.f as () => number)(), 1);
});
