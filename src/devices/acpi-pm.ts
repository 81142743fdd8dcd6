// ACPI fixed hardware (ACPI 6.4 section 4.8): the PM1a event and control registers and
// the PM timer, the registers the FADT (src/boot/acpi.ts) points at. Writing SLP_EN with
// the _S5 sleep type powers the machine off; the other sleep states are not offered.
import type { AccessSize, BusDevice } from '../bus/device.ts';

/** Register offsets inside the device's window (PORT_ACPI_PM). */
export const PM1_STS = 0;
export const PM1_EN = 2;
export const PM1_CNT = 4;
export const PM_TMR = 8;
export const ACPI_PM_WINDOW = 12;

/** PM1_CNT bits. */
const SCI_EN = 1 << 0;
const SLP_TYP_SHIFT = 10;
const SLP_EN = 1 << 13;
/**
 * PM1_STS (write 1 to clear) and PM1_EN: timer carry, global lock, power and sleep
 * buttons, RTC alarm, PCIe wake, wake. The enables read back what was written, as the
 * OS checks; no event here raises its status bit, so the SCI never fires.
 */
const PM1_STS_BITS = 0x0001 | 0x0020 | 0x0100 | 0x0200 | 0x0400 | 0x4000 | 0x8000;
const PM1_EN_BITS = 0x0001 | 0x0020 | 0x0100 | 0x0200 | 0x0400 | 0x4000;
/** The PM timer runs at 3.579545 MHz and has 24 bits (FADT TMR_VAL_EXT clear). */
const PM_TIMER_HZ = 3_579_545;

export interface AcpiPmState {
  sts: number;
  en: number;
  cnt: number;
}

export class AcpiPm implements BusDevice {
  private sts = 0;
  private en = 0;
  private cnt = SCI_EN;

  /**
   * nowNs: virtual time. onSleep: SLP_EN was written with this SLP_TYP (the machine
   * powers off for the _S5 type).
   */
  constructor(private readonly nowNs: () => number, private readonly onSleep: (slpTyp: number) => void) {}

  read(offset: number, size: AccessSize): number {
    let v: number;
    if (offset >= PM_TMR) {
      v = Math.floor((this.nowNs() * PM_TIMER_HZ) / 1e9) & 0xffffff;
      return (v >>> ((offset - PM_TMR) * 8)) & mask(size);
    }
    if (offset >= PM1_CNT + 2) return 0;
    const word = offset < PM1_EN ? this.sts : offset < PM1_CNT ? this.en : this.cnt;
    v = word | (offset < PM1_EN ? this.en << 16 : 0);
    return (v >>> ((offset & 1) * 8)) & mask(size);
  }

  write(offset: number, size: AccessSize, value: number): void {
    // Byte and dword accesses are split into the 16-bit registers they cover.
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const byte = (value >>> (8 * i)) & 0xff;
      if (at < PM1_EN) this.sts &= ~((byte << ((at & 1) * 8)) & PM1_STS_BITS);
      else if (at < PM1_CNT) this.en = ((this.en & ~(0xff << ((at & 1) * 8))) | (byte << ((at & 1) * 8))) & PM1_EN_BITS;
      else if (at < PM1_CNT + 2) this.writeCnt(at & 1, byte);
    }
  }

  private writeCnt(half: number, byte: number): void {
    const written = byte << (half * 8);
    // SCI_EN stays set (no SMI_CMD: always in ACPI mode); SLP_EN is write-only.
    this.cnt = ((this.cnt & ~(0xff << (half * 8))) | written | SCI_EN) & ~SLP_EN & 0xffff;
    if (written & SLP_EN) this.onSleep((this.cnt >> SLP_TYP_SHIFT) & 7);
  }

  saveState(): AcpiPmState {
    return { sts: this.sts, en: this.en, cnt: this.cnt };
  }

  restoreState(s: AcpiPmState): void {
    this.sts = s.sts;
    this.en = s.en;
    this.cnt = s.cnt;
  }
}

function mask(size: AccessSize): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}
