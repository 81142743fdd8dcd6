import { X87 } from '../../../src/cpu/fpu/x87.ts';
import type { F80, FpCtx } from '../../../src/cpu/fpu/float80.ts';
import { FakeHost } from './fake-host.ts';

export const SCRATCH = 0x10000;

export function ctx(rc = 0, masks = 0x3f): FpCtx {
  return { rc, masks, flags: 0, roundedUp: false, denormalSource: false };
}

export function v(se: number, sig: bigint): F80 {
  return { se, sig };
}

export function hex(x: F80): string {
  return `${x.se.toString(16).padStart(4, '0')}:${x.sig.toString(16).padStart(16, '0')}`;
}

export function doubleBits(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x, true);
  return dv.getBigUint64(0, true);
}

export function bitsDouble(b: bigint): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, b, true);
  return dv.getFloat64(0, true);
}

/** An FPU on a fake host with a scratch window; helpers assemble common instruction sequences. */
export class Rig {
  readonly host = new FakeHost(SCRATCH, 0x1000);
  readonly fpu = new X87(this.host);

  constructor() {
    this.fpu.reset();
  }

  /** Executes op/modrm; memory forms use the operand at SCRATCH + offset. */
  exec(op: number, modrm: number, offset = 0): void {
    this.host.nextEa = SCRATCH + offset;
    this.fpu.execute(op, modrm);
  }

  setCw(cw: number): void {
    this.host.setBytes(SCRATCH + 0x800, [cw & 0xff, cw >> 8]);
    this.exec(0xd9, 0x2b, 0x800);
  }

  sw(): number {
    return this.fpu.statusWord();
  }

  top(): number {
    return (this.sw() >> 11) & 7;
  }

  pushDouble(x: number): void {
    new DataView(this.host.mem.buffer).setFloat64(0x900, x, true);
    this.exec(0xdd, 0x03, 0x900);
  }

  pushF80(x: F80): void {
    this.writeF80(0x900, x);
    this.exec(0xdb, 0x2b, 0x900);
  }

  writeF80(offset: number, x: F80): void {
    const b = new DataView(this.host.mem.buffer);
    b.setBigUint64(offset, x.sig, true);
    b.setUint16(offset + 8, x.se, true);
  }

  readF80(offset: number): F80 {
    const b = new DataView(this.host.mem.buffer);
    return { se: b.getUint16(offset + 8, true), sig: b.getBigUint64(offset, true) };
  }

  /** FST m64 of ST(0) (no pop), as a double. */
  st0Double(): number {
    this.exec(0xdd, 0x13, 0xa00);
    return new DataView(this.host.mem.buffer).getFloat64(0xa00, true);
  }

  u8(offset: number): number {
    return this.host.mem[offset]!;
  }

  u16(offset: number): number {
    return new DataView(this.host.mem.buffer).getUint16(offset, true);
  }

  u32(offset: number): number {
    return new DataView(this.host.mem.buffer).getUint32(offset, true);
  }
}
