// Intel 8254 Programmable Interval Timer (datasheet 231164-005) at 0x40-0x43, and System
// Control Port B at 0x61 (IBM PC/AT Technical Reference; Intel 82371SB PIIX3 datasheet,
// section 4.7.2 "NMI Status and Control Register").
import type { AccessSize, BusDevice, IrqLine } from '../bus/device.ts';
import type { Timer, TimerHost } from '../machine/clock.ts';

/** The PIT input clock: 14.31818 MHz / 12. */
export const PIT_HZ = 1_193_182;
const NS_PER_S = 1_000_000_000;

/** Port offsets in the 0x40 window. */
const PORT_CONTROL = 3;

/** Control word (port 0x43): SC in bits 7-6, RW in 5-4, M in 3-1, BCD in 0. */
const CW_SC_SHIFT = 6;
const CW_RW_SHIFT = 4;
const CW_MODE_SHIFT = 1;
const CW_BCD = 0x01;
const SC_READ_BACK = 3;
const RW_LATCH = 0;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_LSB_MSB = 3;

/** Read-back command: bits 5 and 4 are active low, bits 3-1 select counters 2, 1, 0. */
const RB_NO_COUNT = 0x20;
const RB_NO_STATUS = 0x10;

/** Status byte returned after a read-back with STATUS. */
const STATUS_OUT = 0x80;
const STATUS_NULL_COUNT = 0x40;

/** System Control Port B (0x61). */
const PORTB_GATE2 = 0x01;
const PORTB_SPEAKER_DATA = 0x02;
const PORTB_WRITABLE = 0x0f; // bits 2-3 are the PCI SERR#/IOCHK# NMI enables
const PORTB_REFRESH_TOGGLE = 0x10;
const PORTB_OUT2 = 0x20;
/** The refresh bit toggles once per DRAM refresh request, counter 1's 18-clock period (15.085 us). */
const REFRESH_PERIOD_NS = 15_085;

export interface PitChannelState {
  mode: number;
  bcd: boolean;
  rw: number;
  /** The count register in binary, 1..65536 (1..10000 in BCD), 0 meaning none written. */
  countRegister: number;
  /** The count the counting element reloads from, taken from countRegister when counting starts. */
  reload: number;
  counting: boolean;
  /** Virtual time at which the counting element held reload. */
  startNs: number;
  /** Virtual time at which a low gate paused counting, or -1. */
  pausedAtNs: number;
  /** The value reads return while not counting. */
  idleCount: number;
  gate: boolean;
  nullCount: boolean;
  /** The low byte of a two-byte count write in progress, or -1. */
  writeLow: number;
  /** Read flip-flop for unlatched two-byte reads: the next read returns the high byte. */
  readHigh: boolean;
  countLatch: number[];
  /** A latched status byte, or -1. */
  statusLatch: number;
}

export interface PitState {
  channels: PitChannelState[];
  portB: number;
  irq0Level: boolean;
}

/** Whole PIT clocks in elapsedNs. Split by seconds so the products stay exact below 2^53. */
function ticksIn(elapsedNs: number): number {
  const e = Math.floor(elapsedNs);
  const rem = e % NS_PER_S;
  return ((e - rem) / NS_PER_S) * PIT_HZ + Math.floor((rem * PIT_HZ) / NS_PER_S);
}

/** The first whole nanosecond at which ticksIn() reaches ticks. */
function nsForTicks(ticks: number): number {
  const rem = ticks % PIT_HZ;
  return ((ticks - rem) / PIT_HZ) * NS_PER_S + Math.ceil((rem * NS_PER_S) / PIT_HZ);
}

function toBcd(value: number): number {
  let bcd = 0;
  for (let shift = 0; shift < 16; shift += 4, value = Math.floor(value / 10)) bcd |= (value % 10) << shift;
  return bcd;
}

function fromBcd(value: number): number {
  return (value & 0xf) + ((value >> 4) & 0xf) * 10 + ((value >> 8) & 0xf) * 100 + ((value >> 12) & 0xf) * 1000;
}

function newChannel(gate: boolean, nowNs: number): PitChannelState {
  return {
    mode: 3,
    bcd: false,
    rw: RW_LSB_MSB,
    countRegister: 0x10000,
    reload: 0x10000,
    counting: true,
    startNs: nowNs,
    pausedAtNs: gate ? -1 : nowNs,
    idleCount: 0,
    gate,
    nullCount: false,
    writeLow: -1,
    readHigh: false,
    countLatch: [],
    statusLatch: -1,
  };
}

/**
 * The three counters. Counts and OUT levels are computed from virtual time on access, never
 * ticked. Counter 0 drives IRQ0 and arms a timer for its own next rising edge; counter 1 is
 * the (idle) refresh counter; counter 2 is gated and read through port B (`portB`).
 * Starts as a BIOS leaves it: all counters in mode 3 with count 65536, counter 2 gated off.
 */
export class Pit8254 implements BusDevice {
  private channels: PitChannelState[];
  private portBValue = 0;
  private irq0Level = false;
  private readonly timer: Timer;

  /** System Control Port B, to be mapped at 0x61. */
  readonly portB: BusDevice = {
    read: () => this.readPortB(),
    write: (_offset, _size, value) => this.writePortB(value),
  };

  constructor(
    private readonly timers: TimerHost,
    private readonly irq0: IrqLine,
  ) {
    this.timer = timers.createTimer('pit0', (nowNs) => this.onChannel0Edge(nowNs));
    const now = timers.nowNs();
    this.channels = [newChannel(true, now), newChannel(true, now), newChannel(false, now)];
    this.syncChannel0(now);
  }

  read(offset: number, _size: AccessSize): number {
    switch (offset) {
      case 0:
      case 1:
      case 2:
        return this.readCounter(this.channels[offset]);
      default:
        return 0xff;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    switch (offset) {
      case 0:
      case 1:
      case 2:
        this.writeCounter(this.channels[offset], value);
        if (offset === 0) this.syncChannel0(this.timers.nowNs());
        break;
      case PORT_CONTROL:
        this.writeControl(value);
        this.syncChannel0(this.timers.nowNs());
        break;
    }
  }

  saveState(): PitState {
    return {
      channels: this.channels.map((ch) => ({ ...ch, countLatch: [...ch.countLatch] })),
      portB: this.portBValue,
      irq0Level: this.irq0Level,
    };
  }

  restoreState(state: PitState): void {
    this.channels = state.channels.map((ch) => ({ ...ch, countLatch: [...ch.countLatch] }));
    this.portBValue = state.portB;
    this.irq0Level = state.irq0Level;
    this.irq0.set(this.irq0Level);
    this.armChannel0(this.timers.nowNs());
  }

  private readPortB(): number {
    const now = this.timers.nowNs();
    let value = this.portBValue;
    if (Math.floor(now / REFRESH_PERIOD_NS) & 1) value |= PORTB_REFRESH_TOGGLE;
    if (this.outAt(this.channels[2], now)) value |= PORTB_OUT2;
    return value;
  }

  private writePortB(value: number): void {
    this.portBValue = value & PORTB_WRITABLE;
    this.setGate(this.channels[2], (value & PORTB_GATE2) !== 0);
  }

  /** Whether the guest has the PC speaker sounding (gate 2 and speaker data both on). */
  get speakerOn(): boolean {
    return (this.portBValue & (PORTB_GATE2 | PORTB_SPEAKER_DATA)) === (PORTB_GATE2 | PORTB_SPEAKER_DATA);
  }

  private writeControl(value: number): void {
    const select = value >> CW_SC_SHIFT;
    if (select === SC_READ_BACK) {
      for (let i = 0; i < 3; i++) {
        if (!(value & (2 << i))) continue;
        const ch = this.channels[i];
        if (!(value & RB_NO_COUNT)) this.latchCount(ch);
        if (!(value & RB_NO_STATUS) && ch.statusLatch < 0) ch.statusLatch = this.status(ch);
      }
      return;
    }
    const ch = this.channels[select];
    const rw = (value >> CW_RW_SHIFT) & 3;
    if (rw === RW_LATCH) {
      this.latchCount(ch);
      return;
    }
    const now = this.timers.nowNs();
    ch.idleCount = this.countAt(ch, now);
    let mode = (value >> CW_MODE_SHIFT) & 7;
    if (mode >= 6) mode -= 4; // 110 and 111 are modes 2 and 3
    ch.mode = mode;
    ch.bcd = (value & CW_BCD) !== 0;
    ch.rw = rw;
    ch.counting = false;
    ch.countRegister = 0;
    ch.nullCount = true;
    ch.writeLow = -1;
    ch.readHigh = false;
    ch.countLatch = [];
    ch.statusLatch = -1;
  }

  private writeCounter(ch: PitChannelState, value: number): void {
    let raw: number;
    switch (ch.rw) {
      case RW_LSB:
        raw = value;
        break;
      case RW_MSB:
        raw = value << 8;
        break;
      default:
        if (ch.writeLow < 0) {
          ch.writeLow = value;
          return;
        }
        raw = ch.writeLow | (value << 8);
        ch.writeLow = -1;
        break;
    }
    const binary = ch.bcd ? fromBcd(raw) : raw;
    ch.countRegister = binary === 0 ? this.modulus(ch) : binary;
    ch.nullCount = true;
    // Modes 1 and 5 load on the next gate trigger; the others load now. Modes 2 and 3
    // restart at once, where the 8254 would wait for the current period to end.
    if (ch.mode !== 1 && ch.mode !== 5) this.load(ch, this.timers.nowNs());
  }

  private load(ch: PitChannelState, now: number): void {
    ch.reload = ch.countRegister;
    ch.counting = true;
    ch.nullCount = false;
    ch.startNs = now;
    ch.pausedAtNs = ch.gate || ch.mode === 1 || ch.mode === 5 ? -1 : now;
  }

  private setGate(ch: PitChannelState, gate: boolean): void {
    if (gate === ch.gate) return;
    ch.gate = gate;
    const now = this.timers.nowNs();
    switch (ch.mode) {
      case 0:
      case 4:
        if (!ch.counting) break;
        if (!gate) ch.pausedAtNs = now;
        else if (ch.pausedAtNs >= 0) {
          ch.startNs += now - ch.pausedAtNs;
          ch.pausedAtNs = -1;
        }
        break;
      case 2:
      case 3:
        if (!ch.counting) break;
        if (!gate) ch.pausedAtNs = now;
        else this.load(ch, now);
        break;
      case 1:
      case 5:
        if (gate && ch.countRegister) this.load(ch, now);
        break;
    }
    if (ch === this.channels[0]) this.syncChannel0(now);
  }

  private modulus(ch: PitChannelState): number {
    return ch.bcd ? 10000 : 0x10000;
  }

  private elapsedTicks(ch: PitChannelState, now: number): number {
    return ticksIn((ch.pausedAtNs >= 0 ? ch.pausedAtNs : now) - ch.startNs);
  }

  /** The counting element, in binary. */
  private countAt(ch: PitChannelState, now: number): number {
    if (!ch.counting) return ch.idleCount;
    const k = this.elapsedTicks(ch, now);
    const n = ch.reload;
    let value: number;
    switch (ch.mode) {
      case 2:
        value = n - (k % n);
        break;
      case 3:
        value = n - ((2 * k) % n); // mode 3 counts down by two, twice per period
        break;
      default:
        value = n - k;
        break;
    }
    const m = this.modulus(ch);
    return ((value % m) + m) % m;
  }

  private outAt(ch: PitChannelState, now: number): boolean {
    if (!ch.counting) return ch.mode !== 0;
    const k = this.elapsedTicks(ch, now);
    const n = ch.reload;
    switch (ch.mode) {
      case 0:
      case 1:
        return k >= n;
      case 2:
        return !ch.gate || k % n !== n - 1;
      case 3:
        return !ch.gate || k % n < Math.ceil(n / 2);
      default:
        return k !== n;
    }
  }

  private status(ch: PitChannelState): number {
    return (
      (this.outAt(ch, this.timers.nowNs()) ? STATUS_OUT : 0) |
      (ch.nullCount ? STATUS_NULL_COUNT : 0) |
      (ch.rw << CW_RW_SHIFT) |
      (ch.mode << CW_MODE_SHIFT) |
      (ch.bcd ? CW_BCD : 0)
    );
  }

  private displayCount(ch: PitChannelState): number {
    const count = this.countAt(ch, this.timers.nowNs());
    return ch.bcd ? toBcd(count) : count;
  }

  private latchCount(ch: PitChannelState): void {
    if (ch.countLatch.length) return;
    const v = this.displayCount(ch);
    if (ch.rw === RW_LSB) ch.countLatch = [v & 0xff];
    else if (ch.rw === RW_MSB) ch.countLatch = [v >> 8];
    else ch.countLatch = [v & 0xff, v >> 8];
  }

  private readCounter(ch: PitChannelState): number {
    if (ch.statusLatch >= 0) {
      const status = ch.statusLatch;
      ch.statusLatch = -1;
      return status;
    }
    const latched = ch.countLatch.shift();
    if (latched !== undefined) return latched;
    const v = this.displayCount(ch);
    switch (ch.rw) {
      case RW_LSB:
        return v & 0xff;
      case RW_MSB:
        return v >> 8;
      default: {
        const high = ch.readHigh;
        ch.readHigh = !high;
        return high ? v >> 8 : v & 0xff;
      }
    }
  }

  /** Bring the IRQ0 line to OUT0's level and arm the timer for the next rising edge. */
  private syncChannel0(now: number): void {
    const out = this.outAt(this.channels[0], now);
    if (out !== this.irq0Level) {
      this.irq0Level = out;
      this.irq0.set(out);
    }
    this.armChannel0(now);
  }

  private armChannel0(now: number): void {
    const ch = this.channels[0];
    if (!ch.counting || ch.pausedAtNs >= 0) {
      this.timer.cancel();
      return;
    }
    const k = this.elapsedTicks(ch, now);
    const n = ch.reload;
    let edge: number;
    switch (ch.mode) {
      case 0:
      case 1:
        edge = k < n ? n : -1;
        break;
      case 2:
      case 3:
        edge = (Math.floor(k / n) + 1) * n;
        break;
      default:
        edge = k <= n ? n + 1 : -1;
        break;
    }
    if (edge < 0) this.timer.cancel();
    else this.timer.arm(ch.startNs + nsForTicks(edge));
  }

  /**
   * OUT0 rises. In modes 2-5 OUT is low for one clock (or, in mode 3, half the period) before
   * the edge; that low phase is not modelled, so the edge is delivered as a low-high pulse.
   */
  private onChannel0Edge(now: number): void {
    const ch = this.channels[0];
    if (ch.mode !== 0 && ch.mode !== 1) this.irq0.set(false);
    this.irq0Level = true;
    this.irq0.set(true);
    this.armChannel0(now);
  }
}
