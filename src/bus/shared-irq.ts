import type { IrqLine } from './device.ts';

/** Wired-OR of level-triggered sources onto one interrupt controller input, as shared PCI INTx lines and ISA serial ports on one IRQ are. */
export class SharedIrqLine {
  private readonly asserted = new Set<number>();
  private nextSource = 0;
  constructor(private readonly output: IrqLine) {}

  source(): IrqLine {
    const id = this.nextSource++;
    return {
      set: (level: boolean) => {
        const before = this.asserted.size > 0;
        if (level) this.asserted.add(id);
        else this.asserted.delete(id);
        const after = this.asserted.size > 0;
        if (before !== after) this.output.set(after);
      },
    };
  }
}
