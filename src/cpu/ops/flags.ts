import type { Cpu } from '../cpu.ts';
import { LZ_NONE } from '../cpu.ts';
import { PARITY_BIT } from '../flag-rules.ts';
import { FLAGS_ARITH, FLAG_PF, FLAG_SF, FLAG_ZF } from '../constants.ts';

/** PF (its EFLAGS bit) for each value of a result's low byte. */
export const PARITY = PARITY_BIT.map((p) => (p ? FLAG_PF : 0));

/** SF, ZF and PF of a result already masked to `bits`. */
export function szp(res: number, bits: number): number {
  return ((res >>> (bits - 1)) & 1 ? FLAG_SF : 0) | (res === 0 ? FLAG_ZF : 0) | PARITY[res & 0xff];
}

/** Replace all six arithmetic flags, eagerly: `other` carries CF/AF/OF, SF/ZF/PF come from res (masked to bits). */
export function setResultFlags(cpu: Cpu, res: number, bits: number, other: number): void {
  cpu.flags = (cpu.flags & ~FLAGS_ARITH) | other | szp(res, bits);
  cpu.lzOp = LZ_NONE;
}

/** Replace the flags under mask with value (the rest, including lazy state, folded in first). */
export function editFlags(cpu: Cpu, value: number, mask: number): void {
  if (cpu.lzOp !== LZ_NONE) cpu.materializeFlags();
  cpu.flags = (cpu.flags & ~mask) | (value & mask);
}

/** Width masks by operand size in bits. */
export function widthMask(bits: number): number {
  return bits === 32 ? -1 : (1 << bits) - 1;
}
