import type { OpcodeEntry } from './types.ts';

/** An operand coded by ModRM: one of E G M R S C D followed by a lowercase size or nothing (not a register name such as DX or ES). */
const MODRM_OPERAND = /(^|,)\s*[EGMRSCD]([a-z]|\s*(,|$))/;

export function needsModrm(e: OpcodeEntry): boolean {
  return e.ext !== undefined || MODRM_OPERAND.test(e.operands);
}

/**
 * The table by opcode and ModRM, for decoders that look at instruction bytes
 * without executing them (the decoded-block cache, later the translator).
 */
export interface DecodeIndex {
  /** The row for an opcode (0F map as 0x0Fxx); modrm picks the group row and the form. undefined: #UD. */
  entry(opcode: number, modrm: number): OpcodeEntry | undefined;
  /** Whether the opcode has a ModRM byte (every row of an opcode agrees). */
  hasModrm(opcode: number): boolean;
}

export function buildDecodeIndex(table: readonly OpcodeEntry[]): DecodeIndex {
  // Per opcode 16 slots: ModRM.reg, | 8 for register forms (the same rule as groupHandler).
  const slots: (OpcodeEntry | undefined)[][] = [];
  const modrm = new Uint8Array(0x200);
  for (const e of table) {
    const op = e.opcode >= 0x100 ? 0x100 | (e.opcode & 0xff) : e.opcode;
    const s = (slots[op] ??= new Array(16).fill(undefined));
    if (needsModrm(e)) modrm[op] = 1;
    for (let reg = 0; reg < 8; reg++) {
      if (e.ext !== undefined && e.ext !== reg) continue;
      if (e.modrmForm !== 'reg') s[reg] ??= e;
      if (e.modrmForm !== 'mem') s[reg | 8] ??= e;
    }
  }
  return {
    entry(opcode, m) {
      const s = slots[opcode >= 0x100 ? 0x100 | (opcode & 0xff) : opcode];
      if (!s) return undefined;
      return s[((m >> 3) & 7) | (m >= 0xc0 ? 8 : 0)];
    },
    hasModrm(opcode) {
      return modrm[opcode >= 0x100 ? 0x100 | (opcode & 0xff) : opcode] === 1;
    },
  };
}
