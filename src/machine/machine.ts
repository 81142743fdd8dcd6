import { Bus } from '../bus/bus.ts';
import { SharedIrqLine } from '../bus/shared-irq.ts';
import type { AccessSize } from '../bus/device.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { CPU_AREA_BYTES } from '../cpu/layout.ts';
import { Scheduler } from './scheduler.ts';
import type { HostClock } from './clock.ts';
import { Timebase, type TimebaseState } from './timebase.ts';
import * as L from './layout.ts';
import { Pic8259Pair } from '../devices/pic8259.ts';
import { Pit8254 } from '../devices/pit8254.ts';
import { Uart16550 } from '../devices/uart16550.ts';
import { RtcCmos } from '../devices/rtc-cmos.ts';
import { I8042 } from '../devices/i8042.ts';
import { DebugExit } from '../devices/debug-exit.ts';
import { ResetControl } from '../devices/reset-control.ts';
import { PostPort } from '../devices/post-port.ts';
import { PciHostBridge } from '../devices/pci/host-bridge.ts';
import { VirtioPciFunction } from '../devices/virtio/virtio-pci.ts';
import { VirtioBlk, type BlockBackend } from '../devices/virtio/virtio-blk.ts';
import { VirtioRng } from '../devices/virtio/virtio-rng.ts';
import type { Vcpu, VmExit } from '../engines/vcpu.ts';
import { createVcpu } from '../engines/registry.ts';
import { loadLinux, BOOT_CS, BOOT_DS, type LinuxImages } from '../boot/linux.ts';
import type { CpuState } from '../cpu/state.ts';
import { writeAcpiTables } from '../boot/acpi.ts';
import { AcpiPm, ACPI_PM_WINDOW } from '../devices/acpi-pm.ts';
import { PvPanic, PVPANIC_PANICKED } from '../devices/pci/pvpanic.ts';
import type { EngineName } from './config.ts';

/** How far virtual time may run ahead of the host clock before the run loop waits. */
const MAX_LEAD_NS = 250e6;
/** Longest run() slice, in instructions, so timers and host input are served promptly. */
const MAX_SLICE = 100_000;
const CONSOLE_TAIL_BYTES = 4096;
/** How long a panicked guest may run on to finish its report (virtual ns). */
const PANIC_GRACE_NS = 2e9;

/** Exit statuses of `lilyvm run` (README, --help). The debug-exit port gives its own. */
export const EXIT_OK = 0;
/** LilyVM could not run the guest: a bad file or option value, an engine or internal error. */
export const EXIT_ERROR = 1;
/** The command line is wrong (an unknown option, a missing or malformed value). */
export const EXIT_USAGE = 2;
/** The guest kernel panicked (reported through pvpanic). */
export const EXIT_PANIC = 3;
/** The guest CPU stopped for good without a power-off request: HLT with interrupts disabled, or a triple fault. */
export const EXIT_CPU_STOPPED = 4;

export type StopReason =
  /** The guest asked for power-off (ACPI S5). */
  | { kind: 'poweroff'; status: typeof EXIT_OK }
  /** The guest asked for a reset; seen only with noReboot (otherwise the machine boots again). */
  | { kind: 'reset'; status: typeof EXIT_OK }
  | { kind: 'debug-exit'; status: number }
  /** Stopped from the host (Ctrl-A X, Vm.stop()). */
  | { kind: 'quit'; status: typeof EXIT_OK }
  | { kind: 'panic'; status: typeof EXIT_PANIC; message: string }
  | { kind: 'halted'; status: typeof EXIT_CPU_STOPPED; message: string }
  | { kind: 'triple-fault'; status: typeof EXIT_CPU_STOPPED; message: string }
  | { kind: 'error'; status: typeof EXIT_ERROR; message: string };

/** What the machine needs from its host: time, the console, entropy, disk backends. */
export interface MachineHost {
  clock: HostClock;
  /** When false, virtual time advances only with guest instructions (deterministic runs). */
  realtime: boolean;
  /** Bytes the guest writes to COM1. */
  consoleOut(bytes: Uint8Array): void;
  entropy(buf: Uint8Array): void;
  warn(message: string): void;
}

/** Where the instruction trace goes: `count` instructions after `start` have retired. */
export interface TraceSink {
  start: number;
  count: number;
  write(line: string): void;
}

export interface MachineSpec {
  memoryBytes: number;
  engine: EngineName;
  /** Engine-specific settings (VcpuOptions.engineOptions), for tools and tests. */
  engineOptions?: Readonly<Record<string, unknown>>;
  disks: BlockBackend[];
  images: LinuxImages;
}

/** A device's state for snapshots: plain data in, plain data out. */
export interface StatefulPart {
  name: string;
  saveState(): unknown;
  restoreState(state: unknown): void;
}

/** Everything but RAM, as plain data (snapshot format version 1). */
export interface MachineState {
  memoryBytes: number;
  cpu: unknown;
  timeNs: number;
  timebase: TimebaseState;
  panicSinceNs: number | null;
  parts: Record<string, unknown>;
}

export interface MachineSnapshot {
  state: MachineState;
  /** A copy of guest RAM at the same instant. */
  ram: Uint8Array;
}

/**
 * The LilyVM PC: guest RAM, buses, chipset, PCI with virtio devices and one vCPU,
 * assembled by buildMachine(). Every engine sits behind the same exit handler.
 */
export class Machine {
  readonly memory: GuestMemory;
  readonly ioBus = new Bus('port I/O');
  readonly mmioBus = new Bus('MMIO');
  readonly scheduler = new Scheduler();
  pic!: Pic8259Pair;
  pit!: Pit8254;
  rtc!: RtcCmos;
  readonly serial: Uart16550[] = [];
  i8042!: I8042;
  pci!: PciHostBridge;
  vcpu!: Vcpu;
  /** Slot 0 is the host bridge. */
  nextPciSlot = 1;
  stopReason: StopReason | undefined;

  readonly time: Timebase;
  private wake: (() => void) | undefined;
  private trace: TraceSink | undefined;
  /** COM1 output not yet handed to the host (flushed after every slice). */
  readonly consoleBytes: number[] = [];
  /** The last CONSOLE_TAIL_BYTES of COM1 output, for stop messages. */
  private consoleTail = '';
  /** Virtual time of the guest's pvpanic report. */
  private panicSinceNs: number | undefined;
  /** Every device with state, by name, in the order they are restored (PCI functions before the host bridge). */
  readonly parts: StatefulPart[] = [];
  private snapshotRequest: ((s: MachineSnapshot) => void) | undefined;

  constructor(readonly host: MachineHost, readonly memoryBytes: number) {
    this.memory = new GuestMemory(memoryBytes, CPU_AREA_BYTES);
    this.time = new Timebase(() => (this.vcpu ? this.vcpu.instructionsRetired : 0), host.realtime ? host.clock : undefined);
  }

  /** Current virtual time in ns (also the TSC at 1 GHz). */
  nowNs(): number {
    return this.time.nowNs();
  }

  /** Bring device time up to the vCPU and fire due timers. */
  private syncTime(): void {
    this.scheduler.advanceTo(this.nowNs());
  }

  stop(reason: StopReason): void {
    // After a panic report, the guest's own way out (the reset of panic=-1, a halt) is the panic.
    if (this.panicSinceNs !== undefined && reason.kind !== 'quit' && reason.kind !== 'error') reason = this.panicReason();
    this.stopReason ??= reason;
    this.wake?.();
  }

  /**
   * The guest kernel reported a panic (pvpanic). Linux does so before it flushes the
   * console, so the guest runs on until it resets or halts, or for PANIC_GRACE_NS of
   * virtual time, and then stops with the panic.
   */
  panicked(): void {
    this.panicSinceNs ??= this.nowNs();
  }

  private panicReason(): StopReason {
    this.flushConsole();
    const m = /Kernel panic - not syncing: [^\r\n]*/.exec(this.consoleTail);
    const what = m ? `: ${m[0].trim()}` : this.lastLine();
    return { kind: 'panic', status: EXIT_PANIC, message: `the guest kernel panicked${what}` };
  }

  /** CS:EIP of the vCPU, for stop messages. */
  private where(): string {
    const s = this.vcpu.saveState() as CpuState;
    const hex = (v: number, w: number) => (v >>> 0).toString(16).padStart(w, '0');
    return `cs:eip ${hex(s.segments[1].selector, 4)}:${hex(s.eip, 8)}`;
  }

  /** "; last console line: ..." from the console output so far, or nothing when there was none. */
  private lastLine(): string {
    this.flushConsole();
    const lines = this.consoleTail.split(/\r?\n/).map((l) => l.replace(/[\x00-\x1f\x7f]|\x1b\[[0-9;?]*[A-Za-z]/g, '').trim()).filter((l) => l !== '');
    return lines.length ? `; last console line: "${lines[lines.length - 1]}"` : '; the guest printed nothing on its console';
  }

  /** Wake the run loop from a halt (host input arrived). */
  kick(): void {
    this.wake?.();
  }

  /** Handle one exit from the vCPU. */
  private handleExit(exit: VmExit): void {
    switch (exit.kind) {
      case 'io':
        this.syncTime();
        if (exit.isWrite) this.ioBus.write(exit.port, exit.size, exit.value);
        else exit.value = this.ioBus.read(exit.port, exit.size);
        return;
      case 'mmio':
        this.syncTime();
        if (exit.isWrite) this.mmioBus.write(exit.addr, exit.size as AccessSize, exit.value);
        else exit.value = this.mmioBus.read(exit.addr, exit.size as AccessSize);
        return;
      case 'shutdown':
        if (exit.reason.startsWith('HLT with interrupts disabled')) {
          this.stop({ kind: 'halted', status: EXIT_CPU_STOPPED, message: `the guest CPU halted with interrupts disabled at ${this.where()}, without asking for power-off${this.lastLine()}` });
        } else {
          this.stop({ kind: 'triple-fault', status: EXIT_CPU_STOPPED, message: `the guest CPU shut down: ${exit.reason}, at ${this.where()}${this.lastLine()}` });
        }
        return;
      case 'error':
        this.stop({ kind: 'error', status: EXIT_ERROR, message: exit.message + this.lastLine() });
        return;
      default:
        return;
    }
  }

  /**
   * Run one slice of guest execution synchronously. Returns the ns to wait
   * before the next slice when the CPU is halted (Infinity: until an interrupt
   * source changes), or 0. `maxInstructions` shortens the slice (a lockstep run narrowing
   * down a divergence).
   */
  runSlice(maxInstructions = MAX_SLICE): number {
    const deadline = this.scheduler.nextDeadlineNs();
    const now = this.nowNs();
    let budget = Math.min(MAX_SLICE, maxInstructions);
    if (deadline !== Infinity) budget = Math.max(1, Math.min(budget, Math.ceil((deadline - now) / this.time.nsPerInstruction)));
    if (this.trace) budget = this.traceStep(budget);
    const exit = this.vcpu.run(budget);
    if (this.snapshotRequest && (exit.kind === 'budget' || exit.kind === 'halt')) {
      const done = this.snapshotRequest;
      this.snapshotRequest = undefined;
      done(this.capture());
    }
    if (exit.kind === 'halt') {
      const wait = this.idle();
      if (wait !== Infinity) return wait;
      // Nothing is due: before sleeping until host input, run the vCPU once more with no
      // budget. Halted with interrupts disabled it can never wake and says so (a stop);
      // otherwise it is still halted and the wait stands.
      const again = this.vcpu.run(0);
      if (again.kind === 'halt') return Infinity;
      this.handleExit(again);
      return 0;
    }
    this.handleExit(exit);
    if (exit.kind === 'budget') this.syncTime();
    if (this.host.realtime) {
      this.time.adaptRate();
      const lead = this.nowNs() - this.time.hostNs();
      if (lead > MAX_LEAD_NS) return lead;
    }
    return 0;
  }

  /**
   * The CPU is halted: let time pass up to the next timer deadline. Returns the
   * host ns to sleep (0: run again now; Infinity: until host input).
   */
  private idle(): number {
    this.syncTime();
    if (this.pic.hasInterrupt()) return 0;
    const next = this.scheduler.nextDeadlineNs();
    if (!this.host.realtime) {
      if (next === Infinity) return Infinity;
      this.time.jumpTo(next);
      this.syncTime();
      return 0;
    }
    this.time.noteHalt();
    const host = this.time.hostNs();
    if (next <= host) {
      // Behind the host clock: deliver the deadlines one by one without sleeping.
      this.time.jumpTo(next);
      this.syncTime();
      return 0;
    }
    this.time.jumpTo(host);
    return next === Infinity ? Infinity : next - host;
  }

  /** Run until the guest stops (power-off, reset, debug exit, error) or stop() is called. */
  async run(): Promise<StopReason> {
    let lastYield = this.host.clock.monotonicNs();
    while (!this.stopReason) {
      let waitNs: number;
      try {
        waitNs = this.runSlice();
      } catch (e) {
        // A device or engine bug must end the run with a report, not take the host process down.
        const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
        this.stop({ kind: 'error', status: EXIT_ERROR, message: `internal error while running the guest: ${detail}` });
        break;
      }
      this.flushConsole();
      if (this.panicSinceNs !== undefined && this.nowNs() - this.panicSinceNs > PANIC_GRACE_NS) this.stop(this.panicReason());
      if (this.stopReason) break;
      if (waitNs > 0) {
        const before = this.host.clock.monotonicNs();
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          if (waitNs !== Infinity) setTimeout(resolve, Math.max(0, Math.floor(waitNs / 1e6)));
        });
        this.wake = undefined;
        lastYield = this.host.clock.monotonicNs();
        this.time.noteWait(lastYield - before);
        continue;
      }
      const t = this.host.clock.monotonicNs();
      if (t - lastYield > 20e6) {
        await yieldToHost();
        lastYield = this.host.clock.monotonicNs();
      }
    }
    this.flushConsole();
    return this.stopReason!;
  }

  flushConsole(): void {
    if (this.consoleBytes.length === 0) return;
    const bytes = Uint8Array.from(this.consoleBytes);
    this.consoleBytes.length = 0;
    this.consoleTail = (this.consoleTail + String.fromCharCode(...bytes.subarray(-CONSOLE_TAIL_BYTES))).slice(-CONSOLE_TAIL_BYTES);
    this.host.consoleOut(bytes);
  }

  setTrace(sink: TraceSink): void {
    if (!this.vcpu.traceLine) throw new Error('this engine cannot trace instructions');
    this.trace = sink;
  }

  /** Clip the slice so traced instructions run one at a time, and log the next one. */
  private traceStep(budget: number): number {
    const t = this.trace!;
    const retired = this.vcpu.instructionsRetired;
    if (retired < t.start) return Math.min(budget, t.start - retired);
    if (retired >= t.start + t.count) {
      this.trace = undefined;
      return budget;
    }
    t.write(`${retired} ${this.vcpu.traceLine!()}`);
    return 1;
  }

  /**
   * Capture the whole machine at the next instruction boundary with no device access in
   * flight (after a slice that ended on its budget or a halt). Resolves while the guest
   * keeps running; a stopped machine is captured at once.
   */
  snapshot<T>(atCapture: () => T): Promise<MachineSnapshot & { extra: T }> {
    if (this.stopReason) return Promise.resolve({ ...this.capture(), extra: atCapture() });
    return new Promise((resolve, reject) => {
      const previous = this.snapshotRequest;
      this.snapshotRequest = (snap) => {
        previous?.(snap);
        // Synchronously, before the guest runs on: what the host records alongside (the disks as they are now).
        try {
          resolve({ ...snap, extra: atCapture() });
        } catch (e) {
          reject(e);
        }
      };
      this.kick();
    });
  }

  private capture(): MachineSnapshot {
    this.flushConsole();
    const parts: Record<string, unknown> = {};
    for (const p of this.parts) parts[p.name] = p.saveState();
    return {
      state: {
        memoryBytes: this.memoryBytes,
        cpu: this.vcpu.saveState(),
        timeNs: this.scheduler.nowNs(),
        timebase: this.time.saveState(),
        panicSinceNs: this.panicSinceNs ?? null,
        parts,
      },
      ram: this.memory.u8.slice(),
    };
  }

  /** Load a captured state into this (freshly built, not yet run) machine. RAM is written by the caller. */
  applyState(s: MachineState): void {
    if (s.memoryBytes !== this.memoryBytes) throw new RangeError(`the state is for ${s.memoryBytes} bytes of RAM, this machine has ${this.memoryBytes}`);
    const names = this.parts.map((p) => p.name);
    const missing = names.filter((n) => !(n in s.parts));
    const extra = Object.keys(s.parts).filter((n) => !names.includes(n));
    if (missing.length || extra.length) throw new RangeError(`the state's devices differ from this machine's (missing: ${missing.join(', ') || 'none'}; unknown: ${extra.join(', ') || 'none'})`);
    this.restoreParts(s, false);
    this.vcpu.memoryWritten(0, this.memoryBytes);
  }

  /** The CPU, time and devices from `s`; keepCode: RAM changed only where the vCPU was told. */
  private restoreParts(s: MachineState, keepCode: boolean): void {
    this.vcpu.restoreState(s.cpu, keepCode);
    this.time.restoreState(s.timebase);
    this.scheduler.restoreState({ timeNs: s.timeNs });
    for (const p of this.parts) p.restoreState(s.parts[p.name]);
    this.panicSinceNs = s.panicSinceNs ?? undefined;
  }

  /** The whole machine now (between slices), for rewind(): a lockstep run narrowing down a divergence. */
  checkpoint(): MachineSnapshot {
    return this.capture();
  }

  /**
   * Go back to a checkpoint() of this machine. Only the RAM pages that changed since are
   * written back and reported to the vCPU, so a translating engine keeps its code for the
   * rest (as it had it when the checkpoint was taken, unless a page of it changed).
   */
  rewind(snap: MachineSnapshot): void {
    const ram = this.memory.u8;
    const was = new Int32Array(snap.ram.buffer, snap.ram.byteOffset, ram.length >> 2);
    const now = new Int32Array(ram.buffer, ram.byteOffset, ram.length >> 2);
    const PAGE_WORDS = 1024;
    for (let p = 0; p < now.length; p += PAGE_WORDS) {
      let i = p;
      while (i < p + PAGE_WORDS && was[i] === now[i]) i++;
      if (i === p + PAGE_WORDS) continue;
      now.set(was.subarray(p, p + PAGE_WORDS), p);
      this.vcpu.memoryWritten(p << 2, PAGE_WORDS << 2);
    }
    this.restoreParts(snap.state, true);
    this.stopReason = undefined;
  }

  /** Host input COM1 has not delivered to the guest yet. */
  consoleBacklog(): number {
    return this.serial[0].queuedInputBytes;
  }

  /** Feed host input to COM1. */
  consoleIn(bytes: Uint8Array): void {
    this.serial[0].receive(bytes);
    this.kick();
  }
}

/**
 * Let the host's event loop run (input, timers, messages) and come back at once: setImmediate
 * under Node, a MessageChannel round trip in a browser (setTimeout(0) is clamped to 4 ms there).
 */
const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
const yieldToHost: () => Promise<void> = immediate
  ? () => new Promise((resolve) => immediate(resolve))
  : (() => {
    const channel = new MessageChannel();
    const waiting: (() => void)[] = [];
    (channel.port1 as unknown as { onmessage: (() => void) | null }).onmessage = () => waiting.shift()?.();
    return () => new Promise<void>((resolve) => {
      waiting.push(resolve);
      channel.port2.postMessage(0);
    });
  })();

// ---------------------------------------------------------------- the recipe

function part(name: string, device: { saveState(): unknown; restoreState(s: never): void }): StatefulPart {
  return { name, saveState: () => device.saveState(), restoreState: (s) => device.restoreState(s as never) };
}

export function buildMachine(spec: MachineSpec, host: MachineHost): Machine {
  const m = new Machine(host, spec.memoryBytes);
  attachInterruptController(m);
  attachTimer(m);
  attachRtc(m);
  attachSerialPorts(m);
  attachKeyboardController(m);
  attachMiscPorts(m);
  attachPci(m);
  spec.disks.forEach((disk, i) => attachVirtioBlk(m, disk, i));
  attachVirtioRng(m);
  attachPvPanic(m);
  attachAcpiPm(m);
  attachVcpu(m, spec.engine, spec.engineOptions);
  bootLinux(m, spec.images);
  return m;
}

function attachInterruptController(m: Machine): void {
  m.pic = new Pic8259Pair();
  m.parts.push(part('pic', m.pic));
  m.ioBus.register(L.PORT_PIC_MASTER, 2, m.pic.master, 'pic-master');
  m.ioBus.register(L.PORT_PIC_SLAVE, 2, m.pic.slave, 'pic-slave');
  m.ioBus.register(L.PORT_PIC_ELCR, 2, m.pic.elcr, 'pic-elcr');
  // As firmware would: PCI INTx lines are level-triggered.
  const levelMask = L.PCI_IRQS.reduce((mask, irq) => mask | (1 << irq), 0);
  m.pic.elcr.write(0, 2, levelMask);
}

function attachTimer(m: Machine): void {
  m.pit = new Pit8254(m.scheduler, m.pic.irqLine(L.IRQ_PIT));
  m.parts.push(part('pit', m.pit));
  m.ioBus.register(L.PORT_PIT, 4, m.pit, 'pit');
  m.ioBus.register(L.PORT_SYSTEM_CONTROL_B, 1, m.pit.portB, 'system-control-b');
}

function attachRtc(m: Machine): void {
  m.rtc = new RtcCmos(m.scheduler, m.host.clock, m.pic.irqLine(L.IRQ_RTC), m.memoryBytes);
  m.parts.push(part('rtc', m.rtc));
  m.ioBus.register(L.PORT_RTC, 2, m.rtc, 'rtc');
}

function attachSerialPorts(m: Machine): void {
  const shared = new Map<number, SharedIrqLine>();
  L.COM_PORTS.forEach(({ port, irq }, i) => {
    const out = i === 0 ? (b: number) => m.consoleBytes.push(b) : () => {};
    let line = shared.get(irq);
    if (!line) shared.set(irq, (line = new SharedIrqLine(m.pic.irqLine(irq))));
    const uart = new Uart16550(m.scheduler, line.source(), out);
    m.serial.push(uart);
    m.parts.push(part(`com${i + 1}`, uart));
    m.ioBus.register(port, 8, uart, `com${i + 1}`);
  });
}

function attachKeyboardController(m: Machine): void {
  m.i8042 = new I8042({
    irqKeyboard: m.pic.irqLine(L.IRQ_KEYBOARD),
    irqMouse: m.pic.irqLine(L.IRQ_MOUSE),
    onReset: () => m.stop({ kind: 'reset', status: EXIT_OK }),
  });
  m.parts.push(part('i8042', m.i8042));
  m.ioBus.register(L.PORT_I8042_DATA, 1, m.i8042.dataPort, 'i8042-data');
  m.ioBus.register(L.PORT_I8042_COMMAND, 1, m.i8042.commandPort, 'i8042-command');
}

function attachMiscPorts(m: Machine): void {
  m.ioBus.register(L.PORT_POST, 1, new PostPort(), 'post');
  m.ioBus.register(L.PORT_DEBUG_EXIT, 1, new DebugExit((status) => m.stop({ kind: 'debug-exit', status })), 'debug-exit');
}

function attachPci(m: Machine): void {
  const reset = new ResetControl(() => m.stop({ kind: 'reset', status: EXIT_OK }));
  m.pci = new PciHostBridge({
    mmioBus: m.mmioBus,
    ioBus: m.ioBus,
    irqLine: (irq) => m.pic.irqLine(irq),
    resetControl: reset,
    warn: (msg) => m.host.warn(msg),
  });
  m.parts.push(part('reset-control', reset));
  m.ioBus.register(L.PORT_PCI_CONFIG_ADDRESS, 4, m.pci.addressPort, 'pci-config-address');
  m.ioBus.register(L.PORT_PCI_CONFIG_DATA, 4, m.pci.dataPort, 'pci-config-data');
}

function attachVirtio(m: Machine, device: ConstructorParameters<typeof VirtioPciFunction>[0]): void {
  const slot = m.nextPciSlot++;
  const fn = new VirtioPciFunction(device, { memory: m.memory, irq: m.pci.intxLine(slot), warn: (msg) => m.host.warn(msg) });
  m.pci.attach(slot, fn);
  m.parts.push(part(`pci-${slot}-${device.name}`, fn));
}

function attachVirtioBlk(m: Machine, backend: BlockBackend, index: number): void {
  attachVirtio(m, new VirtioBlk(backend, { name: `virtio-blk${index}` }));
}

function attachVirtioRng(m: Machine): void {
  attachVirtio(m, new VirtioRng((buf) => m.host.entropy(buf)));
}

function attachPvPanic(m: Machine): void {
  const slot = m.nextPciSlot++;
  const fn = new PvPanic((events) => {
    if (events & PVPANIC_PANICKED) m.panicked();
  });
  m.pci.attach(slot, fn);
  m.parts.push(part(`pci-${slot}-pvpanic`, fn));
}

/** ACPI's PM1a registers and PM timer; the tables that describe them are written at boot. */
function attachAcpiPm(m: Machine): void {
  const pm = new AcpiPm(() => m.nowNs(), (slpTyp) => {
    if (slpTyp === L.ACPI_SLP_TYP_S5) m.stop({ kind: 'poweroff', status: EXIT_OK });
  });
  m.ioBus.register(L.PORT_ACPI_PM, ACPI_PM_WINDOW, pm, 'acpi-pm');
  m.parts.push(part('acpi-pm', pm));
  // The host bridge last: restoring it maps the BARs its functions' restored registers hold.
  m.parts.push(part('pci-host', m.pci));
}

function attachVcpu(m: Machine, engine: EngineName, engineOptions: MachineSpec['engineOptions']): void {
  m.vcpu = createVcpu(engine, {
    ram: m.memory.u8, area: { buffer: m.memory.wasm.buffer, memory: m.memory.wasm, offset: m.memory.engineAreaOffset }, interrupts: m.pic, readTsc: () => m.nowNs(), engineOptions,
  });
  // Devices write RAM behind the vCPU's back.
  m.memory.onWrite((addr, length) => m.vcpu.memoryWritten(addr, length));
}

/** Load the kernel and enter it as the 32-bit boot protocol specifies. */
function bootLinux(m: Machine, images: LinuxImages): void {
  const entry = loadLinux(m.memory, images);
  writeAcpiTables(m.memory);
  const s = m.vcpu.saveState() as CpuState;
  const flatCode = 0x9b | 0xc000; // present, code, readable, accessed; D and G
  const flatData = 0x93 | 0xc000;
  s.regs = [0, 0, 0, 0, entry.esp, 0, entry.esi, 0];
  s.eip = entry.eip;
  s.eflags = 0x2;
  s.cr0 = 0x11; // PE | ET
  s.gdt = { base: entry.gdtBase, limit: entry.gdtLimit };
  s.idt = { base: 0, limit: 0 };
  s.cpl = 0;
  s.segments = [0, 1, 2, 3, 4, 5].map((seg) => ({
    selector: seg === 1 ? BOOT_CS : BOOT_DS,
    base: 0,
    limit: 0xffffffff,
    access: seg === 1 ? flatCode : flatData,
  }));
  m.vcpu.restoreState(s);
}
