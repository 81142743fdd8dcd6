import { Cpu } from '../../cpu/cpu.ts';
import type { CpuState } from '../../cpu/state.ts';
import { buildDispatch } from '../../cpu/table/index.ts';
import type { Vcpu, VmExit } from '../vcpu.ts';
import type { VcpuOptions } from '../registry.ts';
import type { CpuArea } from '../../cpu/layout.ts';

let dispatch: ReturnType<typeof buildDispatch> | undefined;

/** A Vcpu over the interpreter's Cpu: what interp is, and what jit builds on. */
export class CpuVcpu implements Vcpu {
  constructor(readonly cpu: Cpu) {}

  run(maxInstructions: number): VmExit {
    return this.cpu.run(maxInstructions);
  }

  get instructionsRetired(): number {
    return this.cpu.instructionsRetired;
  }

  memoryWritten(addr: number, length: number): void {
    this.cpu.invalidateCode(addr, length);
  }

  traceLine(): string {
    return this.cpu.traceLine();
  }

  saveState(): CpuState {
    return this.cpu.saveState();
  }

  restoreState(state: unknown, keepCode = false): void {
    this.cpu.restoreState(state as CpuState, keepCode);
  }
}

/** The reference engine: the IA-32 interpreter behind the Vcpu boundary. */
export class InterpVcpu extends CpuVcpu {
  /** Without an area (tests and tools), the CPU gets a private one. */
  constructor(opts: Omit<VcpuOptions, 'area'> & { area?: CpuArea }) {
    dispatch ??= buildDispatch();
    super(new Cpu({ ram: opts.ram, area: opts.area, interrupts: opts.interrupts, readTsc: opts.readTsc, ops: dispatch }));
  }
}
