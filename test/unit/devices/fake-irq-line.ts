import type { IrqLine } from '../../../src/bus/device.ts';

/** Records what a device does with its interrupt line. */
export class FakeIrqLine implements IrqLine {
  level = false;
  /** Low-to-high transitions, which is what an edge-triggered PIC input counts. */
  rises = 0;
  readonly history: boolean[] = [];
  /** Virtual time of each rise, when constructed with a clock. */
  readonly riseTimesNs: number[] = [];

  constructor(private readonly nowNs?: () => number) {}

  set(level: boolean): void {
    if (level && !this.level) {
      this.rises++;
      if (this.nowNs) this.riseTimesNs.push(this.nowNs());
    }
    this.level = level;
    this.history.push(level);
  }
}
