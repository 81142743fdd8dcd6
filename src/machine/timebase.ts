import type { HostClock } from './clock.ts';

/** Virtual nanoseconds per retired instruction at start, and always in deterministic runs (a 100 MIPS CPU). */
export const NOMINAL_NS_PER_INSTRUCTION = 10;
/** In real-time runs the rate is re-fitted this often (host time) to keep virtual time on the host clock. */
const RATE_PERIOD_NS = 10e6;
/** A lag behind the host clock is worked off over about this long. */
const CATCH_UP_NS = 200e6;
/** One re-fit changes the rate by at most 25%, so consecutive TSC deltas in a calibration loop stay alike. */
const RATE_STEP = 1.25;
/**
 * Ahead of the host clock by more than this, the rate is re-fitted without waiting for
 * the period's end, and lowered as far as it has to be at once: the guest got much
 * faster (its code was translated), and a lead that grew while the rate came down 25%
 * a fit made the run loop sleep it off (0.5 s of the default guest's boot, 2 s of the
 * Debian kernel's).
 */
const FAST_DOWN_LEAD_NS = 20e6;
const MIN_NS_PER_INSTRUCTION = 0.5;
const MAX_NS_PER_INSTRUCTION = 10_000;

/**
 * Virtual time for a software engine: vtime = syncNs + (retired - syncInstructions)
 * * nsPerInstruction. It advances smoothly with the guest's instructions; in
 * real-time runs the rate is re-fitted to the host clock (so a loop that reads
 * the TSC and the PIT sees steady time), and it jumps forward only where the
 * machine says so (while the CPU is halted). Without a host clock the rate is
 * fixed and a run is deterministic.
 */
export interface TimebaseState {
  nowNs: number;
  nsPerInstruction: number;
}

export class Timebase {
  private syncNs = 0;
  private syncInstructions = 0;
  private rate = NOMINAL_NS_PER_INSTRUCTION;
  private hostStartNs: number;
  private rateHostNs = 0;
  private rateInstructions = 0;
  private rateSkip = false;
  private rateWaitNs = 0;

  constructor(
    private readonly retired: () => number,
    private readonly host: HostClock | undefined,
  ) {
    this.hostStartNs = host ? host.monotonicNs() : 0;
  }

  /** Virtual time and the current rate, for snapshots. */
  saveState(): TimebaseState {
    return { nowNs: this.nowNs(), nsPerInstruction: this.rate };
  }

  /**
   * Continue from a saved virtual time (after the CPU's retired count was restored). The
   * host clock is re-based so that virtual time is neither ahead nor behind it.
   */
  restoreState(s: TimebaseState): void {
    this.syncNs = s.nowNs;
    this.syncInstructions = this.retired();
    this.rate = s.nsPerInstruction;
    if (this.host) this.hostStartNs = this.host.monotonicNs() - s.nowNs;
    this.rateHostNs = this.hostNs();
    this.rateInstructions = this.retired();
    this.rateSkip = true;
    this.rateWaitNs = 0;
  }

  get realtime(): boolean {
    return this.host !== undefined;
  }

  get nsPerInstruction(): number {
    return this.rate;
  }

  nowNs(): number {
    return this.syncNs + (this.retired() - this.syncInstructions) * this.rate;
  }

  /** Host time since the machine started (0 without a host clock). */
  hostNs(): number {
    return this.host ? this.host.monotonicNs() - this.hostStartNs : 0;
  }

  /** Move virtual time forward to t (never backward). */
  jumpTo(t: number): void {
    if (t > this.nowNs()) {
      this.syncNs = t;
      this.syncInstructions = this.retired();
    }
  }

  /** The CPU halted in this fit period: its instructions say nothing about the host's speed. */
  noteHalt(): void {
    this.rateSkip = true;
  }

  /** The run loop waited this long (not guest work). */
  noteWait(ns: number): void {
    this.rateWaitNs += ns;
  }

  /** Re-fit the rate so virtual time follows the host clock; call after each slice. */
  adaptRate(): void {
    if (!this.host) return;
    const host = this.hostNs();
    const dt = host - this.rateHostNs - this.rateWaitNs;
    const lag = host - this.nowNs();
    if (dt < RATE_PERIOD_NS && -lag <= FAST_DOWN_LEAD_NS) return;
    const retired = this.retired();
    const n = retired - this.rateInstructions;
    if (!this.rateSkip && n > 0 && dt > 0) {
      const actual = dt / n;
      let target = actual * Math.min(4, Math.max(0.5, 1 + lag / CATCH_UP_NS));
      target = Math.min(this.rate * RATE_STEP, -lag > FAST_DOWN_LEAD_NS ? target : Math.max(this.rate / RATE_STEP, target));
      this.setRate(Math.min(MAX_NS_PER_INSTRUCTION, Math.max(MIN_NS_PER_INSTRUCTION, target)));
    }
    this.rateHostNs = host;
    this.rateInstructions = retired;
    this.rateSkip = false;
    this.rateWaitNs = 0;
  }

  private setRate(nsPerInstruction: number): void {
    this.syncNs = this.nowNs();
    this.syncInstructions = this.retired();
    this.rate = nsPerInstruction;
  }
}
