import type { Timer, TimerHost } from '../../../src/machine/clock.ts';

class FakeTimer implements Timer {
  deadlineNs = Infinity;
  constructor(
    readonly name: string,
    readonly callback: (nowNs: number) => void,
  ) {}
  get armed(): boolean {
    return this.deadlineNs !== Infinity;
  }
  arm(deadlineNs: number): void {
    this.deadlineNs = deadlineNs;
  }
  cancel(): void {
    this.deadlineNs = Infinity;
  }
}

/**
 * A TimerHost for device tests. Unlike the real Scheduler, advancing fires due timers in
 * deadline order with the clock set to each deadline, so callbacks see exact times.
 */
export class FakeTimerHost implements TimerHost {
  private timeNs = 0;
  private readonly timers: FakeTimer[] = [];

  constructor(startNs = 0) {
    this.timeNs = startNs;
  }

  nowNs(): number {
    return this.timeNs;
  }

  createTimer(name: string, callback: (nowNs: number) => void): Timer {
    const t = new FakeTimer(name, callback);
    this.timers.push(t);
    return t;
  }

  advanceTo(timeNs: number): void {
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers) if (t.deadlineNs <= timeNs && (!next || t.deadlineNs < next.deadlineNs)) next = t;
      if (!next) break;
      this.timeNs = Math.max(this.timeNs, next.deadlineNs);
      next.deadlineNs = Infinity;
      next.callback(this.timeNs);
    }
    this.timeNs = Math.max(this.timeNs, timeNs);
  }

  advanceBy(ns: number): void {
    this.advanceTo(this.timeNs + ns);
  }

  /** The deadline of the named timer, or Infinity when it is not armed. */
  deadlineOf(name: string): number {
    return this.timers.find((t) => t.name === name)?.deadlineNs ?? Infinity;
  }
}
