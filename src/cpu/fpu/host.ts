/**
 * What the x87 unit needs from the CPU core. The core decodes prefixes and the
 * ModRM byte; the FPU decodes the rest of D8..DF and the FPU parts of 0F AE.
 * Memory accessors take linear addresses and may throw a CPU fault (page fault,
 * #GP): the FPU must not change its own state before every access that can fault
 * has been done or checked, so an instruction that faults can be restarted.
 */
export interface FpuHost {
  /** Linear address of the instruction's memory operand of lenBytes, after segment checks (may throw #GP/#SS). */
  ea(lenBytes: number, isWrite: boolean): number;
  read8(lin: number): number;
  read16(lin: number): number;
  /** Signed 32-bit result. */
  read32(lin: number): number;
  write8(lin: number, v: number): void;
  write16(lin: number, v: number): void;
  write32(lin: number, v: number): void;
  /** Throws the fault now if [lin, lin + lenBytes) cannot be written, so multi-part stores are all-or-nothing. */
  checkWrite(lin: number, lenBytes: number): void;
  /** Operand size of the current instruction (FNSTENV/FLDENV/FNSAVE/FRSTOR layouts). */
  readonly o32: boolean;
  /** True in protected mode (not real mode, not virtual-8086), for the environment layout. */
  isProtectedMode(): boolean;
  /** Writes AX (FNSTSW AX). */
  setAx(v: number): void;
  /** Raises #UD (an encoding the FPU does not define). */
  raiseUD(): never;
  /** CS selector, EIP and the memory operand's selector/offset of the current instruction (FPU IP/DP). */
  readonly instrCs: number;
  readonly instrEip: number;
  readonly eaSelector: number;
  readonly eaOffset: number;
  /** EFLAGS of the CPU: FCMOVcc reads CF/ZF/PF; FCOMI/FUCOMI(P) write ZF/PF/CF and clear OF/SF/AF. Optional for backward compatibility; the FPU raises an error if they are missing when needed. */
  getFlags?(): number;
  setFlags?(v: number): void;
  /** Raises #GP(code) (FXSAVE/FXRSTOR: misaligned operand, reserved MXCSR bits). Optional; without it those checks are skipped. */
  raiseGP?(code: number): never;
}
