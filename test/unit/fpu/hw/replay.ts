import { X87 } from '../../../../src/cpu/fpu/x87.ts';
import { FakeHost, UdError } from '../fake-host.ts';

/** One instruction run on the real CPU by probe.c (see gen-fixtures.ts). */
export interface HwCase {
  /** Instruction bytes: [66] op modrm, or 0F AE modrm; memory operands are [ebx] (modrm mod=00 rm=011). */
  c: string;
  /** FRSTOR image (108 bytes) loaded before the instruction. */
  s: string;
  /** Memory at ebx before (hex, may be empty). */
  m: string;
  /** Bytes of memory compared after. */
  n: number;
  /** EFLAGS before. */
  f: number;
  /** FNSAVE image after. */
  o: string;
  /** Memory after. */
  om: string;
  /** EFLAGS after. */
  of: number;
  /** EAX after (EAX is 0 before). */
  ax: number;
  /** Signal raised (4 = SIGILL). */
  sig: number;
  /** Linear address of the instruction and of the memory operand. */
  ca: number;
  ma: number;
}

export interface HwFixture {
  description: string;
  cases: HwCase[];
}

export interface ReplayResult {
  o: string;
  om: string;
  of: number;
  ax: number;
  sig: number;
}

const STATE_AT = 3072;
/** The arithmetic flags FCOMI writes and CF/PF/ZF that FCMOV reads. */
export const EFLAGS_COMPARED = 0x8d5;

export function replay(c: HwCase): ReplayResult {
  const host = new FakeHost(c.ma, 4096);
  const fpu = new X87(host);
  fpu.reset();
  host.setBytes(c.ma, Buffer.from(c.m, 'hex'));
  host.setBytes(c.ma + STATE_AT, Buffer.from(c.s, 'hex'));
  host.nextEa = c.ma + STATE_AT;
  fpu.execute(0xdd, 0x23);
  host.eflags = c.f;
  host.ax = 0;
  host.instrEip = c.ca;
  host.eaOffset = 0;
  host.nextEa = c.ma;
  const bytes = Buffer.from(c.c, 'hex');
  let k = 0;
  host.o32 = true;
  if (bytes[k] === 0x66) {
    host.o32 = false;
    k++;
  }
  let sig = 0;
  try {
    if (bytes[k] === 0x0f) {
      const modrm = bytes[k + 2]!;
      if (((modrm >> 3) & 7) === 0) fpu.fxsave();
      else fpu.fxrstor();
    } else {
      fpu.execute(bytes[k]!, bytes[k + 1]!);
    }
  } catch (e) {
    if (!(e instanceof UdError)) throw e;
    sig = 4;
  }
  host.o32 = true;
  host.nextEa = c.ma + STATE_AT;
  fpu.execute(0xdd, 0x33);
  return {
    o: host.hex(c.ma + STATE_AT, 108),
    om: host.hex(c.ma, c.n),
    of: host.eflags,
    ax: host.ax,
    sig,
  };
}

/** Field-by-field description of how an FNSAVE image differs, for failure messages. */
export function describeImage(hex: string): string {
  const b = Buffer.from(hex, 'hex');
  const w = (o: number) => b.readUInt16LE(o).toString(16).padStart(4, '0');
  const d = (o: number) => b.readUInt32LE(o).toString(16).padStart(8, '0');
  const regs: string[] = [];
  for (let i = 0; i < 8; i++) {
    const at = 28 + 10 * i;
    regs.push(`${w(at + 8)}:${b.readBigUInt64LE(at).toString(16).padStart(16, '0')}`);
  }
  return `cw=${w(0)} sw=${w(4)} tw=${w(8)} fip=${d(12)} fcs/fop=${d(16)} fdp=${d(20)} fds=${d(24)} st=[${regs.join(' ')}]`;
}
