// National Semiconductor PC16550D UART with FIFOs (datasheet, June 1995). Register window of
// 8 ports (COM1 at 0x3F8). Transmission is instant: THR and the shift register are always
// empty again by the time the guest looks, as far as THRE, TEMT and the THRE interrupt go.
// As on PC serial cards, the IRQ is driven only while MCR.OUT2 is set; loopback forces OUT2
// inactive. This keeps an unused port quiet on an IRQ shared with another (COM1/COM3).
import type { AccessSize, BusDevice, IrqLine } from '../bus/device.ts';
import type { Timer, TimerHost } from '../machine/clock.ts';

/** Register offsets (DLL/DLM replace RBR/THR and IER while LCR.DLAB is set). */
const REG_DATA = 0; // RBR (read), THR (write), DLL
const REG_IER = 1; // DLM
const REG_IIR_FCR = 2;
const REG_LCR = 3;
const REG_MCR = 4;
const REG_LSR = 5;
const REG_MSR = 6;
const REG_SCR = 7;

/** IER. */
const IER_RDA = 0x01;
const IER_THRE = 0x02;
const IER_RLS = 0x04;
const IER_MS = 0x08;
const IER_MASK = 0x0f;

/** IIR interrupt identification, highest priority first. */
const IIR_NO_INT = 0x01;
const IIR_RLS = 0x06;
const IIR_RDA = 0x04;
const IIR_CTI = 0x0c;
const IIR_THRE = 0x02;
const IIR_MS = 0x00;
const IIR_FIFOS_ENABLED = 0xc0;

/** FCR. */
const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;
const FCR_TRIGGER_SHIFT = 6;
const RX_TRIGGER_BYTES = [1, 4, 8, 14];

/** LCR. */
const LCR_WORD_LENGTH = 0x03;
const LCR_TWO_STOP_BITS = 0x04;
const LCR_PARITY = 0x08;
const LCR_DLAB = 0x80;

/** MCR. */
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
const MCR_MASK = 0x1f;

/** LSR. */
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_PE = 0x04;
const LSR_FE = 0x08;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

/** MSR. */
const MSR_DCTS = 0x01;
const MSR_DDSR = 0x02;
const MSR_TERI = 0x04;
const MSR_DDCD = 0x08;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
const MSR_DELTAS = 0x0f;
/** Outside loopback the other end looks connected and ready. */
const MSR_LINES_CONNECTED = MSR_CTS | MSR_DSR | MSR_DCD;

const FIFO_BYTES = 16;
/** 1.8432 MHz crystal / 16: divisor 1 is 115200 baud. */
const BASE_BAUD = 115_200;
/** The RX timeout interrupt fires after 4 character times without RX FIFO activity. */
const TIMEOUT_CHARS = 4;

export interface UartState {
  divisor: number;
  ier: number;
  lcr: number;
  mcr: number;
  /** LSR error bits (OE, PE, FE, BI); DR, THRE and TEMT are derived. */
  lsrErrors: number;
  /** MSR: line bits 7-4 and delta bits 3-0. */
  msr: number;
  scr: number;
  fifoEnabled: boolean;
  rxTrigger: number;
  rxFifo: number[];
  /** Input waiting on the host side while the RX FIFO is full. */
  hostQueue: number[];
  lastRx: number;
  thrInterrupt: boolean;
  timeoutInterrupt: boolean;
  timeoutDeadlineNs: number;
  refillDeadlineNs: number;
}

/**
 * A 16550A. The guest's THR writes go straight to `output`; host input is pushed with
 * receive() and flows into the RX FIFO as the guest drains it, so none is lost.
 */
export class Uart16550 implements BusDevice {
  private divisor = 12; // 9600 baud
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsrErrors = 0;
  private msr = MSR_LINES_CONNECTED;
  private scr = 0;
  private fifoEnabled = false;
  private rxTrigger = 1;
  private rxFifo: number[] = [];
  private hostQueue: number[] = [];
  private hostHead = 0;
  private lastRx = 0;
  private thrInterrupt = false;
  private timeoutInterrupt = false;
  private timeoutDeadlineNs = -1;
  private refillDeadlineNs = -1;
  private irqLevel = false;
  private readonly timeoutTimer: Timer;
  private readonly refillTimer: Timer;

  constructor(
    private readonly timers: TimerHost,
    private readonly irq: IrqLine,
    private readonly output: (byte: number) => void,
  ) {
    this.timeoutTimer = timers.createTimer('uart-rx-timeout', () => this.onTimeout());
    this.refillTimer = timers.createTimer('uart-rx-refill', () => {
      this.refillDeadlineNs = -1;
      this.pump();
    });
  }

  /** Queue host input for the guest. */
  receive(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.hostQueue.push(bytes[i] & 0xff);
    this.pump();
  }

  /** Host input not yet in the RX FIFO. */
  get queuedInputBytes(): number {
    return this.hostQueue.length - this.hostHead;
  }

  read(offset: number, _size: AccessSize): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case REG_DATA:
        return dlab ? this.divisor & 0xff : this.readRbr();
      case REG_IER:
        return dlab ? this.divisor >> 8 : this.ier;
      case REG_IIR_FCR:
        return this.readIir();
      case REG_LCR:
        return this.lcr;
      case REG_MCR:
        return this.mcr;
      case REG_LSR: {
        const lsr = this.lsrErrors | (this.rxFifo.length ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
        this.lsrErrors = 0;
        this.update();
        return lsr;
      }
      case REG_MSR: {
        const msr = this.msr;
        this.msr &= ~MSR_DELTAS;
        this.update();
        return msr;
      }
      case REG_SCR:
        return this.scr;
      default:
        return 0xff;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case REG_DATA:
        if (dlab) this.divisor = (this.divisor & 0xff00) | value;
        else this.writeThr(value);
        break;
      case REG_IER:
        if (dlab) this.divisor = (this.divisor & 0xff) | (value << 8);
        else this.writeIer(value);
        break;
      case REG_IIR_FCR:
        this.writeFcr(value);
        break;
      case REG_LCR:
        this.lcr = value;
        break;
      case REG_MCR:
        this.writeMcr(value);
        break;
      case REG_SCR:
        this.scr = value;
        break;
    }
    this.update();
  }

  saveState(): UartState {
    return {
      divisor: this.divisor,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      lsrErrors: this.lsrErrors,
      msr: this.msr,
      scr: this.scr,
      fifoEnabled: this.fifoEnabled,
      rxTrigger: this.rxTrigger,
      rxFifo: [...this.rxFifo],
      hostQueue: this.hostQueue.slice(this.hostHead),
      lastRx: this.lastRx,
      thrInterrupt: this.thrInterrupt,
      timeoutInterrupt: this.timeoutInterrupt,
      timeoutDeadlineNs: this.timeoutDeadlineNs,
      refillDeadlineNs: this.refillDeadlineNs,
    };
  }

  restoreState(s: UartState): void {
    this.divisor = s.divisor;
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.lsrErrors = s.lsrErrors;
    this.msr = s.msr;
    this.scr = s.scr;
    this.fifoEnabled = s.fifoEnabled;
    this.rxTrigger = s.rxTrigger;
    this.rxFifo = [...s.rxFifo];
    this.hostQueue = [...s.hostQueue];
    this.hostHead = 0;
    this.lastRx = s.lastRx;
    this.thrInterrupt = s.thrInterrupt;
    this.timeoutInterrupt = s.timeoutInterrupt;
    this.armTimeout(s.timeoutDeadlineNs);
    this.armRefill(s.refillDeadlineNs);
    this.irqLevel = this.irqWanted;
    this.irq.set(this.irqLevel);
  }

  private readRbr(): number {
    const byte = this.rxFifo.shift();
    if (byte === undefined) return this.lastRx;
    this.lastRx = byte;
    this.timeoutInterrupt = false;
    this.pump();
    this.restartTimeout();
    this.update();
    return byte;
  }

  private readIir(): number {
    const id = this.pendingInterrupt();
    // Reading IIR when it reports THRE acknowledges that interrupt (datasheet table IV).
    if (id === IIR_THRE) {
      this.thrInterrupt = false;
      this.update();
    }
    return id | (this.fifoEnabled ? IIR_FIFOS_ENABLED : 0);
  }

  private writeThr(byte: number): void {
    if (this.mcr & MCR_LOOP) {
      if (this.rxFifo.length < this.rxCapacity) {
        this.rxFifo.push(byte);
        this.restartTimeout();
      } else {
        this.lsrErrors |= LSR_OE;
      }
    } else {
      this.output(byte);
    }
    // The byte leaves at once, so THR is empty again: a new THRE interrupt.
    this.thrInterrupt = true;
  }

  private writeIer(value: number): void {
    const enabling = value & ~this.ier;
    this.ier = value & IER_MASK;
    // Enabling ETBEI while THR is empty raises THRE even if an IIR read had cleared it;
    // Linux's serial8250_do_startup checks this (UART_BUG_THRE) and relies on it to start TX.
    if (enabling & IER_THRE) this.thrInterrupt = true;
  }

  private writeFcr(value: number): void {
    const enable = (value & FCR_ENABLE) !== 0;
    if (enable !== this.fifoEnabled || (enable && value & FCR_CLEAR_RX)) this.clearRx();
    this.fifoEnabled = enable;
    if (enable) this.rxTrigger = RX_TRIGGER_BYTES[value >> FCR_TRIGGER_SHIFT];
  }

  private writeMcr(value: number): void {
    this.mcr = value & MCR_MASK;
    this.setModemLines(this.mcr & MCR_LOOP ? loopbackLines(this.mcr) : MSR_LINES_CONNECTED);
    if (!(this.mcr & MCR_LOOP)) this.pump();
  }

  private setModemLines(lines: number): void {
    const old = this.msr;
    const changed = (old ^ lines) & ~MSR_DELTAS;
    let deltas = 0;
    if (changed & MSR_CTS) deltas |= MSR_DCTS;
    if (changed & MSR_DSR) deltas |= MSR_DDSR;
    if (changed & MSR_DCD) deltas |= MSR_DDCD;
    if (old & MSR_RI && !(lines & MSR_RI)) deltas |= MSR_TERI;
    this.msr = lines | (old & MSR_DELTAS) | deltas;
  }

  private get rxCapacity(): number {
    return this.fifoEnabled ? FIFO_BYTES : 1;
  }

  /**
   * Drop what the RX FIFO holds. Queued host input follows one character time later rather
   * than at once, so a guest that clears the FIFO several times in a row loses only what
   * was already in it.
   */
  private clearRx(): void {
    this.rxFifo = [];
    this.timeoutInterrupt = false;
    this.armTimeout(-1);
    if (this.queuedInputBytes) this.armRefill(this.timers.nowNs() + this.charTimeNs());
  }

  /** Move queued host input into the RX FIFO while it has room (not in loopback). */
  /**
   * Move host input into the RX FIFO. The host end honours RTS, as a terminal
   * with hardware flow control does: it sends only while the guest asserts RTS,
   * so input typed or piped before the guest opens the port waits in the host
   * queue instead of being flushed with the FIFO when the driver starts.
   */
  private pump(): void {
    if (this.mcr & MCR_LOOP || !(this.mcr & MCR_RTS) || this.refillDeadlineNs >= 0) return;
    let moved = false;
    while (this.rxFifo.length < this.rxCapacity && this.hostHead < this.hostQueue.length) {
      this.rxFifo.push(this.hostQueue[this.hostHead++]);
      moved = true;
    }
    if (this.hostHead === this.hostQueue.length) {
      this.hostQueue = [];
      this.hostHead = 0;
    } else if (this.hostHead > 4096) {
      this.hostQueue = this.hostQueue.slice(this.hostHead);
      this.hostHead = 0;
    }
    if (moved) {
      this.restartTimeout();
      this.update();
    }
  }

  private charTimeNs(): number {
    const dataBits = 5 + (this.lcr & LCR_WORD_LENGTH);
    const bits = 1 + dataBits + (this.lcr & LCR_PARITY ? 1 : 0) + (this.lcr & LCR_TWO_STOP_BITS ? 2 : 1);
    return Math.ceil((bits * Math.max(1, this.divisor) * 1e9) / BASE_BAUD);
  }

  private restartTimeout(): void {
    if (this.fifoEnabled && this.rxFifo.length) this.armTimeout(this.timers.nowNs() + TIMEOUT_CHARS * this.charTimeNs());
    else this.armTimeout(-1);
  }

  private armTimeout(deadlineNs: number): void {
    this.timeoutDeadlineNs = deadlineNs;
    if (deadlineNs < 0) this.timeoutTimer.cancel();
    else this.timeoutTimer.arm(deadlineNs);
  }

  private armRefill(deadlineNs: number): void {
    this.refillDeadlineNs = deadlineNs;
    if (deadlineNs < 0) this.refillTimer.cancel();
    else this.refillTimer.arm(deadlineNs);
  }

  private onTimeout(): void {
    this.timeoutDeadlineNs = -1;
    if (this.fifoEnabled && this.rxFifo.length) {
      this.timeoutInterrupt = true;
      this.update();
    }
  }

  private pendingInterrupt(): number {
    if (this.ier & IER_RLS && this.lsrErrors & LSR_ERRORS) return IIR_RLS;
    if (this.ier & IER_RDA) {
      if (this.rxFifo.length >= (this.fifoEnabled ? this.rxTrigger : 1)) return IIR_RDA;
      if (this.timeoutInterrupt) return IIR_CTI;
    }
    if (this.ier & IER_THRE && this.thrInterrupt) return IIR_THRE;
    if (this.ier & IER_MS && this.msr & MSR_DELTAS) return IIR_MS;
    return IIR_NO_INT;
  }

  private get irqWanted(): boolean {
    return (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2 && this.pendingInterrupt() !== IIR_NO_INT;
  }

  private update(): void {
    const level = this.irqWanted;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }
}

/** In loopback the modem outputs feed the inputs: DTR to DSR, RTS to CTS, OUT1 to RI, OUT2 to DCD. */
function loopbackLines(mcr: number): number {
  return (
    (mcr & MCR_DTR ? MSR_DSR : 0) |
    (mcr & MCR_RTS ? MSR_CTS : 0) |
    (mcr & MCR_OUT1 ? MSR_RI : 0) |
    (mcr & MCR_OUT2 ? MSR_DCD : 0)
  );
}
