import type { AccessSize } from '../bus/device.ts';

/**
 * Why Vcpu.run() returned. For a read exit (`io` or `mmio` with isWrite false) the
 * exit handler stores the result in `value` before the next run(), which completes
 * the instruction, as KVM's KVM_EXIT_IO / KVM_EXIT_MMIO work.
 */
export type VmExit =
  | { kind: 'io'; port: number; size: AccessSize; isWrite: boolean; value: number }
  | { kind: 'mmio'; addr: number; size: AccessSize; isWrite: boolean; value: number }
  /** HLT with nothing to deliver; run() again after an interrupt is raised. */
  | { kind: 'halt' }
  /** The instruction budget given to run() is used up. */
  | { kind: 'budget' }
  /** Triple fault, or HLT with interrupts disabled (the CPU can never wake). */
  | { kind: 'shutdown'; reason: string }
  /** The engine cannot go on: an unimplemented instruction or an internal error. */
  | { kind: 'error'; message: string };

/** The interrupt controller as the CPU sees it (the INTR pin and the INTA cycle). */
export interface InterruptSource {
  /** True when INTR is asserted. */
  hasInterrupt(): boolean;
  /** INTA: the vector to deliver; called only when hasInterrupt() was true. */
  acknowledge(): number;
}

/** One virtual CPU. Every engine (interp, jit, kvm, lily) implements this. */
export interface Vcpu {
  /** Run at most maxInstructions guest instructions. */
  run(maxInstructions: number): VmExit;
  /** Instructions retired since reset (the source of virtual time for software engines). */
  readonly instructionsRetired: number;
  /** Plain-data state for snapshots; engine independent. */
  saveState(): unknown;
  /** `keepCode`: guest RAM changed only where memoryWritten() said (Machine.rewind), so an engine may keep code derived from the rest. */
  restoreState(state: unknown, keepCode?: boolean): void;
  /** Engine figures (a translator's cache and native share), for benchmarks and the curious. Optional. */
  readonly stats?: Readonly<Record<string, number>>;
  /** One line for the instruction trace: the next instruction's address and bytes, and the registers. Optional. */
  traceLine?(): string;
  /**
   * Guest RAM [addr, addr + length) was written by something other than this vCPU
   * (device DMA, the host). Engines that keep code derived from RAM (decoded blocks,
   * translations) drop what came from there.
   */
  memoryWritten(addr: number, length: number): void;
}
