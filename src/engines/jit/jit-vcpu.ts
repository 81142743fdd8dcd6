// The jit engine: the interpreter's CPU with a translator attached. A decoded block that
// has run `threshold` times gets WebAssembly code for its straight-line start
// (translate.ts), compiled at once and run by the CPU's block loop from then on while the
// mode it was made for holds. Faults, I/O and MMIO inside it go through the interpreter's
// own access path, so they leave the state and the VmExit the interpreter would.
import { Cpu, type CpuOptions } from '../../cpu/cpu.ts';
import { buildDispatch, OPCODE_TABLE } from '../../cpu/table/index.ts';
import { buildDecodeIndex, type DecodeIndex } from '../../cpu/table/decode-index.ts';
import { NO_NATIVE, type Block, type BlockTranslator } from '../../cpu/blocks.ts';
import type { VmExit } from '../vcpu.ts';
import { CpuVcpu } from '../interp/interp-vcpu.ts';
import type { VcpuOptions } from '../registry.ts';
import { BLOCK_LOCALS, HELPERS, translateBlock, type HelperName } from './translate.ts';
import { Code, encodeModule, I32 } from './wasm.ts';

/** Runs of a block before it is translated. */
export const DEFAULT_THRESHOLD = 50;
/** Blocks compiled together into one module. */
const BATCH = 64;
/** Bound of the code cache (bytes of WebAssembly), after which every translation is dropped (as QEMU's tb_flush). */
export const DEFAULT_CODE_CACHE_BYTES = 64 << 20;

export interface JitOptions {
  threshold?: number;
  /** Blocks compiled together into one module (default 64). */
  batch?: number;
  codeCacheBytes?: number;
  /** For tests: dispatch tables (default: the opcode table's) and the CPU's SMC cooldown. */
  ops?: CpuOptions['ops'];
  smcCooldown?: number;
}

/** Figures for benchmarks and tests. */
export interface JitStats extends Record<string, number> {
  /** Blocks that got native code, and those whose first instruction could not be translated. */
  translated: number;
  untranslatable: number;
  /** Instructions retired by native code, of all retired. */
  nativeInstructions: number;
  /** Bytes of WebAssembly now in the code cache, and its bound. */
  cacheBytes: number;
  cacheLimit: number;
  /** WebAssembly modules compiled (each holds up to BATCH blocks). */
  modules: number;
  /** Times the cache filled up and was emptied. */
  flushes: number;
  /** Host milliseconds spent translating and compiling. */
  compileMs: number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let dispatch: ReturnType<typeof buildDispatch> | undefined;
let index: DecodeIndex | undefined;

class Translator implements BlockTranslator {
  cpu!: Cpu;
  private helpers!: Record<HelperName, (...args: number[]) => number>;
  private readonly sizes = new WeakMap<Block, number>();
  private pending: { block: Block; body: Code; count: number; key: number }[] = [];
  readonly stats: JitStats;
  private readonly pages: number;

  constructor(
    private readonly memory: object,
    private readonly areaOffset: number,
    private readonly index: DecodeIndex,
    readonly threshold: number,
    private readonly batch: number,
    cacheLimit: number,
    byteLength: number,
  ) {
    this.pages = byteLength / 65536;
    this.stats = { translated: 0, untranslatable: 0, nativeInstructions: 0, cacheBytes: 0, cacheLimit, modules: 0, flushes: 0, compileMs: 0 };
  }

  attach(cpu: Cpu): void {
    this.cpu = cpu;
    const c = cpu;
    this.helpers = {
      rd8: (seg, off) => c.read8(c.linear(seg, off, 1, false)),
      rd16: (seg, off) => c.read16(c.linear(seg, off, 2, false)),
      rd32: (seg, off) => c.read32(c.linear(seg, off, 4, false)),
      rmw8: (seg, off) => c.readRmw8(c.linear(seg, off, 1, true)),
      rmw32: (seg, off) => c.readRmw32(c.linear(seg, off, 4, true)),
      wr8: (seg, off, v) => { c.write8(c.linear(seg, off, 1, true), v & 0xff); return c.blockStopped ? 1 : 0; },
      wr16: (seg, off, v) => { c.write16(c.linear(seg, off, 2, true), v & 0xffff); return c.blockStopped ? 1 : 0; },
      wr32: (seg, off, v) => { c.write32(c.linear(seg, off, 4, true), v); return c.blockStopped ? 1 : 0; },
      cf: () => { c.loadLazyFlags(); return c.getCF(); },
      cc: (n) => { c.loadLazyFlags(); return c.testCC(n) ? 1 : 0; },
    };
  }

  /**
   * Generate b's code now and queue it: blocks are compiled BATCH at a time, one module
   * each (a module has a fixed cost of its own), and when run() returns.
   */
  translate(b: Block): void {
    if (!b.cs32) return;
    const t0 = performance.now();
    const cpu = this.cpu;
    const t = translateBlock(this.index, cpu.mem8, b.phys, b.ends, this.areaOffset, {
      cpl: cpu.cpl, segFastRead: cpu.segFastRead, segFastWrite: cpu.segFastWrite, ss32: cpu.ss32,
    });
    if (t.count === 0) {
      this.stats.untranslatable++;
    } else {
      this.pending.push({ block: b, body: t.body, count: t.count, key: cpu.nativeKey() });
    }
    this.stats.compileMs += performance.now() - t0;
    if (this.pending.length >= this.batch) this.compilePending();
  }

  /** Compile the queued blocks that are still live into one module and give them their code. */
  compilePending(): void {
    if (this.pending.length === 0) return; // every run() asks
    const cpu = this.cpu;
    const live = this.pending.filter((p) => cpu.blockIsLive(p.block) && p.block.native === NO_NATIVE);
    this.pending = [];
    if (live.length === 0) return;
    const t0 = performance.now();
    const bytes = encodeModule({
      imports: HELPERS.map((h) => ({ module: 'h', name: h.name, type: { params: new Array(h.params).fill(I32), results: h.result ? [I32] : [] } })),
      memory: { module: 'env', name: 'memory', pages: this.pages },
      functions: live.map((p, i) => ({ type: { params: [I32], results: [I32] }, locals: BLOCK_LOCALS, body: p.body, exportName: `b${i}` })),
    });
    if (this.stats.cacheBytes + bytes.length > this.stats.cacheLimit) {
      // Full: drop every translation (and the decoded blocks with them) and start again.
      this.stats.flushes++;
      cpu.invalidateAllCode();
      this.stats.cacheBytes = 0;
      this.stats.compileMs += performance.now() - t0;
      return;
    }
    const instance = new WA.Instance(new WA.Module(bytes), { env: { memory: this.memory }, h: this.helpers });
    const share = Math.ceil(bytes.length / live.length);
    live.forEach((p, i) => {
      p.block.native = { key: p.key, count: p.count, run: instance.exports[`b${i}`] as (eip: number) => number };
      this.sizes.set(p.block, share);
    });
    this.stats.cacheBytes += share * live.length;
    this.stats.translated += live.length;
    this.stats.modules++;
    this.stats.compileMs += performance.now() - t0;
  }

  dropped(b: Block): void {
    const n = this.sizes.get(b);
    if (n !== undefined) {
      this.stats.cacheBytes -= n;
      this.sizes.delete(b);
    }
  }
}

/** The translating engine. Its state and snapshots are the interpreter's. */
export class JitVcpu extends CpuVcpu {
  private readonly translator: Translator;

  constructor(opts: VcpuOptions & JitOptions) {
    const memory = opts.area.memory;
    if (!memory) throw new Error('the jit engine needs the machine\'s WebAssembly.Memory (VcpuOptions.area.memory)');
    dispatch ??= buildDispatch();
    index ??= buildDecodeIndex(OPCODE_TABLE);
    const translator = new Translator(memory as object, opts.area.offset, index, opts.threshold ?? DEFAULT_THRESHOLD, opts.batch ?? BATCH,
      opts.codeCacheBytes ?? DEFAULT_CODE_CACHE_BYTES, opts.area.buffer.byteLength);
    super(new Cpu({
      ram: opts.ram, area: opts.area, interrupts: opts.interrupts, readTsc: opts.readTsc, ops: opts.ops ?? dispatch, smcCooldown: opts.smcCooldown, translator,
    }));
    this.translator = translator;
    translator.attach(this.cpu);
  }

  override run(maxInstructions: number): VmExit {
    const exit = this.cpu.run(maxInstructions);
    this.translator.compilePending();
    return exit;
  }

  get stats(): JitStats {
    return { ...this.translator.stats, nativeInstructions: this.cpu.nativeRetired };
  }
}
