// The built-in engines, registered by importing them. Hosts (the Node runner, the web
// worker) import this module; the machine only asks the registry.
import './interp/register.ts';
import './jit/register.ts';

export { createVcpu, engineNames, registerEngine, type EngineFactory, type VcpuOptions } from './registry.ts';
