import { registerEngine } from '../registry.ts';
import { JitVcpu, type JitOptions } from './jit-vcpu.ts';

registerEngine({
  name: 'jit',
  description: 'the interpreter with hot blocks translated to WebAssembly',
  create: (options) => new JitVcpu({ ...options, ...(options.engineOptions as JitOptions | undefined) }),
});
