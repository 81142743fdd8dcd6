/**
 * Time as the guest sees it. Virtual time advances with guest progress; wall-clock
 * time enters the machine only through a HostClock, so tests can be deterministic.
 */
export interface VirtualClock {
  /** Current virtual time in nanoseconds since the machine was built. */
  nowNs(): number;
}

/** Host wall-clock time. */
export interface HostClock {
  /** Milliseconds since the Unix epoch (as Date.now()). */
  wallTimeMs(): number;
  /** A monotonic time in nanoseconds (arbitrary origin). */
  monotonicNs(): number;
}

/** The host's clock where JavaScript runs (Node or a browser): Date and performance.now(). */
export const systemClock: HostClock = {
  wallTimeMs: () => Date.now(),
  monotonicNs: () => Math.round(performance.now() * 1e6),
};

/** A one-shot timer owned by a device. Re-arming replaces the previous deadline. */
export interface Timer {
  /** Fire the callback once virtual time reaches deadlineNs. */
  arm(deadlineNs: number): void;
  cancel(): void;
  readonly armed: boolean;
}

/** What a device gets to tell time and schedule its own events. */
export interface TimerHost extends VirtualClock {
  createTimer(name: string, callback: (nowNs: number) => void): Timer;
}
