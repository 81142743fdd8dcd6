// A small WebAssembly binary encoder: what the translator needs to emit one module of
// functions over an imported memory, with imported helper functions (WebAssembly core
// specification 1.0, chapter 5 "Binary Format").

export const I32 = 0x7f;
export type ValType = typeof I32;

/** Opcodes used by the translator. */
export const Op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, brTable: 0x0e, return: 0x0f,
  call: 0x10, drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, i32Load8S: 0x2c, i32Load8U: 0x2d, i32Load16S: 0x2e, i32Load16U: 0x2f,
  i32Store: 0x36, i32Store8: 0x3a, i32Store16: 0x3b,
  i32Const: 0x41,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtU: 0x49, i32GtU: 0x4b, i32LeU: 0x4d, i32GeU: 0x4f,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32And: 0x71, i32Or: 0x72, i32Xor: 0x73, i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76,
} as const;

/** The empty block type (no result). */
export const BLOCK_VOID = 0x40;

export function uleb(out: number[], v: number): void {
  v >>>= 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

export function sleb(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** A function body being written: instructions as bytes. */
export class Code {
  readonly bytes: number[] = [];

  op(...ops: number[]): this {
    for (const o of ops) this.bytes.push(o);
    return this;
  }
  i32(v: number): this {
    this.bytes.push(Op.i32Const);
    sleb(this.bytes, v);
    return this;
  }
  get(local: number): this {
    this.bytes.push(Op.localGet);
    uleb(this.bytes, local);
    return this;
  }
  set(local: number): this {
    this.bytes.push(Op.localSet);
    uleb(this.bytes, local);
    return this;
  }
  tee(local: number): this {
    this.bytes.push(Op.localTee);
    uleb(this.bytes, local);
    return this;
  }
  call(func: number): this {
    this.bytes.push(Op.call);
    uleb(this.bytes, func);
    return this;
  }
  /** A load or store with alignment hint log2(align) and a constant offset. */
  mem(op: number, offset: number, alignLog2 = 0): this {
    this.bytes.push(op);
    uleb(this.bytes, alignLog2);
    uleb(this.bytes, offset);
    return this;
  }
  br(depth: number, op: number = Op.br): this {
    this.bytes.push(op);
    uleb(this.bytes, depth);
    return this;
  }
  /** br_table: to labels[i] for the value i on the stack, else to the default label. */
  brTable(labels: readonly number[], otherwise: number): this {
    this.bytes.push(Op.brTable);
    uleb(this.bytes, labels.length);
    for (const l of labels) uleb(this.bytes, l);
    uleb(this.bytes, otherwise);
    return this;
  }
}

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface ModuleSpec {
  /** Imported functions, in index order (they take the first function indexes). */
  imports: { module: string; name: string; type: FuncType }[];
  /** The imported memory ("env"."memory"), with its size in 64 KiB pages. */
  memory: { module: string; name: string; pages: number };
  functions: { type: FuncType; locals: number; body: Code; exportName: string }[];
}

function vec(out: number[], items: number[][]): void {
  uleb(out, items.length);
  for (const i of items) out.push(...i);
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  const out: number[] = [];
  uleb(out, b.length);
  return [...out, ...b];
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (let i = 0; i < body.length; i++) out.push(body[i]);
}

/** The binary module for spec. */
export function encodeModule(spec: ModuleSpec): Uint8Array {
  const types: FuncType[] = [];
  const typeIndex = (t: FuncType): number => {
    const key = `${t.params.join(',')}>${t.results.join(',')}`;
    let i = types.findIndex((u) => `${u.params.join(',')}>${u.results.join(',')}` === key);
    if (i < 0) i = types.push(t) - 1;
    return i;
  };
  const importEntries = spec.imports.map((im) => {
    const e = [...name(im.module), ...name(im.name), 0x00];
    uleb(e, typeIndex(im.type));
    return e;
  });
  const mem = [...name(spec.memory.module), ...name(spec.memory.name), 0x02, 0x01];
  uleb(mem, spec.memory.pages);
  uleb(mem, spec.memory.pages);
  importEntries.push(mem);
  const funcTypes = spec.functions.map((f) => {
    const e: number[] = [];
    uleb(e, typeIndex(f.type));
    return e;
  });

  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  section(out, 1, (() => {
    const b: number[] = [];
    vec(b, types.map((t) => {
      const e = [0x60];
      uleb(e, t.params.length);
      e.push(...t.params);
      uleb(e, t.results.length);
      e.push(...t.results);
      return e;
    }));
    return b;
  })());
  section(out, 2, (() => { const b: number[] = []; vec(b, importEntries); return b; })());
  section(out, 3, (() => { const b: number[] = []; vec(b, funcTypes); return b; })());
  section(out, 7, (() => {
    const b: number[] = [];
    vec(b, spec.functions.map((f, i) => {
      const e = name(f.exportName);
      e.push(0x00);
      uleb(e, spec.imports.length + i);
      return e;
    }));
    return b;
  })());
  section(out, 10, (() => {
    const b: number[] = [];
    vec(b, spec.functions.map((f) => {
      const body: number[] = [];
      if (f.locals > 0) {
        uleb(body, 1);
        uleb(body, f.locals);
        body.push(I32);
      } else {
        uleb(body, 0);
      }
      for (let i = 0; i < f.body.bytes.length; i++) body.push(f.body.bytes[i]);
      body.push(Op.end);
      const e: number[] = [];
      uleb(e, body.length);
      for (let i = 0; i < body.length; i++) e.push(body[i]);
      return e;
    }));
    return b;
  })());
  return Uint8Array.from(out);
}
