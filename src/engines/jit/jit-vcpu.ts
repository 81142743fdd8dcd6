// The jit engine: the interpreter's CPU with a translator attached. When a decoded block
// has run `threshold` times, its physical page gets a WebAssembly function made of the
// page's hot blocks (translate.ts); pages are compiled in batches, one module each, and
// the CPU's block loop enters that code at any of its blocks while the mode it was made
// for holds. Faults, I/O and MMIO inside it go through the interpreter's own access path,
// so they leave the state and the VmExit the interpreter would.
import { Cpu, type CpuOptions } from '../../cpu/cpu.ts';
import { buildDispatch, OPCODE_TABLE } from '../../cpu/table/index.ts';
import { buildDecodeIndex, type DecodeIndex } from '../../cpu/table/decode-index.ts';
import { NO_NATIVE, type Block, type BlockTranslator, type Exec } from '../../cpu/blocks.ts';
import type { VmExit } from '../vcpu.ts';
import { CpuVcpu } from '../interp/interp-vcpu.ts';
import type { VcpuOptions } from '../registry.ts';
import { flagFunctions, PAGE_LOCALS, PAGE_LOCALS64, translatePage, type TranslationMode } from './translate.ts';
import { dispatcherModule, mapSlot, PAGE_TYPE } from './dispatch.ts';
import { tlbMasks } from '../../cpu/cpu.ts';
import * as L from '../../cpu/layout.ts';
import { Code, encodeModule, I32 } from './wasm.ts';

/** Runs of a block before it is translated. */
export const DEFAULT_THRESHOLD = 1000;
/** Runs a block needs to join its page's function (minRuns). */
const MIN_RUNS = 32;
/** Pages compiled together into one module. */
const BATCH = 16;
/** Words of an entry of the map in the CPU area (layout.ts OFF_JIT_MAP). */
const MAP_WORDS = 1 << (L.JIT_MAP_ENTRY_SHIFT - 2);
/** Bound of the code cache (bytes of WebAssembly), after which every translation is dropped (as QEMU's tb_flush). */
export const DEFAULT_CODE_CACHE_BYTES = 64 << 20;

export interface JitOptions {
  threshold?: number;
  /** Pages compiled together into one module (default 16). */
  batch?: number;
  codeCacheBytes?: number;
  /**
   * 'async' (the default): modules compile off the guest's thread (WebAssembly.compile)
   * and their code is used once ready, so compiling never stalls the guest; 'sync':
   * compiled at once (tests that want native code from a block's first run).
   */
  compile?: 'sync' | 'async';
  /** For tests: dispatch tables (default: the opcode table's) and the CPU's SMC cooldown. */
  ops?: CpuOptions['ops'];
  smcCooldown?: number;
}

/** Figures for benchmarks and tests. */
export interface JitStats extends Record<string, number> {
  /** Blocks that got native code, and those whose first instruction could not be translated. */
  translated: number;
  untranslatable: number;
  /** Instructions retired by generated code, of all retired; and those it ran through the interpreter's closures. */
  nativeInstructions: number;
  helperInstructions: number;
  /** Bytes of WebAssembly now in the code cache, and its bound. */
  cacheBytes: number;
  cacheLimit: number;
  /** WebAssembly modules compiled (each holds up to BATCH pages), and page functions in them. */
  modules: number;
  pages: number;
  /** Times the cache filled up and was emptied. */
  flushes: number;
  /** Host milliseconds the guest's thread spent translating, encoding and (when synchronous) compiling. */
  compileMs: number;
  /** Modules compiling off the thread now, and modules the engine refused (a translator bug). */
  inFlight: number;
  refused: number;
}

interface WasmInstance {
  exports: Record<string, unknown>;
}
interface WasmTable {
  length: number;
  grow(n: number): number;
  set(i: number, f: unknown): void;
}
interface WasmApi {
  Table: new (desc: { element: 'anyfunc'; initial: number }) => WasmTable;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<WasmInstance>;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let dispatch: ReturnType<typeof buildDispatch> | undefined;
let index: DecodeIndex | undefined;

/** A page function made, not yet installed: its blocks, and the mode it runs in (NativeBlock key and mask). */
interface Made {
  blocks: Block[];
  key: number;
  mask: number;
  body: Code;
  /** The physical page number, for the function's name. */
  page: number;
}

/** A page waiting for its function, with the mode it is translated for. */
interface PendingPage {
  page: number;
  key: number;
  mode: TranslationMode;
}

class Translator implements BlockTranslator {
  cpu!: Cpu;
  private readonly sizes = new WeakMap<Block, number>();
  private pending = new Map<number, PendingPage>();
  /** Instructions the generated code ran through `x` (the interpreter's closures). */
  helped = 0;
  readonly stats: JitStats;
  private readonly pages: number;
  /** The page functions, by the slot their blocks name (NativeBlock.fn); their live blocks; free slots. */
  private readonly table: WasmTable;
  private readonly fnLive: number[] = [];
  private readonly freeFns: number[] = [];
  /** The jit's map in the CPU area (dispatch.ts): 4 words an entry. */
  private readonly map: Int32Array;
  private run!: (fn: number, entry: number, eip: number, budget: number, key: number, readMask: number) => number;
  private readonly readMasks = [0, 1, 2, 3].map((cpl) => tlbMasks(cpl).read);
  /** The flag functions every module holds (translate.ts flagFunctions). */
  private readonly flagFns: ReturnType<typeof flagFunctions>;

  constructor(
    private readonly memory: object,
    private readonly areaOffset: number,
    private readonly index: DecodeIndex,
    readonly threshold: number,
    private readonly batch: number,
    cacheLimit: number,
    byteLength: number,
    private readonly sync: boolean,
  ) {
    this.pages = byteLength / 65536;
    this.table = new WA.Table({ element: 'anyfunc', initial: 256 });
    this.flagFns = flagFunctions(areaOffset);
    this.map = new Int32Array((memory as { buffer: ArrayBuffer }).buffer, areaOffset + L.OFF_JIT_MAP, MAP_WORDS << L.JIT_MAP_BITS);
    for (let i = 0; i < this.map.length; i += MAP_WORDS) this.map[i] = -1;
    this.stats = {
      translated: 0, untranslatable: 0, nativeInstructions: 0, helperInstructions: 0, cacheBytes: 0, cacheLimit, modules: 0, pages: 0, flushes: 0, compileMs: 0, inFlight: 0, refused: 0,
    };
  }

  attach(cpu: Cpu): void {
    this.cpu = cpu;
    const d = new WA.Instance(new WA.Module(dispatcherModule(this.areaOffset, this.pages, this.table.length)), {
      env: { memory: this.memory, table: this.table },
    });
    this.run = d.exports.run as typeof this.run;
  }

  /** b reached the threshold: its page gets a function (with the page's other blocks), in the next batch. */
  translate(b: Block): void {
    const cpu = this.cpu;
    const page = b.phys >>> 12;
    // Generated accesses need not be aligned: no code where #AC can be raised (rare: CPL 3 with CR0.AM and EFLAGS.AC).
    if (!b.cs32 || this.pending.has(page) || cpu.alignmentCheckEnabled()) return;
    this.pending.set(page, {
      page, key: cpu.nativeKey(),
      mode: { cpl: cpu.cpl, segFastRead: cpu.segFastRead, segFastWrite: cpu.segFastWrite, segBigRead: cpu.segBigRead, segBigWrite: cpu.segBigWrite, ss32: cpu.ss32 },
    });
    if (this.pending.size >= this.batch) this.compilePending();
  }

  /**
   * Translate the queued pages and compile them into one module (a module has a fixed
   * cost of its own), giving each block of them its entry. A page translated again
   * (a block of it got hot later) replaces its function.
   */
  compilePending(): void {
    if (this.pending.size === 0) return; // every run() asks
    const t0 = performance.now();
    const cpu = this.cpu;
    const pages = [...this.pending.values()];
    this.pending.clear();
    const execs: Exec[] = [];
    const lengths: number[] = [];
    const addExec = (e: Exec, length: number): number => { lengths.push(length); return execs.push(e) - 1; };
    const made: Made[] = [];
    for (const p of pages) {
      // Blocks that have run a few times or have code already; the rest are not worth their bytes.
      const blocks = cpu.blocksOnPage(p.page).filter((b) => b.runs >= this.minRuns || b.native !== NO_NATIVE);
      const t = translatePage(this.index, cpu.mem8, blocks, this.areaOffset, p.mode, addExec);
      if (t === null) {
        this.stats.untranslatable++;
        continue;
      }
      made.push({ blocks: t.blocks, key: p.key & t.mask, mask: t.mask, body: t.body, page: p.page });
    }
    if (made.length === 0) {
      this.stats.compileMs += performance.now() - t0;
      return;
    }
    const bytes = encodeModule({
      imports: [{ module: 'h', name: 'x', type: { params: [I32, I32, I32], results: [I32] } }],
      memory: { module: 'env', name: 'memory', pages: this.pages },
      functions: [
        { type: { params: [], results: [I32] }, locals: this.flagFns.cf.locals, body: this.flagFns.cf.body, name: 'flag_cf' },
        { type: { params: [I32], results: [I32] }, locals: this.flagFns.cc.locals, body: this.flagFns.cc.body, name: 'flag_cc' },
        { type: { params: [], results: [I32] }, locals: this.flagFns.mat.locals, body: this.flagFns.mat.body, name: 'flag_fold' },
        ...made.map((m, i) => ({ type: PAGE_TYPE, locals: PAGE_LOCALS, locals64: PAGE_LOCALS64, body: m.body, exportName: `p${i}`, name: `page_${(m.page * 4096).toString(16).padStart(8, '0')}` })),
      ],
    });
    if (this.stats.cacheBytes + bytes.length > this.stats.cacheLimit) {
      // Full: drop every translation (and the decoded blocks with them) and start again.
      this.stats.flushes++;
      cpu.invalidateAllCode();
      this.stats.cacheBytes = 0;
      this.stats.compileMs += performance.now() - t0;
      return;
    }
    const x = (k: number, eip: number, done: number): number => {
      this.helped++;
      return cpu.nativeExec(execs[k], eip >>> 0, lengths[k], done);
    };
    const imports = { env: { memory: this.memory }, h: { x } };
    this.stats.modules++;
    if (this.sync) {
      this.install(made, new WA.Instance(new WA.Module(bytes), imports), bytes.length);
    } else {
      const generation = this.stats.flushes;
      this.stats.inFlight++;
      WA.compile(bytes).then((m) => WA.instantiate(m, imports)).then((instance) => {
        this.stats.inFlight--;
        if (this.stats.flushes === generation) this.install(made, instance, bytes.length);
      }, (e: unknown) => {
        // Our encoder made a module the engine refused: a bug, which the tests' synchronous compile reports as a VM error.
        this.stats.inFlight--;
        this.stats.refused++;
        this.lastRefusal = String(e);
      });
    }
    this.stats.compileMs += performance.now() - t0;
  }

  /** Why the last module was refused (a bug in the translator or the encoder). */
  lastRefusal = '';

  /**
   * Give the blocks of each page function their entry. A page one of whose blocks was
   * dropped since it was translated (its page was written) gets nothing: its code is stale.
   */
  private install(made: Made[], instance: WasmInstance, size: number): void {
    const cpu = this.cpu;
    let blocks = 0;
    for (const m of made) blocks += m.blocks.length;
    const share = Math.ceil(size / blocks);
    made.forEach((m, i) => {
      if (!m.blocks.every((b) => cpu.blockIsLive(b))) return;
      let fn = this.freeFns.pop();
      if (fn === undefined) {
        fn = this.fnLive.length;
        if (fn >= this.table.length) this.table.grow(this.table.length);
      }
      this.table.set(fn, instance.exports[`p${i}`]);
      this.fnLive[fn] = 0;
      m.blocks.forEach((b, entry) => {
        if (b.native !== NO_NATIVE) this.dropped(b); else this.stats.translated++;
        b.native = { key: m.key, mask: m.mask, entry, fn };
        this.fnLive[fn]++;
        this.sizes.set(b, share);
        this.stats.cacheBytes += share;
        this.mapEntry(b);
      });
      this.stats.pages++;
    });
  }

  /** Block b's native code in the dispatcher's map (direct-mapped: it replaces whatever held the slot). */
  private mapEntry(b: Block): void {
    const n = b.native;
    const at = mapSlot(b.phys) >> 2;
    this.map[at] = b.phys;
    this.map[at + 1] = n.key;
    this.map[at + 2] = n.mask;
    this.map[at + 3] = n.fn;
    this.map[at + 4] = n.entry | (b.count << 16);
  }

  enter(b: Block, eip: number, budget: number, key: number): number {
    // Back in the map, if another block took its slot: the dispatcher finds it the next time.
    if (this.map[mapSlot(b.phys) >> 2] !== b.phys) this.mapEntry(b);
    const n = b.native;
    return this.run(n.fn, n.entry, eip, budget, key, this.readMasks[key & 3]);
  }

  /**
   * Runs a block needs to be put in its page's function (with a block of the page that
   * reached the threshold). Few: a page's code tends to be warm together, and a block left
   * out brings the whole page back to be translated again once it is hot.
   */
  private get minRuns(): number {
    return Math.max(1, Math.min(MIN_RUNS, this.threshold >> 2));
  }

  dropped(b: Block): void {
    const n = this.sizes.get(b);
    if (n !== undefined) {
      this.stats.cacheBytes -= n;
      this.sizes.delete(b);
    }
    const fn = b.native.fn;
    if (fn < 0) return;
    const at = mapSlot(b.phys) >> 2;
    if (this.map[at] === b.phys) this.map[at] = -1;
    if (--this.fnLive[fn] === 0) {
      // No block uses the function any more: let its module go.
      this.table.set(fn, null);
      this.freeFns.push(fn);
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
      opts.codeCacheBytes ?? DEFAULT_CODE_CACHE_BYTES, opts.area.buffer.byteLength, opts.compile === 'sync' || typeof WA.compile !== 'function');
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
    const t = this.translator;
    return { ...t.stats, nativeInstructions: this.cpu.nativeRetired - t.helped, helperInstructions: t.helped };
  }
}
