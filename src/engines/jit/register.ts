import { registerEngine } from '../registry.ts';
import { JitVcpu } from './jit-vcpu.ts';

registerEngine({
  name: 'jit',
  description: 'the interpreter with hot blocks translated to WebAssembly',
  create: (options) => new JitVcpu(options),
});
