// A small WebAssembly binary encoder: what the translator needs to emit one module of
// functions over an imported memory, with imported helper functions (WebAssembly core
// specification 1.0, chapter 5 "Binary Format").

export const I32 = 0x7f;
export const I64 = 0x7e;
export type ValType = typeof I32 | typeof I64;

/** Opcodes used by the translator. */
export const Op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, brTable: 0x0e, return: 0x0f,
  call: 0x10, callIndirect: 0x11, drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, i32Load8S: 0x2c, i32Load8U: 0x2d, i32Load16S: 0x2e, i32Load16U: 0x2f,
  i32Store: 0x36, i32Store8: 0x3a, i32Store16: 0x3b,
  i32Const: 0x41,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtU: 0x49, i32GtU: 0x4b, i32LeU: 0x4d, i32GeU: 0x4f,
  i64Ne: 0x52,
  i32Popcnt: 0x69, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32And: 0x71, i32Or: 0x72, i32Xor: 0x73, i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76, i32Rotl: 0x77, i32Rotr: 0x78,
  i64Mul: 0x7e, i64DivU: 0x80, i64RemU: 0x82, i64Or: 0x84, i64Shl: 0x86, i64ShrU: 0x88, i32WrapI64: 0xa7, i64ExtendI32S: 0xac, i64ExtendI32U: 0xad,
} as const;

/** The empty block type (no result). */
export const BLOCK_VOID = 0x40;

/** A growing byte buffer: what the encoder writes into. */
export class Bytes {
  buf = new Uint8Array(256);
  length = 0;

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  byte(v: number): void {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = v;
  }
  append(b: Bytes | Uint8Array): void {
    const src = b instanceof Bytes ? b.buf.subarray(0, b.length) : b;
    if (this.length + src.length > this.buf.length) this.grow(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
  }
  uleb(v: number): void {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }
  sleb(v: number): void {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }
  name(s: string): void {
    const b = new TextEncoder().encode(s);
    this.uleb(b.length);
    this.append(b);
  }
  /** A vector: the count, then each item. */
  vec<T>(items: readonly T[], each: (item: T, i: number) => void): void {
    this.uleb(items.length);
    items.forEach(each);
  }
  /** A size-prefixed part (a section's or a function body's contents). */
  sized(body: (b: Bytes) => void): void {
    const b = new Bytes();
    body(b);
    this.uleb(b.length);
    this.append(b);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A function body being written: instructions as bytes. */
export class Code extends Bytes {
  op(...ops: number[]): this {
    for (const o of ops) this.byte(o);
    return this;
  }
  i32(v: number): this {
    this.byte(Op.i32Const);
    this.sleb(v);
    return this;
  }
  /** Sign-extend the low `bits` (8 or 16; 32 is a no-op) of the i32 on the stack. */
  signExtend(bits: number): this {
    if (bits !== 32) this.i32(32 - bits).op(Op.i32Shl).i32(32 - bits).op(Op.i32ShrS);
    return this;
  }
  get(local: number): this {
    this.byte(Op.localGet);
    this.uleb(local);
    return this;
  }
  set(local: number): this {
    this.byte(Op.localSet);
    this.uleb(local);
    return this;
  }
  tee(local: number): this {
    this.byte(Op.localTee);
    this.uleb(local);
    return this;
  }
  call(func: number): this {
    this.byte(Op.call);
    this.uleb(func);
    return this;
  }
  /** call_indirect through table 0 with type index `type` (the function's index is on the stack). */
  callIndirect(type: number): this {
    this.byte(Op.callIndirect);
    this.uleb(type);
    this.byte(0x00);
    return this;
  }
  /** A load or store with alignment hint log2(align) and a constant offset. */
  mem(op: number, offset: number, alignLog2 = 0): this {
    this.byte(op);
    this.uleb(alignLog2);
    this.uleb(offset);
    return this;
  }
  br(depth: number, op: number = Op.br): this {
    this.byte(op);
    this.uleb(depth);
    return this;
  }
  /** br_table: to labels[i] for the value i on the stack, else to the default label. */
  brTable(labels: readonly number[], otherwise: number): this {
    this.byte(Op.brTable);
    this.uleb(labels.length);
    for (const l of labels) this.uleb(l);
    this.uleb(otherwise);
    return this;
  }
  /** Drop what was written after `mark` (a length read before). */
  truncate(mark: number): void {
    this.length = mark;
  }
}

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface ModuleSpec {
  /** Types given the first type indexes (for call_indirect). */
  types?: FuncType[];
  /** An imported table of functions (table 0, for call_indirect), with its initial size. */
  table?: { module: string; name: string; size: number };
  /** Imported functions, in index order (they take the first function indexes). */
  imports: { module: string; name: string; type: FuncType }[];
  /** The imported memory ("env"."memory"), with its size in 64 KiB pages. */
  memory: { module: string; name: string; pages: number };
  /**
   * Functions, after the imported ones; those with an export name are exported. `locals`
   * i32 locals, then `locals64` i64 ones. A `name` goes in the name section, where
   * profilers and stack traces show it.
   */
  functions: { type: FuncType; locals: number; locals64?: number; body: Code; exportName?: string; name?: string }[];
}

/** The binary module for spec. */
export function encodeModule(spec: ModuleSpec): Uint8Array {
  const types: FuncType[] = [];
  const keys: string[] = [];
  const typeIndex = (t: FuncType): number => {
    const key = `${t.params.join(',')}>${t.results.join(',')}`;
    let i = keys.indexOf(key);
    if (i < 0) {
      i = keys.push(key) - 1;
      types.push(t);
    }
    return i;
  };
  for (const t of spec.types ?? []) typeIndex(t);
  const imports = spec.imports.map((im) => typeIndex(im.type));
  const funcs = spec.functions.map((f) => typeIndex(f.type));
  const out = new Bytes();
  out.append(Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00));
  const section = (id: number, body: (b: Bytes) => void): void => {
    out.byte(id);
    out.sized(body);
  };
  section(1, (b) => b.vec(types, (t) => {
    b.byte(0x60);
    b.vec(t.params, (p) => b.byte(p));
    b.vec(t.results, (r) => b.byte(r));
  }));
  section(2, (b) => {
    b.uleb(spec.imports.length + 1 + (spec.table ? 1 : 0));
    if (spec.table) {
      b.name(spec.table.module);
      b.name(spec.table.name);
      b.byte(0x01);
      b.byte(0x70); // funcref
      b.byte(0x00);
      b.uleb(spec.table.size);
    }
    spec.imports.forEach((im, i) => {
      b.name(im.module);
      b.name(im.name);
      b.byte(0x00);
      b.uleb(imports[i]);
    });
    b.name(spec.memory.module);
    b.name(spec.memory.name);
    b.byte(0x02);
    b.byte(0x01);
    b.uleb(spec.memory.pages);
    b.uleb(spec.memory.pages);
  });
  section(3, (b) => b.vec(funcs, (t) => b.uleb(t)));
  const exported = spec.functions.map((f, i) => ({ name: f.exportName, index: spec.imports.length + i })).filter((e) => e.name !== undefined);
  section(7, (b) => b.vec(exported, (e) => {
    b.name(e.name!);
    b.byte(0x00);
    b.uleb(e.index);
  }));
  section(10, (b) => b.vec(spec.functions, (f) => b.sized((body) => {
    const groups = ([[f.locals, I32], [f.locals64 ?? 0, I64]] as const).filter(([n]) => n > 0);
    body.vec(groups, ([n, type]) => {
      body.uleb(n);
      body.byte(type);
    });
    body.append(f.body);
    body.byte(Op.end);
  })));
  const named = spec.functions.map((f, i) => ({ name: f.name, index: spec.imports.length + i })).filter((e) => e.name !== undefined);
  if (named.length > 0) {
    section(0, (b) => {
      b.name('name');
      b.byte(1); // function names
      b.sized((s) => s.vec(named, (e) => {
        s.uleb(e.index);
        s.name(e.name!);
      }));
    });
  }
  return out.bytes();
}
