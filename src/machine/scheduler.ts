import type { Timer, TimerHost } from './clock.ts';

class SchedulerTimer implements Timer {
  deadlineNs = Infinity;
  constructor(
    private readonly scheduler: Scheduler,
    readonly name: string,
    readonly callback: (nowNs: number) => void,
  ) {}
  get armed(): boolean {
    return this.deadlineNs !== Infinity;
  }
  arm(deadlineNs: number): void {
    this.deadlineNs = deadlineNs;
    this.scheduler.changed();
  }
  cancel(): void {
    this.deadlineNs = Infinity;
    this.scheduler.changed();
  }
}

/**
 * One scheduler on virtual time. Devices arm timers; the run loop advances virtual
 * time (with guest progress, or straight to the next deadline when the CPU halts)
 * and fires the timers that are due.
 */
export class Scheduler implements TimerHost {
  private timeNs = 0;
  private readonly timers: SchedulerTimer[] = [];
  private cachedNext = Infinity;
  private dirty = true;

  nowNs(): number {
    return this.timeNs;
  }

  createTimer(name: string, callback: (nowNs: number) => void): Timer {
    const t = new SchedulerTimer(this, name, callback);
    this.timers.push(t);
    return t;
  }

  /** @internal called by timers when their deadline changes. */
  changed(): void {
    this.dirty = true;
  }

  /** Earliest armed deadline, or Infinity. */
  nextDeadlineNs(): number {
    if (this.dirty) {
      let next = Infinity;
      for (const t of this.timers) if (t.deadlineNs < next) next = t.deadlineNs;
      this.cachedNext = next;
      this.dirty = false;
    }
    return this.cachedNext;
  }

  /** Move virtual time forward (never backward) and fire every timer that is due. */
  advanceTo(timeNs: number): void {
    if (timeNs > this.timeNs) this.timeNs = timeNs;
    for (let guard = 0; guard < 10_000; guard++) {
      if (this.nextDeadlineNs() > this.timeNs) return;
      for (const t of this.timers) {
        if (t.deadlineNs <= this.timeNs) {
          t.deadlineNs = Infinity;
          this.dirty = true;
          t.callback(this.timeNs);
        }
      }
    }
  }

  saveState(): { timeNs: number } {
    return { timeNs: this.timeNs };
  }

  restoreState(s: { timeNs: number }): void {
    this.timeNs = s.timeNs;
  }
}
