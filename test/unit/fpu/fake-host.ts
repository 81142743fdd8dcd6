import type { FpuHost } from '../../../src/cpu/fpu/host.ts';

export class UdError extends Error {}
export class GpError extends Error {}
export class FaultError extends Error {}

/** A flat guest memory window [base, base + size) with the instruction context a test sets per instruction. */
export class FakeHost implements FpuHost {
  readonly mem: Uint8Array;
  o32 = true;
  protectedMode = true;
  ax = 0;
  eflags = 0x2;
  instrCs = 0x23;
  instrEip = 0x1000;
  eaSelector = 0x2b;
  eaOffset = 0;
  /** Address ea() returns for the next memory operand. */
  nextEa = 0;
  /** Linear addresses at or above this fault on write (to test all-or-nothing stores). */
  writeLimit = Infinity;
  /** The last ea() request. */
  lastEa: { len: number; isWrite: boolean } | null = null;

  constructor(readonly base = 0x10000, size = 0x1000) {
    this.mem = new Uint8Array(size);
    this.nextEa = base;
  }

  ea(lenBytes: number, isWrite: boolean): number {
    this.lastEa = { len: lenBytes, isWrite };
    this.eaOffset = this.nextEa;
    return this.nextEa;
  }

  private index(lin: number): number {
    const i = lin - this.base;
    if (i < 0 || i >= this.mem.length) throw new FaultError(`access outside the test window at 0x${lin.toString(16)}`);
    return i;
  }

  read8(lin: number): number {
    return this.mem[this.index(lin)]!;
  }

  read16(lin: number): number {
    return this.read8(lin) | (this.read8(lin + 1) << 8);
  }

  read32(lin: number): number {
    return (this.read16(lin) | (this.read16(lin + 2) << 16)) | 0;
  }

  write8(lin: number, v: number): void {
    if (lin >= this.writeLimit) throw new FaultError(`write fault at 0x${lin.toString(16)}`);
    this.mem[this.index(lin)] = v & 0xff;
  }

  write16(lin: number, v: number): void {
    this.write8(lin, v);
    this.write8(lin + 1, v >> 8);
  }

  write32(lin: number, v: number): void {
    this.write16(lin, v);
    this.write16(lin + 2, v >>> 16);
  }

  checkWrite(lin: number, lenBytes: number): void {
    if (lin + lenBytes > this.writeLimit) throw new FaultError(`write fault at 0x${lin.toString(16)}`);
    this.index(lin);
    this.index(lin + lenBytes - 1);
  }

  isProtectedMode(): boolean {
    return this.protectedMode;
  }

  setAx(v: number): void {
    this.ax = v & 0xffff;
  }

  raiseUD(): never {
    throw new UdError('#UD');
  }

  raiseGP(code: number): never {
    throw new GpError(`#GP(${code})`);
  }

  getFlags(): number {
    return this.eflags;
  }

  setFlags(v: number): void {
    this.eflags = v;
  }

  setBytes(lin: number, bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.mem[this.index(lin + i)] = bytes[i]!;
  }

  bytes(lin: number, len: number): number[] {
    return Array.from(this.mem.subarray(this.index(lin), this.index(lin) + len));
  }

  hex(lin: number, len: number): string {
    return Buffer.from(this.bytes(lin, len)).toString('hex');
  }
}
