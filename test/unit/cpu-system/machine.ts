// A headless machine for system-architecture tests: the interpreter, RAM, a
// debug console (port 0xE9), an exit port (0xF4, as QEMU's isa-debug-exit) and
// an interrupt line (harness only): writing a vector to port 0xF0 raises it
// once the OUT and then N more instructions have retired, N being the last
// value written to port 0xF1 (0 by default; each raise resets it).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InterpVcpu } from '../../../src/engines/interp/interp-vcpu.ts';
import type { Cpu } from '../../../src/cpu/cpu.ts';
import type { VmExit } from '../../../src/engines/vcpu.ts';
import { CR0_ET, CR0_PE, CS, DESC_A, DESC_CODE, DESC_DB, DESC_G, DESC_P, DESC_RW, DESC_S, DS, ES, FS, GS, SS } from '../../../src/cpu/constants.ts';

export const ASM_DIR = join(dirname(fileURLToPath(import.meta.url)), 'asm');
export const DEBUGCON_PORT = 0xe9;
export const EXIT_PORT = 0xf4;
export const IRQ_PORT = 0xf0;
export const IRQ_DELAY_PORT = 0xf1;
const MULTIBOOT_MAGIC = 0x1badb002;
const MULTIBOOT_AOUT_KLUDGE = 0x10000;
const CACHE_DIR = join(tmpdir(), 'lilyvm-cpu-system-asm');

/** Assemble a scenario (prelude + source + postlude) with nasm; results are cached by content. */
export function assembleScenario(source: string): Uint8Array {
  const prelude = readFileSync(join(ASM_DIR, 'prelude.inc'), 'utf8');
  const postlude = readFileSync(join(ASM_DIR, 'postlude.inc'), 'utf8');
  const full = `%include "prelude.inc"\n${source}\n%include "postlude.inc"\n`;
  const key = createHash('sha256').update(prelude).update(postlude).update(full).digest('hex').slice(0, 24);
  mkdirSync(CACHE_DIR, { recursive: true });
  const out = join(CACHE_DIR, `${key}.bin`);
  if (!existsSync(out)) {
    const src = join(CACHE_DIR, `${key}.asm`);
    writeFileSync(src, full);
    try {
      execFileSync('nasm', ['-f', 'bin', '-i', ASM_DIR + '/', '-o', out + '.tmp', src], { stdio: 'pipe' });
    } catch (e) {
      const err = e as { stderr?: Buffer };
      throw new Error(`nasm failed:\n${err.stderr?.toString() ?? String(e)}`);
    }
    writeFileSync(out, readFileSync(out + '.tmp'));
  }
  return new Uint8Array(readFileSync(out));
}

export interface RunResult {
  /** Text written to the debug console. */
  output: string;
  /** How the run ended: the exit port, a shutdown (triple fault), a halt with nothing to wake it, an engine error, or the budget. */
  end: 'exit' | 'shutdown' | 'halt' | 'error' | 'budget';
  exitCode?: number;
  reason?: string;
}

interface MultibootHeader {
  loadAddr: number;
  fileOffset: number;
  loadEnd: number;
  entry: number;
}

function parseMultiboot(image: Uint8Array): MultibootHeader {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (let off = 0; off + 32 <= Math.min(image.length, 8192); off += 4) {
    if (view.getUint32(off, true) !== MULTIBOOT_MAGIC) continue;
    const flags = view.getUint32(off + 4, true);
    if (!(flags & MULTIBOOT_AOUT_KLUDGE)) throw new Error('multiboot header without address fields');
    const headerAddr = view.getUint32(off + 12, true);
    const loadAddr = view.getUint32(off + 16, true);
    return { loadAddr, fileOffset: off - (headerAddr - loadAddr), loadEnd: view.getUint32(off + 20, true), entry: view.getUint32(off + 28, true) };
  }
  throw new Error('no multiboot header in the first 8 KiB');
}

/** The machine state right after a multiboot loader: flat 32-bit protected mode, CPL 0, paging and interrupts off. */
function enterMultiboot(cpu: Cpu, entry: number): void {
  const flat = 0xffffffff;
  const code = DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | DESC_DB | DESC_G;
  const data = DESC_P | DESC_S | DESC_RW | DESC_A | DESC_DB | DESC_G;
  cpu.cr0 = CR0_PE | CR0_ET;
  cpu.flushTlb();
  cpu.setSegmentCache(CS, 0x08, 0, flat, code);
  for (const s of [DS, ES, FS, GS, SS]) cpu.setSegmentCache(s, 0x10, 0, flat, data);
  cpu.setFlags(0, -1);
  cpu.r32.fill(0);
  cpu.r32[0] = 0x2badb002;
  cpu.eip = entry;
}

export class TestMachine {
  readonly ram: Uint8Array;
  readonly vcpu: InterpVcpu;
  output = '';
  private readonly pendingIrqs: number[] = [];
  private irqDelay = 0;
  /** Interrupts to raise when instructionsRetired reaches `at`. */
  private readonly scheduledIrqs: { at: number; vector: number }[] = [];
  /** Vectors acknowledged by the CPU, in order. */
  readonly acknowledged: number[] = [];

  constructor(ramBytes = 16 << 20) {
    this.ram = new Uint8Array(ramBytes);
    this.vcpu = new InterpVcpu({
      ram: this.ram,
      interrupts: {
        hasInterrupt: () => this.pendingIrqs.length > 0,
        acknowledge: () => {
          const v = this.pendingIrqs.shift()!;
          this.acknowledged.push(v);
          return v;
        },
      },
      readTsc: () => this.vcpu.instructionsRetired * 4,
    });
  }

  get cpu(): Cpu {
    return this.vcpu.cpu;
  }

  raiseInterrupt(vector: number): void {
    this.pendingIrqs.push(vector);
  }

  /** Load a multiboot image and set the CPU up as a multiboot loader leaves it. */
  loadMultiboot(image: Uint8Array): void {
    const h = parseMultiboot(image);
    const bytes = image.subarray(h.fileOffset, h.fileOffset + (h.loadEnd - h.loadAddr));
    this.ram.set(bytes, h.loadAddr);
    enterMultiboot(this.cpu, h.entry);
  }

  /** Run until the exit port is written, a shutdown, a halt nothing can end, an error, or maxInstructions. */
  run(maxInstructions = 20_000_000): RunResult {
    const start = this.vcpu.instructionsRetired;
    for (;;) {
      const now = this.vcpu.instructionsRetired;
      for (let i = 0; i < this.scheduledIrqs.length;) {
        if (this.scheduledIrqs[i].at <= now) this.raiseInterrupt(this.scheduledIrqs.splice(i, 1)[0].vector);
        else i++;
      }
      const left = maxInstructions - (now - start);
      if (left <= 0) return { output: this.output, end: 'budget' };
      let budget = Math.min(left, 1_000_000);
      for (const s of this.scheduledIrqs) budget = Math.min(budget, s.at - now);
      const exit: VmExit = this.vcpu.run(budget);
      switch (exit.kind) {
        case 'io':
          if (exit.isWrite) {
            if (exit.port === DEBUGCON_PORT) this.output += String.fromCharCode(exit.value & 0xff);
            else if (exit.port === EXIT_PORT) return { output: this.output, end: 'exit', exitCode: exit.value & 0xff };
            else if (exit.port === IRQ_DELAY_PORT) this.irqDelay = exit.value & 0xff;
            else if (exit.port === IRQ_PORT) {
              // The OUT itself retires when run() resumes.
              if (this.irqDelay === 0) this.raiseInterrupt(exit.value & 0xff);
              else this.scheduledIrqs.push({ at: this.vcpu.instructionsRetired + 1 + this.irqDelay, vector: exit.value & 0xff });
              this.irqDelay = 0;
            }
          } else {
            exit.value = exit.size === 4 ? 0xffffffff : (1 << (exit.size * 8)) - 1;
          }
          break;
        case 'mmio':
          if (!exit.isWrite) exit.value = exit.size === 4 ? 0xffffffff : (1 << (exit.size * 8)) - 1;
          break;
        case 'halt':
          // Time passes while halted: scheduled interrupts arrive now.
          for (const s of this.scheduledIrqs.splice(0)) this.raiseInterrupt(s.vector);
          if (this.pendingIrqs.length === 0) return { output: this.output, end: 'halt' };
          break;
        case 'budget':
          break;
        case 'shutdown':
          return { output: this.output, end: 'shutdown', reason: exit.reason };
        case 'error':
          return { output: this.output, end: 'error', reason: exit.message };
      }
    }
  }
}

/** Assemble and run a scenario; returns the result and the machine for further checks. */
export function runScenario(source: string, maxInstructions?: number): RunResult & { machine: TestMachine } {
  const m = new TestMachine();
  m.loadMultiboot(assembleScenario(source));
  return { ...m.run(maxInstructions), machine: m };
}
