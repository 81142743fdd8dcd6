import type { OpcodeEntry } from './types.ts';
import type { Cpu } from '../cpu.ts';
import { CpuFault } from '../cpu.ts';
import { CR0_NE, EXC_MF } from '../constants.ts';
import { isNonWaiting } from '../fpu/x87.ts';

/**
 * x87 escapes D8..DF. The core does the checks every x87 instruction shares
 * (SDM Vol. 1 8.6 and Vol. 3A 2.5): #NM when CR0.EM or CR0.TS is set, and for
 * the "waiting" forms #MF when an unmasked exception is pending; the FPU decodes
 * the rest.
 */
function pendingFpuError(cpu: Cpu): void {
  // With CR0.NE clear the PC signals FERR# on IRQ13 instead; Linux always sets NE.
  if (cpu.fpu.hasPendingException() && cpu.cr0 & CR0_NE) throw new CpuFault(EXC_MF, 0);
}

const escape = (op: number) => (cpu: Cpu): void => {
  cpu.checkFpuAvailable(false);
  if (!isNonWaiting(op, cpu.modrm)) pendingFpuError(cpu);
  cpu.fpu.execute(op, cpu.modrm);
};

function fwait(cpu: Cpu): void {
  cpu.checkFpuAvailable(true);
  pendingFpuError(cpu);
}

export const FPU_TABLE: OpcodeEntry[] = [
  ...[0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf].map(
    (op): OpcodeEntry => ({ opcode: op, mnemonic: 'x87', operands: 'Ex87', exec: escape(op) }),
  ),
  { opcode: 0x9b, mnemonic: 'fwait', operands: '', exec: fwait },
];
