// Motorola MC146818A real-time clock with 128 bytes of CMOS RAM (datasheet), at 0x70 (index;
// bit 7 masks NMI) and 0x71 (data). Memory-size bytes as laid out by the IBM PC/AT BIOS and
// read by SeaBIOS; century at 0x32 as the ACPI FADT CENTURY field names it.
import type { AccessSize, BusDevice, IrqLine } from '../bus/device.ts';
import type { HostClock, Timer, TimerHost } from '../machine/clock.ts';

/** Port offsets. */
const PORT_INDEX = 0;
const PORT_DATA = 1;
const INDEX_NMI_DISABLE = 0x80;
const INDEX_MASK = 0x7f;

/** Clock registers. */
const REG_SECONDS = 0x00;
const REG_SECONDS_ALARM = 0x01;
const REG_MINUTES = 0x02;
const REG_MINUTES_ALARM = 0x03;
const REG_HOURS = 0x04;
const REG_HOURS_ALARM = 0x05;
const REG_WEEKDAY = 0x06;
const REG_DAY = 0x07;
const REG_MONTH = 0x08;
const REG_YEAR = 0x09;
const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;

/** CMOS RAM layout (16-bit values little endian). */
const CMOS_BASE_MEMORY_KB = 0x15;
const CMOS_EXTENDED_MEMORY_KB = 0x17; // above 1 MiB, capped at 0xFFFF
const CMOS_CHECKSUM = 0x2e; // big endian sum of 0x10..0x2D
const CMOS_EXTENDED_MEMORY_KB_2 = 0x30; // copy of 0x17
const CMOS_CENTURY = 0x32;
const CMOS_MEMORY_ABOVE_16M_64K = 0x34; // 64 KiB blocks above 16 MiB, capped at 0xFFFF
const CMOS_BYTES = 128;

/** Register A. */
const A_UIP = 0x80;
const A_DV_RESET = 0x60; // DV2 and DV1 set: divider chain held in reset
const A_RS = 0x0f;

/** Register B. */
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;

/** Register C: the flag bits line up with their enables in register B. */
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const C_FLAGS = C_PF | C_AF | C_UF;

/** Register D. */
const D_VRT = 0x80;

const HOURS_PM = 0x80;
/** Alarm bytes with the two top bits set match any value. */
const ALARM_DONT_CARE = 0xc0;

const NS_PER_S = 1_000_000_000;
/** UIP rises this long before each update (datasheet t_BUC). */
const UIP_LEAD_NS = 244_000;
/** After the divider leaves reset the first update comes half a second later. */
const DIVIDER_RESTART_NS = 500_000_000;
const BASE_MEMORY_KB = 640;
const MIB = 1024 * 1024;

export interface RtcState {
  cmos: number[];
  index: number;
  nmiMasked: boolean;
  /** Unix time (seconds) of the RTC at originNs. */
  baseSeconds: number;
  /** Virtual time of one of the RTC's second boundaries; periodic interrupts are in phase with it. */
  originNs: number;
  /** Virtual time up to which register C flags are accounted for. */
  flagsSyncedNs: number;
}

function floorDiv(a: number, b: number): number {
  const r = ((a % b) + b) % b;
  return (a - r) / b;
}

/** Periodic interrupts per second for rate select RS (32.768 kHz time base); 0 for none. */
function periodicHz(rs: number): number {
  if (rs === 0) return 0;
  if (rs <= 2) return 256 >> (rs - 1);
  return 0x10000 >> rs;
}

/**
 * The clock reads startWallTime + elapsed virtual time: the wall clock is sampled once, at
 * construction, so runs stay deterministic. The clock counts UTC, as Linux on a PC expects.
 */
export class RtcCmos implements BusDevice {
  private cmos = new Array<number>(CMOS_BYTES).fill(0);
  private index = 0;
  private nmiMasked = false;
  private baseSeconds: number;
  private originNs: number;
  private flagsSyncedNs: number;
  private irqLevel = false;
  private readonly timer: Timer;

  constructor(
    private readonly timers: TimerHost,
    hostClock: HostClock,
    private readonly irq: IrqLine,
    ramSizeBytes: number,
  ) {
    this.timer = timers.createTimer('rtc', (nowNs) => this.onTimer(nowNs));
    const now = timers.nowNs();
    const wallMs = Math.floor(hostClock.wallTimeMs());
    this.baseSeconds = Math.floor(wallMs / 1000);
    this.originNs = now - (wallMs - this.baseSeconds * 1000) * 1_000_000;
    this.flagsSyncedNs = now;
    this.cmos[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.cmos[REG_B] = B_24H;
    this.cmos[REG_D] = D_VRT;
    this.writeWord(CMOS_BASE_MEMORY_KB, Math.min(BASE_MEMORY_KB, Math.floor(ramSizeBytes / 1024)));
    const extendedKb = Math.min(0xffff, Math.max(0, Math.floor((ramSizeBytes - MIB) / 1024)));
    this.writeWord(CMOS_EXTENDED_MEMORY_KB, extendedKb);
    this.writeWord(CMOS_EXTENDED_MEMORY_KB_2, extendedKb);
    this.writeWord(CMOS_MEMORY_ABOVE_16M_64K, Math.min(0xffff, Math.max(0, Math.floor((ramSizeBytes - 16 * MIB) / 0x10000))));
    let sum = 0;
    for (let i = 0x10; i < CMOS_CHECKSUM; i++) sum += this.cmos[i];
    this.cmos[CMOS_CHECKSUM] = (sum >> 8) & 0xff;
    this.cmos[CMOS_CHECKSUM + 1] = sum & 0xff;
    this.storeTime(this.currentSeconds(now));
  }

  /** Whether the guest has set the NMI mask bit (bit 7 of the last index written). */
  get nmiDisabled(): boolean {
    return this.nmiMasked;
  }

  read(offset: number, _size: AccessSize): number {
    if (offset !== PORT_DATA) return 0xff;
    const now = this.timers.nowNs();
    const index = this.index;
    switch (index) {
      case REG_SECONDS:
      case REG_MINUTES:
      case REG_HOURS:
      case REG_WEEKDAY:
      case REG_DAY:
      case REG_MONTH:
      case REG_YEAR:
      case CMOS_CENTURY:
        return this.running ? this.timeRegisters(this.currentSeconds(now))[index] : this.cmos[index];
      case REG_A:
        return this.cmos[REG_A] | (this.updateImminent(now) ? A_UIP : 0);
      case REG_C: {
        this.syncFlags(now);
        const c = this.cmos[REG_C] | (this.irqPending ? C_IRQF : 0);
        this.cmos[REG_C] = 0;
        this.updateIrq();
        this.armTimer(now);
        return c;
      }
      case REG_D:
        return D_VRT;
      default:
        return this.cmos[index];
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    if (offset === PORT_INDEX) {
      this.index = value & INDEX_MASK;
      this.nmiMasked = (value & INDEX_NMI_DISABLE) !== 0;
      return;
    }
    if (offset !== PORT_DATA) return;
    const now = this.timers.nowNs();
    const index = this.index;
    switch (index) {
      case REG_SECONDS:
      case REG_MINUTES:
      case REG_HOURS:
      case REG_WEEKDAY:
      case REG_DAY:
      case REG_MONTH:
      case REG_YEAR:
      case CMOS_CENTURY:
        this.writeTimeRegister(index, value, now);
        break;
      case REG_A:
        this.setControl(value & ~A_UIP, this.cmos[REG_B], now);
        break;
      case REG_B:
        this.setControl(this.cmos[REG_A], value & B_SET ? value & ~B_UIE : value, now);
        break;
      case REG_C:
      case REG_D:
        break;
      default:
        this.cmos[index] = value;
        break;
    }
  }

  saveState(): RtcState {
    return {
      cmos: [...this.cmos],
      index: this.index,
      nmiMasked: this.nmiMasked,
      baseSeconds: this.baseSeconds,
      originNs: this.originNs,
      flagsSyncedNs: this.flagsSyncedNs,
    };
  }

  restoreState(s: RtcState): void {
    this.cmos = [...s.cmos];
    this.index = s.index;
    this.nmiMasked = s.nmiMasked;
    this.baseSeconds = s.baseSeconds;
    this.originNs = s.originNs;
    this.flagsSyncedNs = s.flagsSyncedNs;
    this.irqLevel = this.irqPending;
    this.irq.set(this.irqLevel);
    this.armTimer(this.timers.nowNs());
  }

  /** Time advances unless SET is on or the divider chain is held in reset. */
  private get running(): boolean {
    return !(this.cmos[REG_B] & B_SET) && this.dividerRunning;
  }

  private get dividerRunning(): boolean {
    return (this.cmos[REG_A] & A_DV_RESET) !== A_DV_RESET;
  }

  private get binary(): boolean {
    return (this.cmos[REG_B] & B_DM_BINARY) !== 0;
  }

  private get irqPending(): boolean {
    return (this.cmos[REG_C] & this.cmos[REG_B] & C_FLAGS) !== 0;
  }

  private elapsedSeconds(now: number): number {
    return floorDiv(Math.floor(now - this.originNs), NS_PER_S);
  }

  private currentSeconds(now: number): number {
    return this.baseSeconds + this.elapsedSeconds(now);
  }

  private nextUpdateNs(now: number): number {
    return this.originNs + (this.elapsedSeconds(now) + 1) * NS_PER_S;
  }

  private updateImminent(now: number): boolean {
    return this.running && this.nextUpdateNs(now) - now <= UIP_LEAD_NS;
  }

  /** Index of the last periodic-interrupt boundary at or before now. */
  private periodIndex(now: number, hz: number): number {
    const e = Math.floor(now - this.originNs);
    const sec = floorDiv(e, NS_PER_S);
    return sec * hz + Math.floor(((e - sec * NS_PER_S) * hz) / NS_PER_S);
  }

  private periodStartNs(index: number, hz: number): number {
    const sec = floorDiv(index, hz);
    return this.originNs + sec * NS_PER_S + Math.ceil(((index - sec * hz) * NS_PER_S) / hz);
  }

  private encode(value: number): number {
    return this.binary ? value : (Math.floor(value / 10) << 4) | value % 10;
  }

  private decode(value: number): number {
    return this.binary ? value : (value >> 4) * 10 + (value & 0x0f);
  }

  /** Clock registers (indexed like CMOS) for Unix time `seconds`, in the current format. */
  private timeRegisters(seconds: number): Record<number, number> {
    const d = new Date(seconds * 1000);
    const hour = d.getUTCHours();
    const hours =
      this.cmos[REG_B] & B_24H ? this.encode(hour) : this.encode(hour % 12 || 12) | (hour >= 12 ? HOURS_PM : 0);
    const year = d.getUTCFullYear();
    return {
      [REG_SECONDS]: this.encode(d.getUTCSeconds()),
      [REG_MINUTES]: this.encode(d.getUTCMinutes()),
      [REG_HOURS]: hours,
      [REG_WEEKDAY]: this.encode(d.getUTCDay() + 1),
      [REG_DAY]: this.encode(d.getUTCDate()),
      [REG_MONTH]: this.encode(d.getUTCMonth() + 1),
      [REG_YEAR]: this.encode(year % 100),
      [CMOS_CENTURY]: this.encode(Math.floor(year / 100)),
    };
  }

  private storeTime(seconds: number): void {
    const regs = this.timeRegisters(seconds);
    for (const [index, value] of Object.entries(regs)) this.cmos[Number(index)] = value;
  }

  /** Unix time from the clock registers as the guest wrote them. */
  private parseTime(): number {
    const c = this.cmos;
    const rawHours = c[REG_HOURS];
    const hour =
      c[REG_B] & B_24H
        ? this.decode(rawHours)
        : (this.decode(rawHours & ~HOURS_PM) % 12) + (rawHours & HOURS_PM ? 12 : 0);
    const yy = this.decode(c[REG_YEAR]);
    let century = this.decode(c[CMOS_CENTURY]);
    if (century < 19 || century > 99) century = yy < 70 ? 20 : 19;
    const ms = Date.UTC(
      century * 100 + yy,
      this.decode(c[REG_MONTH]) - 1,
      this.decode(c[REG_DAY]),
      hour,
      this.decode(c[REG_MINUTES]),
      this.decode(c[REG_SECONDS]),
    );
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : this.baseSeconds;
  }

  private writeTimeRegister(index: number, value: number, now: number): void {
    if (!this.running) {
      this.cmos[index] = value;
      return;
    }
    this.syncFlags(now);
    this.storeTime(this.currentSeconds(now));
    this.cmos[index] = value;
    this.baseSeconds = this.parseTime() - this.elapsedSeconds(now);
    this.armTimer(now);
  }

  /** Apply new register A and B values: freeze the clock into CMOS, or restart it from there. */
  private setControl(a: number, b: number, now: number): void {
    this.syncFlags(now);
    const wasRunning = this.running;
    const dividerWasReset = !this.dividerRunning;
    this.cmos[REG_A] = a;
    this.cmos[REG_B] = b;
    if (wasRunning && !this.running) {
      this.storeTime(this.currentSeconds(now));
    } else if (!wasRunning && this.running) {
      this.baseSeconds = this.parseTime();
      this.originNs = dividerWasReset ? now - (NS_PER_S - DIVIDER_RESTART_NS) : now;
      this.flagsSyncedNs = now;
    }
    this.updateIrq();
    this.armTimer(now);
  }

  /** Account register C flags for the periodic and update events since the last sync. */
  private syncFlags(now: number): void {
    const since = this.flagsSyncedNs;
    this.flagsSyncedNs = now;
    if (now <= since) return;
    const hz = periodicHz(this.cmos[REG_A] & A_RS);
    if (hz && this.dividerRunning && this.periodIndex(now, hz) > this.periodIndex(since, hz)) {
      this.cmos[REG_C] |= C_PF;
    }
    if (this.running && this.elapsedSeconds(now) > this.elapsedSeconds(since)) {
      this.cmos[REG_C] |= C_UF;
      if (this.alarmMatches(this.currentSeconds(now))) this.cmos[REG_C] |= C_AF;
    }
    this.updateIrq();
  }

  private alarmMatches(seconds: number): boolean {
    const now = this.timeRegisters(seconds);
    const pairs: [number, number][] = [
      [REG_SECONDS_ALARM, REG_SECONDS],
      [REG_MINUTES_ALARM, REG_MINUTES],
      [REG_HOURS_ALARM, REG_HOURS],
    ];
    return pairs.every(([alarm, reg]) => {
      const a = this.cmos[alarm];
      return (a & ALARM_DONT_CARE) === ALARM_DONT_CARE || a === now[reg];
    });
  }

  private armTimer(now: number): void {
    const b = this.cmos[REG_B];
    let next = Infinity;
    const hz = periodicHz(this.cmos[REG_A] & A_RS);
    if (b & B_PIE && hz && this.dividerRunning) next = this.periodStartNs(this.periodIndex(now, hz) + 1, hz);
    if (b & (B_UIE | B_AIE) && this.running) next = Math.min(next, this.nextUpdateNs(now));
    if (next === Infinity) this.timer.cancel();
    else this.timer.arm(next);
  }

  private onTimer(now: number): void {
    this.syncFlags(now);
    this.armTimer(now);
  }

  private updateIrq(): void {
    const level = this.irqPending;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  private writeWord(index: number, value: number): void {
    this.cmos[index] = value & 0xff;
    this.cmos[index + 1] = (value >> 8) & 0xff;
  }
}
