import { registerEngine } from '../registry.ts';
import { InterpVcpu } from './interp-vcpu.ts';

registerEngine({
  name: 'interp',
  description: 'the IA-32 interpreter (the reference engine)',
  create: (options) => new InterpVcpu(options),
});
