import type { Cpu, Handler } from '../cpu.ts';
import { CpuFault, UnimplementedError } from '../cpu.ts';
import { EXC_UD } from '../constants.ts';
import type { OpcodeEntry } from './types.ts';
import { BASE_TABLE } from './base.ts';
import { SYSTEM_TABLE } from './system.ts';
import { INTEGER_TABLE } from './integer.ts';
import { FPU_TABLE } from './fpu.ts';
import { buildDecodeIndex, needsModrm } from './decode-index.ts';
import type { BlockDecoder } from '../blocks.ts';
import { makeBlockDecoder } from '../blocks.ts';

export { needsModrm } from './decode-index.ts';

/** The whole opcode table. */
export const OPCODE_TABLE: readonly OpcodeEntry[] = [...BASE_TABLE, ...INTEGER_TABLE, ...SYSTEM_TABLE, ...FPU_TABLE];


const undefinedOpcode: Handler = (cpu) => cpu.undefinedOpcode();

function lockCheck(cpu: Cpu, e: OpcodeEntry | undefined): void {
  if (!e || !e.lockable || cpu.modrm >= 0xc0) throw new CpuFault(EXC_UD, 0);
}

function wrap(e: OpcodeEntry): Handler {
  const exec = e.exec;
  // Prefixes (0F included) pass LOCK on to the instruction they introduce.
  if (e.prefix) return exec;
  if (!needsModrm(e)) {
    return (cpu) => {
      if (cpu.lock) lockCheck(cpu, undefined);
      exec(cpu);
    };
  }
  if (e.modrmForm) {
    const wantReg = e.modrmForm === 'reg';
    return (cpu) => {
      cpu.decodeModrm();
      if ((cpu.modrm >= 0xc0) !== wantReg) cpu.undefinedOpcode();
      if (cpu.lock) lockCheck(cpu, e);
      exec(cpu);
    };
  }
  return (cpu) => {
    cpu.decodeModrm();
    if (cpu.lock) lockCheck(cpu, e);
    exec(cpu);
  };
}

function groupHandler(rows: (OpcodeEntry | undefined)[][]): Handler {
  // Index: ModRM.reg | 8 for register forms.
  const entries: (OpcodeEntry | undefined)[] = new Array(16).fill(undefined);
  for (let reg = 0; reg < 8; reg++) {
    for (const e of rows[reg] ?? []) {
      if (!e) continue;
      if (e.modrmForm !== 'reg') entries[reg] ??= e;
      if (e.modrmForm !== 'mem') entries[reg | 8] ??= e;
    }
  }
  const sub = entries.map((e) => e?.exec ?? undefinedOpcode);
  return (cpu) => {
    cpu.decodeModrm();
    const m = cpu.modrm;
    const i = ((m >> 3) & 7) | (m >= 0xc0 ? 8 : 0);
    if (cpu.lock) lockCheck(cpu, entries[i]);
    sub[i](cpu);
  };
}

/**
 * Build the two dispatch arrays from the table (opcodes with no row raise #UD),
 * and the block decoder that reads the same table.
 */
export function buildDispatch(table: readonly OpcodeEntry[] = OPCODE_TABLE): { one: Handler[]; twoByte: Handler[]; decodeBlock: BlockDecoder } {
  const maps: Handler[][] = [new Array(256).fill(undefinedOpcode), new Array(256).fill(undefinedOpcode)];
  const groups = new Map<number, (OpcodeEntry | undefined)[][]>();
  const seen = new Map<string, OpcodeEntry>();
  for (const e of table) {
    const key = `${e.opcode}/${e.ext ?? '-'}/${e.modrmForm ?? '-'}`;
    if (seen.has(key)) throw new Error(`opcode table: duplicate row for ${e.opcode.toString(16)} ${key} (${e.mnemonic})`);
    seen.set(key, e);
    if (e.ext !== undefined) {
      let rows = groups.get(e.opcode);
      if (!rows) groups.set(e.opcode, (rows = []));
      (rows[e.ext] ??= []).push(e);
    } else {
      const map = e.opcode >= 0x100 ? 1 : 0;
      maps[map][e.opcode & 0xff] = wrap(e);
    }
  }
  for (const [opcode, rows] of groups) maps[opcode >= 0x100 ? 1 : 0][opcode & 0xff] = groupHandler(rows);
  return { one: maps[0], twoByte: maps[1], decodeBlock: makeBlockDecoder(buildDecodeIndex(table)) };
}

/** Handler for an opcode that is defined by the architecture but not implemented here. */
export function unimplemented(what: string): Handler {
  return () => {
    throw new UnimplementedError(`instruction not implemented: ${what}`);
  };
}

