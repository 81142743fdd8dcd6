import type { Handler } from '../cpu.ts';

/**
 * One row of the opcode table, the single source of truth for the interpreter's
 * dispatch, the differential test generator and (later) the translator's block
 * analysis.
 */
export interface OpcodeEntry {
  /** 0x00..0xFF: one-byte map; 0x0F00..0x0FFF: the 0F map. */
  opcode: number;
  /** ModRM.reg (/digit) for group opcodes; the dispatcher decodes ModRM and picks the row. */
  ext?: number;
  mnemonic: string;
  /**
   * Operands in SDM notation, comma separated: E/G/M/R/S/C/D mean a ModRM byte
   * (the dispatcher decodes it before exec runs); b/w/d/v/z sizes; I immediates;
   * J relative; O moffs; A far pointer; register names (AL, eAX, ...).
   */
  operands: string;
  exec: Handler;
  /** Arithmetic flags the instruction writes, reads, and leaves undefined (FLAG_* masks). */
  flagsWritten?: number;
  flagsRead?: number;
  flagsUndefined?: number;
  /** Ends a basic block: changes EIP other than by falling through, or changes the mode. */
  blockEnd?: boolean;
  /** Privileged, I/O or otherwise system-level: excluded from ring-3 differential tests. */
  system?: boolean;
  /** LOCK is allowed (with a memory destination); otherwise LOCK raises #UD. */
  lockable?: boolean;
  /** A prefix byte. */
  prefix?: boolean;
  /** The ModRM must be a register form (mod = 3) or a memory form; the other form is #UD. */
  modrmForm?: 'reg' | 'mem';
}
