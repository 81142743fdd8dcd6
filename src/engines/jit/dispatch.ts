// The dispatcher: one small module per jit engine that runs native code from page
// function to page function without returning to JavaScript. After a page function
// returns (its block went to a target outside the page, or returned), it translates the
// new EIP through the software TLB, looks the physical address up in the jit's map in
// the CPU area (layout.ts OFF_JIT_MAP, written by the translator), and calls that page
// function through the shared function table; it returns to the CPU's block loop on a
// TLB miss, a map miss, a mode mismatch (the CPU's key in the entry's mask bits), a
// budget too small for the next block, or when the code asked to leave (OFF_JIT_LEAVE).
import { TLB_VALID } from '../../cpu/cpu.ts';
import * as L from '../../cpu/layout.ts';
import { BLOCK_VOID, Code, encodeModule, I32, Op, type FuncType } from './wasm.ts';

/** A page function: (entry, eip, budget) -> instructions completed (translate.ts). */
export const PAGE_TYPE: FuncType = { params: [I32, I32, I32], results: [I32] };

/** The map slot of physical address phys (as the dispatcher computes it): a byte offset from OFF_JIT_MAP. */
export function mapSlot(phys: number): number {
  return (Math.imul(phys, 0x9e3779b1) >>> (32 - L.JIT_MAP_BITS)) << L.JIT_MAP_ENTRY_SHIFT;
}

// run(fn, entry, eip, budget, key, readMask) -> instructions completed
const FN = 0;
const ENTRY = 1;
const EIP = 2;
const BUDGET = 3;
const KEY = 4;
const MASK = 5;
const N = 6;
const E = 7;
const PHYS = 8;
const SLOT = 9;
const W = 10;

/** The dispatcher module over the machine's memory (pages of 64 KiB) and the table "env"."table". */
export function dispatcherModule(area: number, pages: number, tableSize: number): Uint8Array {
  const c = new Code();
  const areaWord = (off: number): void => { c.i32(0).mem(Op.i32Load, area + off, 2); };
  const retN = (): void => { c.get(N).op(Op.return); };
  c.i32(0).i32(0).mem(Op.i32Store, area + L.OFF_JIT_LEAVE, 2);
  c.op(Op.loop, BLOCK_VOID);
  // the page function
  c.i32(0).get(N).mem(Op.i32Store, area + L.OFF_JIT_BASE, 2);
  c.get(ENTRY).get(EIP).get(BUDGET).get(N).op(Op.i32Sub).get(FN).callIndirect(0);
  c.get(N).op(Op.i32Add).set(N);
  areaWord(L.OFF_JIT_LEAVE);
  c.op(Op.if, BLOCK_VOID); retN(); c.op(Op.end);
  // where next: EIP through the TLB (a code fetch is a read at the CPL), then the map
  areaWord(L.OFF_EIP);
  c.set(EIP);
  c.get(EIP).i32(12).op(Op.i32ShrU).i32(2).op(Op.i32Shl).mem(Op.i32Load, area + L.OFF_TLB, 2).tee(E);
  c.get(MASK).op(Op.i32And).i32(TLB_VALID).op(Op.i32Ne);
  c.op(Op.if, BLOCK_VOID); retN(); c.op(Op.end);
  c.get(E).i32(~0xfff).op(Op.i32And).get(EIP).op(Op.i32Xor).set(PHYS);
  c.get(PHYS).i32(0x9e3779b1 | 0).op(Op.i32Mul).i32(32 - L.JIT_MAP_BITS).op(Op.i32ShrU).i32(L.JIT_MAP_ENTRY_SHIFT).op(Op.i32Shl).set(SLOT);
  c.get(SLOT).mem(Op.i32Load, area + L.OFF_JIT_MAP, 2).get(PHYS).op(Op.i32Ne);
  c.get(KEY).get(SLOT).mem(Op.i32Load, area + L.OFF_JIT_MAP + 8, 2).op(Op.i32And);
  c.get(SLOT).mem(Op.i32Load, area + L.OFF_JIT_MAP + 4, 2).op(Op.i32Ne).op(Op.i32Or);
  c.op(Op.if, BLOCK_VOID); retN(); c.op(Op.end);
  c.get(SLOT).mem(Op.i32Load, area + L.OFF_JIT_MAP + 16, 2).set(W);
  c.get(N).get(W).i32(16).op(Op.i32ShrU).op(Op.i32Add).get(BUDGET).op(Op.i32GtU);
  c.op(Op.if, BLOCK_VOID); retN(); c.op(Op.end);
  c.get(SLOT).mem(Op.i32Load, area + L.OFF_JIT_MAP + 12, 2).set(FN);
  c.get(W).i32(0xffff).op(Op.i32And).set(ENTRY);
  c.i32(0).get(PHYS).i32(12).op(Op.i32ShrU).mem(Op.i32Store, area + L.OFF_JIT_PAGE, 2);
  c.br(0);
  c.op(Op.end, Op.unreachable);
  return encodeModule({
    types: [PAGE_TYPE],
    table: { module: 'env', name: 'table', size: tableSize },
    imports: [],
    memory: { module: 'env', name: 'memory', pages },
    functions: [{ type: { params: [I32, I32, I32, I32, I32, I32], results: [I32] }, locals: 5, body: c, exportName: 'run', name: 'dispatch' }],
  });
}
