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

/**
 * Bytes of an instruction after its ModRM, SIB and displacement (or after the opcode
 * when it has no ModRM): immediates, relative offsets, far pointers and moffs.
 */
export function trailingBytes(e: OpcodeEntry, o32: boolean, a32: boolean): number {
  let sizes = TRAILING.get(e);
  if (sizes === undefined) {
    // Bytes by operand size (16, 32) and address size (16, 32), from the operand string once per row.
    sizes = [0, 0, 0, 0];
    for (const raw of e.operands.split(',')) {
      switch (raw.trim()) {
        case 'Ib': case 'Jb': for (let k = 0; k < 4; k++) sizes[k] += 1; break;
        case 'Iw': for (let k = 0; k < 4; k++) sizes[k] += 2; break;
        case 'Iz': case 'Iv': case 'Jz': sizes[0] += 2; sizes[1] += 2; sizes[2] += 4; sizes[3] += 4; break;
        case 'Ap': sizes[0] += 4; sizes[1] += 4; sizes[2] += 6; sizes[3] += 6; break;
        case 'Ob': case 'Ov': sizes[0] += 2; sizes[1] += 4; sizes[2] += 2; sizes[3] += 4; break;
        default: break;
      }
    }
    TRAILING.set(e, sizes);
  }
  return sizes[(o32 ? 2 : 0) | (a32 ? 1 : 0)];
}

const TRAILING = new WeakMap<OpcodeEntry, number[]>();
