// Reset Control Register at 0xCF9 (Intel 82371SB PIIX3 datasheet, section 2.2.7; ICH as well).
import type { BusDevice } from '../bus/device.ts';

/** RCR bits. */
const RCR_SYS_RST = 0x02; // 1: the reset requested by RST_CPU is a hard (system) reset
const RCR_RST_CPU = 0x04; // writing 1 starts the reset
const RCR_FULL_RST = 0x08;
const RCR_STORED = RCR_SYS_RST | RCR_FULL_RST;

export interface ResetControlState {
  rcr: number;
}

export class ResetControl implements BusDevice {
  private rcr = 0;

  constructor(private readonly onReset: () => void) {}

  read(): number {
    return this.rcr;
  }

  write(_offset: number, _size: number, value: number): void {
    this.rcr = value & RCR_STORED;
    if (value & RCR_RST_CPU) this.onReset();
  }

  saveState(): ResetControlState {
    return { rcr: this.rcr };
  }

  restoreState(state: ResetControlState): void {
    this.rcr = state.rcr;
  }
}
