// Engines by name. The machine asks for a Vcpu by the configured name and never imports
// an engine itself; each engine module registers itself, and src/engines/index.ts loads
// the built-in ones (the hosts import that).
import type { InterruptSource, Vcpu } from './vcpu.ts';
import type { CpuArea } from '../cpu/layout.ts';

/** What every engine is built from: guest RAM, the CPU area, the interrupt controller, the TSC. */
export interface VcpuOptions {
  ram: Uint8Array;
  /** Where the CPU state and TLB live: in the same linear memory as RAM (src/cpu/layout.ts). */
  area: CpuArea;
  interrupts: InterruptSource;
  readTsc: () => number;
  /** Engine-specific settings (jit: JitOptions), for tools and tests; engines ignore what they do not know. */
  engineOptions?: Readonly<Record<string, unknown>>;
}

export interface EngineFactory {
  readonly name: string;
  /** One line for --help and errors. */
  readonly description: string;
  create(options: VcpuOptions): Vcpu;
}

const engines = new Map<string, EngineFactory>();

export function registerEngine(factory: EngineFactory): void {
  if (engines.has(factory.name)) throw new Error(`engine ${factory.name} is registered twice`);
  engines.set(factory.name, factory);
}

export function engineNames(): string[] {
  return [...engines.keys()];
}

/** A Vcpu of the named engine; throws with the available names when there is none. */
export function createVcpu(name: string, options: VcpuOptions): Vcpu {
  const factory = engines.get(name);
  if (!factory) throw new Error(`engine "${name}" is not available: the engines are ${engineNames().join(', ') || 'none (import src/engines/index.ts)'}`);
  return factory.create(options);
}
