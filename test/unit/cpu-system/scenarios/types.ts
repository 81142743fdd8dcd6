/** A system-level scenario: nasm source for prelude.inc, and what it must print. */
export interface Scenario {
  name: string;
  source: string;
  /** The debug-console output expected from a correct CPU. */
  expected: string;
  /** How the run ends (default: the exit port with code 0). */
  end?: 'exit' | 'shutdown';
  /**
   * Depends on the test harness (the interrupt port) or on behaviour the
   * architecture leaves open (stale TLB entries, CPUID values), so it is not
   * compared with QEMU.
   */
  interpOnly?: string;
  /** Where QEMU (7.2, TCG) is known to differ from the architecture: the expected whole line or lines, QEMU's, and why. */
  qemuKnown?: { expected: string; qemu: string; why: string }[];
}
