// Intel 8259A Programmable Interrupt Controller (datasheet 231468-003), as the PC/AT pair:
// master at 0x20, slave at 0xA0 on master IR2. ELCR edge/level registers at 0x4D0/0x4D1 as in
// the Intel 82371SB (PIIX3) datasheet, section 2.4.6.
import type { AccessSize, BusDevice, IrqLine } from '../bus/device.ts';
import type { InterruptSource } from '../engines/vcpu.ts';

/** ICW1: a command-port write with bit 4 set. */
const ICW1_INIT = 0x10;
const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;

/** ICW4. */
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;

/** Command-port bits 4-3 choose the register: 00 is OCW2, 01 is OCW3. */
const COMMAND_SELECT = 0x18;
const SELECT_OCW3 = 0x08;

/** OCW2. */
const OCW2_EOI = 0x20;
const OCW2_SL = 0x40;
const OCW2_R = 0x80;
const OCW2_LEVEL = 0x07;

/** OCW3. */
const OCW3_RIS = 0x01;
const OCW3_RR = 0x02;
const OCW3_POLL = 0x04;
const OCW3_SMM = 0x20;
const OCW3_ESMM = 0x40;

/** Poll word: bit 7 set when an interrupt was pending, bits 2-0 its level. */
const POLL_PENDING = 0x80;

const CASCADE_IRQ = 2;
const SPURIOUS_IRQ = 7;

/** IRQ0-2 (master) and IRQ8, IRQ13 (slave) are edge-only; their ELCR bits read as 0. */
const ELCR_MASTER_MASK = 0xf8;
const ELCR_SLAVE_MASK = 0xde;

/** Which word the data port expects next: OCW1 (the mask) once initialization is done. */
const EXPECT_OCW1 = 1;
const EXPECT_ICW2 = 2;
const EXPECT_ICW3 = 3;
const EXPECT_ICW4 = 4;

export interface PicChipState {
  irr: number;
  isr: number;
  imr: number;
  elcr: number;
  /** Current levels of the eight input pins. */
  inputs: number;
  vectorBase: number;
  /** The level with the highest priority (0 until a rotation). */
  priorityBase: number;
  expect: number;
  icw4Needed: boolean;
  single: boolean;
  autoEoi: boolean;
  rotateOnAutoEoi: boolean;
  specialFullyNested: boolean;
  specialMask: boolean;
  readIsr: boolean;
  poll: boolean;
}

export interface PicState {
  master: PicChipState;
  slave: PicChipState;
  /** Level of an external device on IRQ2 (ORed with the slave's output). */
  irq2Input: boolean;
  intr: boolean;
}

class PicChip implements BusDevice {
  s: PicChipState = {
    irr: 0,
    isr: 0,
    imr: 0,
    elcr: 0,
    inputs: 0,
    vectorBase: 0,
    priorityBase: 0,
    expect: EXPECT_OCW1,
    icw4Needed: false,
    single: false,
    autoEoi: false,
    rotateOnAutoEoi: false,
    specialFullyNested: false,
    specialMask: false,
    readIsr: false,
    poll: false,
  };

  constructor(
    private readonly isMaster: boolean,
    private readonly changed: () => void,
  ) {}

  /** Pins that follow their input level: ELCR level pins, and IR2 of the master, driven by the slave's INT output. */
  private get levelMask(): number {
    return this.s.elcr | (this.isMaster ? 1 << CASCADE_IRQ : 0);
  }

  setInput(irq: number, level: boolean): void {
    const s = this.s;
    const bit = 1 << irq;
    const wasHigh = (s.inputs & bit) !== 0;
    s.inputs = level ? s.inputs | bit : s.inputs & ~bit;
    if (this.levelMask & bit) s.irr = level ? s.irr | bit : s.irr & ~bit;
    else if (level && !wasHigh) s.irr |= bit;
  }

  setElcr(value: number): void {
    const s = this.s;
    s.elcr = value & (this.isMaster ? ELCR_MASTER_MASK : ELCR_SLAVE_MASK);
    const level = this.levelMask;
    s.irr = (s.irr & ~level) | (s.inputs & level);
  }

  /** Priority rank of the best bit in mask: 0 is highest, 8 means none. */
  private rank(mask: number): number {
    for (let r = 0; r < 8; r++) if (mask & (1 << ((r + this.s.priorityBase) & 7))) return r;
    return 8;
  }

  /** The IRQ this chip would deliver now (its INT output), or -1. */
  pending(): number {
    const s = this.s;
    const requested = this.rank(s.irr & ~s.imr);
    if (requested === 8) return -1;
    let inService = s.isr;
    if (s.specialMask) inService &= ~s.imr;
    if (this.isMaster && s.specialFullyNested) inService &= ~(1 << CASCADE_IRQ);
    if (requested >= this.rank(inService)) return -1;
    return (requested + s.priorityBase) & 7;
  }

  acknowledge(irq: number): void {
    const s = this.s;
    const bit = 1 << irq;
    if (!(this.levelMask & bit)) s.irr &= ~bit;
    if (!s.autoEoi) s.isr |= bit;
    else if (s.rotateOnAutoEoi) s.priorityBase = (irq + 1) & 7;
  }

  get vectorBase(): number {
    return this.s.vectorBase;
  }

  get single(): boolean {
    return this.s.single;
  }

  read(offset: number, _size: AccessSize): number {
    const s = this.s;
    switch (offset) {
      case 0: {
        if (!s.poll) return s.readIsr ? s.isr : s.irr;
        s.poll = false;
        const irq = this.pending();
        if (irq < 0) return 0;
        this.acknowledge(irq);
        this.changed();
        return POLL_PENDING | irq;
      }
      case 1:
        return s.imr;
      default:
        return 0xff;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    switch (offset) {
      case 0:
        if (value & ICW1_INIT) this.writeIcw1(value);
        else if ((value & COMMAND_SELECT) === SELECT_OCW3) this.writeOcw3(value);
        else if ((value & COMMAND_SELECT) === 0) this.writeOcw2(value);
        break;
      case 1:
        this.writeData(value);
        break;
    }
    this.changed();
  }

  private writeIcw1(value: number): void {
    const s = this.s;
    // Init clears the edge-sense latches, so an edge input must rise again to request.
    s.irr &= this.levelMask;
    s.isr = 0;
    s.imr = 0;
    s.priorityBase = 0;
    s.icw4Needed = (value & ICW1_IC4) !== 0;
    s.single = (value & ICW1_SNGL) !== 0;
    s.autoEoi = false;
    s.rotateOnAutoEoi = false;
    s.specialFullyNested = false;
    s.specialMask = false;
    s.readIsr = false;
    s.poll = false;
    s.expect = EXPECT_ICW2;
  }

  private writeData(value: number): void {
    const s = this.s;
    switch (s.expect) {
      case EXPECT_OCW1:
        s.imr = value;
        break;
      case EXPECT_ICW2:
        s.vectorBase = value & 0xf8;
        s.expect = !s.single ? EXPECT_ICW3 : s.icw4Needed ? EXPECT_ICW4 : EXPECT_OCW1;
        break;
      case EXPECT_ICW3:
        s.expect = s.icw4Needed ? EXPECT_ICW4 : EXPECT_OCW1;
        break;
      case EXPECT_ICW4:
        s.autoEoi = (value & ICW4_AEOI) !== 0;
        s.specialFullyNested = (value & ICW4_SFNM) !== 0;
        s.expect = EXPECT_OCW1;
        break;
    }
  }

  private writeOcw2(value: number): void {
    const s = this.s;
    const rotate = (value & OCW2_R) !== 0;
    const specific = (value & OCW2_SL) !== 0;
    if (value & OCW2_EOI) {
      const irq = specific ? value & OCW2_LEVEL : this.highestInService();
      if (irq < 0) return;
      s.isr &= ~(1 << irq);
      if (rotate) s.priorityBase = (irq + 1) & 7;
    } else if (specific) {
      if (rotate) s.priorityBase = ((value & OCW2_LEVEL) + 1) & 7;
    } else {
      s.rotateOnAutoEoi = rotate;
    }
  }

  private highestInService(): number {
    const r = this.rank(this.s.isr);
    return r === 8 ? -1 : (r + this.s.priorityBase) & 7;
  }

  private writeOcw3(value: number): void {
    const s = this.s;
    if (value & OCW3_ESMM) s.specialMask = (value & OCW3_SMM) !== 0;
    if (value & OCW3_RR) s.readIsr = (value & OCW3_RIS) !== 0;
    s.poll = (value & OCW3_POLL) !== 0;
  }
}

/**
 * The master/slave 8259A pair and the ELCR. Devices drive irqLine(n) as level inputs;
 * an edge-mode pin (the ISA default) latches a request on each rising edge, a level-mode
 * pin (ELCR bit set, as for PCI INTx) requests while its input is high.
 */
export class Pic8259Pair implements InterruptSource {
  private readonly masterChip: PicChip;
  private readonly slaveChip: PicChip;
  private readonly lines: IrqLine[];
  private irq2Input = false;
  private intr = false;

  /** The master's command and data ports (offsets 0, 1). */
  readonly master: BusDevice;
  /** The slave's command and data ports (offsets 0, 1). */
  readonly slave: BusDevice;
  /** ELCR1 (master, offset 0) and ELCR2 (slave, offset 1). */
  readonly elcr: BusDevice;

  /** onIntrChange is told whenever the INTR output to the CPU rises or falls. */
  constructor(private readonly onIntrChange: (asserted: boolean) => void = () => {}) {
    const update = () => this.update();
    this.masterChip = new PicChip(true, update);
    this.slaveChip = new PicChip(false, update);
    this.master = this.masterChip;
    this.slave = this.slaveChip;
    this.elcr = {
      read: (offset, size) => {
        let value = 0;
        for (let i = 0; i < size; i++) value |= this.readElcr(offset + i) << (8 * i);
        return value >>> 0;
      },
      write: (offset, size, value) => {
        for (let i = 0; i < size; i++) this.writeElcr(offset + i, (value >>> (8 * i)) & 0xff);
        this.update();
      },
    };
    this.lines = Array.from({ length: 16 }, (_, irq) => ({ set: (level: boolean) => this.setIrq(irq, level) }));
  }

  /** The input pin for ISA IRQ n (0..15). IRQ2 is the cascade; a device on it is ORed with the slave. */
  irqLine(n: number): IrqLine {
    const line = this.lines[n];
    if (!line) throw new RangeError(`8259A pair has IRQ 0..15, not ${n}`);
    return line;
  }

  hasInterrupt(): boolean {
    return this.intr;
  }

  acknowledge(): number {
    const irq = this.masterChip.pending();
    let vector: number;
    if (irq < 0) {
      vector = this.masterChip.vectorBase + SPURIOUS_IRQ;
    } else {
      this.masterChip.acknowledge(irq);
      if (irq === CASCADE_IRQ && !this.masterChip.single) {
        const slaveIrq = this.slaveChip.pending();
        if (slaveIrq < 0) {
          vector = this.slaveChip.vectorBase + SPURIOUS_IRQ;
        } else {
          this.slaveChip.acknowledge(slaveIrq);
          vector = this.slaveChip.vectorBase + slaveIrq;
        }
      } else {
        vector = this.masterChip.vectorBase + irq;
      }
    }
    this.update();
    return vector;
  }

  saveState(): PicState {
    return {
      master: { ...this.masterChip.s },
      slave: { ...this.slaveChip.s },
      irq2Input: this.irq2Input,
      intr: this.intr,
    };
  }

  restoreState(state: PicState): void {
    this.masterChip.s = { ...state.master };
    this.slaveChip.s = { ...state.slave };
    this.irq2Input = state.irq2Input;
    this.intr = state.intr;
    this.update();
  }

  private setIrq(irq: number, level: boolean): void {
    if (irq >= 8) this.slaveChip.setInput(irq - 8, level);
    else if (irq === CASCADE_IRQ) this.irq2Input = level;
    else this.masterChip.setInput(irq, level);
    this.update();
  }

  private readElcr(offset: number): number {
    if (offset === 0) return this.masterChip.s.elcr;
    if (offset === 1) return this.slaveChip.s.elcr;
    return 0xff;
  }

  private writeElcr(offset: number, value: number): void {
    if (offset === 0) this.masterChip.setElcr(value);
    else if (offset === 1) this.slaveChip.setElcr(value);
  }

  private update(): void {
    const slaveInt = this.slaveChip.pending() >= 0;
    this.masterChip.setInput(CASCADE_IRQ, slaveInt || this.irq2Input);
    const intr = this.masterChip.pending() >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      this.onIntrChange(intr);
    }
  }
}
