// Intel 8042-compatible keyboard controller (IBM PS/2 Hardware Interface Technical Reference,
// "Keyboard/Auxiliary Device Controller") with a PS/2 keyboard on its first port: data at 0x60,
// status/command at 0x64. Nothing is plugged into the auxiliary (mouse) port: bytes sent to
// it come back as 0xFE with the timeout status bit, which makes Linux's psmouse give up at once.
import type { AccessSize, BusDevice, IrqLine } from '../bus/device.ts';

/** Status register (0x64 read). */
const STATUS_OBF = 0x01;
const STATUS_SYS = 0x04;
const STATUS_CMD = 0x08; // the last write was to 0x64
const STATUS_UNLOCKED = 0x10; // keyboard not inhibited by the keylock
const STATUS_AUX_DATA = 0x20;
const STATUS_TIMEOUT = 0x40;

/** Controller configuration byte ("command byte", internal RAM byte 0). */
const CTR_KBD_INT = 0x01;
const CTR_AUX_INT = 0x02;
const CTR_SYS = 0x04;
const CTR_KBD_DISABLE = 0x10;
const CTR_AUX_DISABLE = 0x20;
const CTR_XLATE = 0x40;

/** Controller commands (0x64 write). */
const CMD_READ_RAM = 0x20; // 0x20-0x3F read RAM byte (cmd & 0x1F); 0x20 reads the CTR
const CMD_WRITE_RAM = 0x60; // 0x60-0x7F write RAM byte; 0x60 writes the CTR
const CMD_PASSWORD_INSTALLED = 0xa4;
const CMD_AUX_DISABLE = 0xa7;
const CMD_AUX_ENABLE = 0xa8;
const CMD_AUX_TEST = 0xa9;
const CMD_SELF_TEST = 0xaa;
const CMD_KBD_TEST = 0xab;
const CMD_KBD_DISABLE = 0xad;
const CMD_KBD_ENABLE = 0xae;
const CMD_READ_INPUT_PORT = 0xc0;
const CMD_READ_OUTPUT_PORT = 0xd0;
const CMD_WRITE_OUTPUT_PORT = 0xd1;
const CMD_WRITE_KBD_OUTPUT = 0xd2;
const CMD_WRITE_AUX_OUTPUT = 0xd3;
const CMD_WRITE_AUX = 0xd4;
const CMD_DISABLE_A20 = 0xdd;
const CMD_ENABLE_A20 = 0xdf;
const CMD_PULSE_OUTPUT = 0xf0; // 0xF0-0xFF: pulse output port bits 0-3 low where the command bit is 0

/** Controller replies. */
const SELF_TEST_PASSED = 0x55;
const INTERFACE_OK = 0x00;
const NO_PASSWORD = 0xf1;
const INPUT_PORT = 0x80; // keyboard not inhibited

/** Output port. */
const OUT_RESET = 0x01; // active low: 0 resets the CPU
const OUT_A20 = 0x02;
const OUT_INITIAL = 0xcf;

/** PS/2 keyboard commands. */
const KBD_SET_LEDS = 0xed;
const KBD_ECHO = 0xee;
const KBD_SCANCODE_SET = 0xf0;
const KBD_IDENTIFY = 0xf2;
const KBD_SET_TYPEMATIC = 0xf3;
const KBD_ENABLE = 0xf4;
const KBD_DISABLE = 0xf5;
const KBD_SET_DEFAULTS = 0xf6;
const KBD_SET_ALL_TYPEMATIC = 0xf7; // 0xF7-0xFD: scancode set 3 key-type commands
const KBD_SET_KEY_MAKE = 0xfd;
const KBD_RESEND = 0xfe;
const KBD_RESET = 0xff;

/** PS/2 keyboard replies. */
const KBD_ACK = 0xfa;
const KBD_BAT_PASSED = 0xaa;
const KBD_ECHO_REPLY = 0xee;
const KBD_NAK = 0xfe;
const KBD_ID = 0xab;
const KBD_ID_2 = 0x83;
/** What the controller's set 2 to set 1 translation makes of replies that pass through it. */
const TRANSLATED: Record<number, number> = { 0x83: 0x41, 1: 0x43, 2: 0x41, 3: 0x3f };

/** Reply for a byte sent to an aux port with nothing on it. */
const AUX_NO_DEVICE = 0xfe;

const RAM_BYTES = 32;

interface OutputByte {
  value: number;
  aux: boolean;
  timeout: boolean;
}

export interface I8042State {
  ram: number[];
  outputPort: number;
  lastWasCommand: boolean;
  /** A controller command waiting for its parameter byte on 0x60, or 0. */
  pendingCommand: number;
  /** The byte in the output buffer, or null when empty. */
  outputBuffer: OutputByte | null;
  lastRead: number;
  controllerQueue: OutputByte[];
  keyboardQueue: number[];
  keyboard: {
    /** A keyboard command waiting for its parameter byte, or 0. */
    pendingCommand: number;
    scanning: boolean;
    leds: number;
    scancodeSet: number;
    lastReply: number;
  };
}

export interface I8042Options {
  /** IRQ1. */
  irqKeyboard: IrqLine;
  /** IRQ12. */
  irqMouse: IrqLine;
  /** The guest pulsed the CPU reset line (command 0xFE, or output port bit 0 cleared). */
  onReset(): void;
}

export class I8042 {
  private ram = new Array<number>(RAM_BYTES).fill(0);
  private outputPort = OUT_INITIAL;
  private lastWasCommand = true;
  private pendingCommand = 0;
  private outputBuffer: OutputByte | null = null;
  private lastRead = 0;
  private controllerQueue: OutputByte[] = [];
  private keyboardQueue: number[] = [];
  private keyboard = { pendingCommand: 0, scanning: true, leds: 0, scancodeSet: 2, lastReply: 0 };
  private irq1Level = false;
  private irq12Level = false;

  /** Port 0x60. */
  readonly dataPort: BusDevice = {
    read: (_offset: number, _size: AccessSize) => this.readData(),
    write: (_offset: number, _size: AccessSize, value: number) => this.writeData(value & 0xff),
  };

  /** Port 0x64: status on read, controller command on write. */
  readonly commandPort: BusDevice = {
    read: () => this.readStatus(),
    write: (_offset: number, _size: AccessSize, value: number) => this.writeCommand(value & 0xff),
  };

  private readonly irq1: IrqLine;
  private readonly irq12: IrqLine;
  private readonly onReset: () => void;

  constructor(options: I8042Options) {
    this.irq1 = options.irqKeyboard;
    this.irq12 = options.irqMouse;
    this.onReset = options.onReset;
    this.ram[0] = CTR_XLATE | CTR_SYS | CTR_KBD_INT; // as a BIOS leaves it
  }

  /** Whether the guest has the A20 gate open through the output port. */
  get a20Enabled(): boolean {
    return (this.outputPort & OUT_A20) !== 0;
  }

  saveState(): I8042State {
    return structuredClone({
      ram: this.ram,
      outputPort: this.outputPort,
      lastWasCommand: this.lastWasCommand,
      pendingCommand: this.pendingCommand,
      outputBuffer: this.outputBuffer,
      lastRead: this.lastRead,
      controllerQueue: this.controllerQueue,
      keyboardQueue: this.keyboardQueue,
      keyboard: this.keyboard,
    });
  }

  restoreState(state: I8042State): void {
    const s = structuredClone(state);
    this.ram = s.ram;
    this.outputPort = s.outputPort;
    this.lastWasCommand = s.lastWasCommand;
    this.pendingCommand = s.pendingCommand;
    this.outputBuffer = s.outputBuffer;
    this.lastRead = s.lastRead;
    this.controllerQueue = s.controllerQueue;
    this.keyboardQueue = s.keyboardQueue;
    this.keyboard = s.keyboard;
    this.irq1Level = this.irq1Wanted;
    this.irq12Level = this.irq12Wanted;
    this.irq1.set(this.irq1Level);
    this.irq12.set(this.irq12Level);
  }

  private get ctr(): number {
    return this.ram[0];
  }

  private set ctr(value: number) {
    this.ram[0] = value;
  }

  private readStatus(): number {
    const out = this.outputBuffer;
    return (
      (out ? STATUS_OBF : 0) |
      (out?.aux ? STATUS_AUX_DATA : 0) |
      (out?.timeout ? STATUS_TIMEOUT : 0) |
      (this.ctr & CTR_SYS ? STATUS_SYS : 0) |
      (this.lastWasCommand ? STATUS_CMD : 0) |
      STATUS_UNLOCKED
    );
  }

  private readData(): number {
    if (this.outputBuffer) {
      this.lastRead = this.outputBuffer.value;
      this.outputBuffer = null;
      this.updateIrqs();
      this.fillOutputBuffer();
    }
    return this.lastRead;
  }

  private writeCommand(cmd: number): void {
    this.lastWasCommand = true;
    this.pendingCommand = 0;
    switch (cmd) {
      case CMD_PASSWORD_INSTALLED:
        this.reply(NO_PASSWORD);
        break;
      case CMD_AUX_DISABLE:
        this.ctr |= CTR_AUX_DISABLE;
        break;
      case CMD_AUX_ENABLE:
        this.ctr &= ~CTR_AUX_DISABLE;
        break;
      case CMD_AUX_TEST:
      case CMD_KBD_TEST:
        this.reply(INTERFACE_OK);
        break;
      case CMD_SELF_TEST:
        this.ctr |= CTR_SYS;
        this.reply(SELF_TEST_PASSED);
        break;
      case CMD_KBD_DISABLE:
        this.ctr |= CTR_KBD_DISABLE;
        break;
      case CMD_KBD_ENABLE:
        this.ctr &= ~CTR_KBD_DISABLE;
        break;
      case CMD_READ_INPUT_PORT:
        this.reply(INPUT_PORT);
        break;
      case CMD_READ_OUTPUT_PORT:
        this.reply(this.outputPort);
        break;
      case CMD_WRITE_OUTPUT_PORT:
      case CMD_WRITE_KBD_OUTPUT:
      case CMD_WRITE_AUX_OUTPUT:
      case CMD_WRITE_AUX:
        this.pendingCommand = cmd;
        break;
      case CMD_DISABLE_A20:
        this.outputPort &= ~OUT_A20;
        break;
      case CMD_ENABLE_A20:
        this.outputPort |= OUT_A20;
        break;
      default:
        if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + RAM_BYTES) this.reply(this.ram[cmd - CMD_READ_RAM]);
        else if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + RAM_BYTES) this.pendingCommand = cmd;
        else if (cmd >= CMD_PULSE_OUTPUT && !(cmd & OUT_RESET)) this.onReset();
        break;
    }
    this.fillOutputBuffer();
    this.updateIrqs();
  }

  private writeData(value: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    switch (cmd) {
      case 0:
        // Sending to the keyboard re-enables its interface, as on common controllers.
        this.ctr &= ~CTR_KBD_DISABLE;
        this.keyboardWrite(value);
        break;
      case CMD_WRITE_OUTPUT_PORT:
        this.outputPort = value | OUT_RESET;
        if (!(value & OUT_RESET)) this.onReset();
        break;
      case CMD_WRITE_KBD_OUTPUT:
        this.controllerQueue.push({ value, aux: false, timeout: false });
        break;
      case CMD_WRITE_AUX_OUTPUT:
        this.controllerQueue.push({ value, aux: true, timeout: false });
        break;
      case CMD_WRITE_AUX:
        this.controllerQueue.push({ value: AUX_NO_DEVICE, aux: true, timeout: true });
        break;
      default:
        this.ram[cmd - CMD_WRITE_RAM] = value;
        break;
    }
    this.fillOutputBuffer();
    this.updateIrqs();
  }

  private reply(value: number): void {
    this.controllerQueue.push({ value, aux: false, timeout: false });
  }

  private keyboardWrite(value: number): void {
    const kbd = this.keyboard;
    const pending = kbd.pendingCommand;
    kbd.pendingCommand = 0;
    switch (pending) {
      case KBD_SET_LEDS:
        kbd.leds = value & 0x07;
        this.keyboardReply(KBD_ACK);
        return;
      case KBD_SET_TYPEMATIC:
        this.keyboardReply(KBD_ACK);
        return;
      case KBD_SCANCODE_SET:
        if (value > 3) {
          this.keyboardReply(KBD_NAK);
        } else if (value === 0) {
          this.keyboardReply(KBD_ACK, this.translate(kbd.scancodeSet));
        } else {
          kbd.scancodeSet = value;
          this.keyboardReply(KBD_ACK);
        }
        return;
    }
    switch (value) {
      case KBD_RESET:
        this.keyboardQueue = [];
        Object.assign(kbd, { scanning: true, leds: 0, scancodeSet: 2 });
        this.keyboardReply(KBD_ACK, KBD_BAT_PASSED);
        break;
      case KBD_IDENTIFY:
        this.keyboardReply(KBD_ACK, KBD_ID, this.translate(KBD_ID_2));
        break;
      case KBD_ENABLE:
        kbd.scanning = true;
        this.keyboardReply(KBD_ACK);
        break;
      case KBD_DISABLE:
        kbd.scanning = false;
        this.keyboardReply(KBD_ACK);
        break;
      case KBD_SET_DEFAULTS:
        this.keyboardReply(KBD_ACK);
        break;
      case KBD_ECHO:
        this.keyboardReply(KBD_ECHO_REPLY);
        break;
      case KBD_SET_LEDS:
      case KBD_SET_TYPEMATIC:
      case KBD_SCANCODE_SET:
        kbd.pendingCommand = value;
        this.keyboardReply(KBD_ACK);
        break;
      case KBD_RESEND:
        this.keyboardReply(kbd.lastReply);
        break;
      default:
        this.keyboardReply(value >= KBD_SET_ALL_TYPEMATIC && value <= KBD_SET_KEY_MAKE ? KBD_ACK : KBD_NAK);
        break;
    }
  }

  private translate(value: number): number {
    return this.ctr & CTR_XLATE ? (TRANSLATED[value] ?? value) : value;
  }

  private keyboardReply(...bytes: number[]): void {
    this.keyboardQueue.push(...bytes);
    this.keyboard.lastReply = bytes[bytes.length - 1];
  }

  /** Controller replies first, then keyboard bytes while the keyboard interface is enabled. */
  private fillOutputBuffer(): void {
    if (this.outputBuffer) return;
    const next = this.controllerQueue.shift();
    if (next) this.outputBuffer = next;
    else if (!(this.ctr & CTR_KBD_DISABLE) && this.keyboardQueue.length) {
      this.outputBuffer = { value: this.keyboardQueue.shift()!, aux: false, timeout: false };
    }
    this.updateIrqs();
  }

  private get irq1Wanted(): boolean {
    return !!this.outputBuffer && !this.outputBuffer.aux && (this.ctr & CTR_KBD_INT) !== 0;
  }

  private get irq12Wanted(): boolean {
    return !!this.outputBuffer && this.outputBuffer.aux && (this.ctr & CTR_AUX_INT) !== 0;
  }

  private updateIrqs(): void {
    const irq1 = this.irq1Wanted;
    if (irq1 !== this.irq1Level) {
      this.irq1Level = irq1;
      this.irq1.set(irq1);
    }
    const irq12 = this.irq12Wanted;
    if (irq12 !== this.irq12Level) {
      this.irq12Level = irq12;
      this.irq12.set(irq12);
    }
  }
}
