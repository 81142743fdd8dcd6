import type { OpcodeEntry } from './types.ts';
import { FLAGS_ARITH, FLAG_CF, FLAG_AF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF } from '../constants.ts';
import * as A from '../ops/alu.ts';
import * as B from '../ops/base.ts';

const NO_CF = FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;
const REG16 = ['AX', 'CX', 'DX', 'BX', 'SP', 'BP', 'SI', 'DI'];
const CC = ['O', 'NO', 'B', 'AE', 'E', 'NE', 'BE', 'A', 'S', 'NS', 'P', 'NP', 'L', 'GE', 'LE', 'G'];
/** Flags read by each condition code (Jcc, SETcc, CMOVcc). */
export const CC_FLAGS_READ = [
  FLAG_OF, FLAG_OF, FLAG_CF, FLAG_CF, FLAG_ZF, FLAG_ZF, FLAG_CF | FLAG_ZF, FLAG_CF | FLAG_ZF,
  FLAG_SF, FLAG_SF, FLAG_PF, FLAG_PF, FLAG_SF | FLAG_OF, FLAG_SF | FLAG_OF,
  FLAG_ZF | FLAG_SF | FLAG_OF, FLAG_ZF | FLAG_SF | FLAG_OF,
];
export const CC_NAMES = CC;

function aluRows(): OpcodeEntry[] {
  const rows: OpcodeEntry[] = [];
  for (let op = 0; op < 8; op++) {
    const base = op << 3;
    const name = A.ALU_NAMES[op];
    const reads = op === A.ALU_ADC || op === A.ALU_SBB ? FLAG_CF : 0;
    const undef = op === A.ALU_OR || op === A.ALU_AND || op === A.ALU_XOR ? FLAG_AF : 0;
    const lockable = op !== A.ALU_CMP;
    const f = { flagsWritten: FLAGS_ARITH, flagsRead: reads, flagsUndefined: undef };
    rows.push(
      { opcode: base + 0, mnemonic: name, operands: 'Eb,Gb', exec: (c) => A.aluEbGb(c, op), lockable, ...f },
      { opcode: base + 1, mnemonic: name, operands: 'Ev,Gv', exec: (c) => A.aluEvGv(c, op), lockable, ...f },
      { opcode: base + 2, mnemonic: name, operands: 'Gb,Eb', exec: (c) => A.aluGbEb(c, op), ...f },
      { opcode: base + 3, mnemonic: name, operands: 'Gv,Ev', exec: (c) => A.aluGvEv(c, op), ...f },
      { opcode: base + 4, mnemonic: name, operands: 'AL,Ib', exec: (c) => A.aluALIb(c, op), ...f },
      { opcode: base + 5, mnemonic: name, operands: 'eAX,Iz', exec: (c) => A.aluEAXIz(c, op), ...f },
      { opcode: 0x80, ext: op, mnemonic: name, operands: 'Eb,Ib', exec: A.group1Eb, lockable, ...f },
      { opcode: 0x81, ext: op, mnemonic: name, operands: 'Ev,Iz', exec: A.group1EvIz, lockable, ...f },
      { opcode: 0x82, ext: op, mnemonic: name, operands: 'Eb,Ib', exec: A.group1Eb, lockable, ...f },
      { opcode: 0x83, ext: op, mnemonic: name, operands: 'Ev,Ib', exec: A.group1EvIb, lockable, ...f },
    );
  }
  return rows;
}

function perRegister(): OpcodeEntry[] {
  const rows: OpcodeEntry[] = [];
  for (let r = 0; r < 8; r++) {
    rows.push(
      { opcode: 0x40 + r, mnemonic: 'inc', operands: 'e' + REG16[r], exec: (c) => B.incReg(c, r), flagsWritten: NO_CF },
      { opcode: 0x48 + r, mnemonic: 'dec', operands: 'e' + REG16[r], exec: (c) => B.decReg(c, r), flagsWritten: NO_CF },
      { opcode: 0x50 + r, mnemonic: 'push', operands: 'e' + REG16[r], exec: (c) => B.pushReg(c, r) },
      { opcode: 0x58 + r, mnemonic: 'pop', operands: 'e' + REG16[r], exec: (c) => B.popReg(c, r) },
      { opcode: 0xb0 + r, mnemonic: 'mov', operands: ['AL', 'CL', 'DL', 'BL', 'AH', 'CH', 'DH', 'BH'][r] + ',Ib', exec: (c) => B.movRegIb(c, r) },
      { opcode: 0xb8 + r, mnemonic: 'mov', operands: 'e' + REG16[r] + ',Iv', exec: (c) => B.movRegIv(c, r) },
    );
    if (r !== 0) rows.push({ opcode: 0x90 + r, mnemonic: 'xchg', operands: 'eAX,e' + REG16[r], exec: (c) => B.xchgEAX(c, r) });
  }
  for (let cc = 0; cc < 16; cc++) {
    const flagsRead = CC_FLAGS_READ[cc];
    rows.push(
      { opcode: 0x70 + cc, mnemonic: 'j' + CC[cc].toLowerCase(), operands: 'Jb', exec: (c) => B.jccRel8(c, cc), flagsRead, blockEnd: true },
      { opcode: 0x0f80 + cc, mnemonic: 'j' + CC[cc].toLowerCase(), operands: 'Jz', exec: (c) => B.jccRelz(c, cc), flagsRead, blockEnd: true },
    );
  }
  return rows;
}

/** Prefixes, moves, stack, near control flow, flag bits, port I/O. */
export const BASE_TABLE: OpcodeEntry[] = [
  ...aluRows(),
  ...perRegister(),
  { opcode: 0x66, mnemonic: 'opsize', operands: '', exec: B.prefixByte, prefix: true },
  { opcode: 0x67, mnemonic: 'addrsize', operands: '', exec: B.prefixByte, prefix: true },
  ...B.SEGMENT_PREFIXES.map(([op, seg]): OpcodeEntry => ({ opcode: op, mnemonic: 'seg', operands: '', exec: B.prefixByte, prefix: true })),
  { opcode: 0xf0, mnemonic: 'lock', operands: '', exec: B.prefixByte, prefix: true },
  { opcode: 0xf2, mnemonic: 'repne', operands: '', exec: B.prefixByte, prefix: true },
  { opcode: 0xf3, mnemonic: 'rep', operands: '', exec: B.prefixByte, prefix: true },
  { opcode: 0x0f, mnemonic: '0f', operands: '', exec: B.prefixByte, prefix: true },

  { opcode: 0x68, mnemonic: 'push', operands: 'Iz', exec: B.pushIz },
  { opcode: 0x6a, mnemonic: 'push', operands: 'Ib', exec: B.pushIb },
  { opcode: 0x86, mnemonic: 'xchg', operands: 'Eb,Gb', exec: B.xchgEbGb, lockable: true },
  { opcode: 0x87, mnemonic: 'xchg', operands: 'Ev,Gv', exec: B.xchgEvGv, lockable: true },
  { opcode: 0x88, mnemonic: 'mov', operands: 'Eb,Gb', exec: B.movEbGb },
  { opcode: 0x89, mnemonic: 'mov', operands: 'Ev,Gv', exec: B.movEvGv },
  { opcode: 0x8a, mnemonic: 'mov', operands: 'Gb,Eb', exec: B.movGbEb },
  { opcode: 0x8b, mnemonic: 'mov', operands: 'Gv,Ev', exec: B.movGvEv },
  { opcode: 0x8d, mnemonic: 'lea', operands: 'Gv,M', exec: B.lea, modrmForm: 'mem' },
  { opcode: 0x8f, ext: 0, mnemonic: 'pop', operands: 'Ev', exec: B.popEv },
  { opcode: 0x90, mnemonic: 'nop', operands: '', exec: B.nop },
  { opcode: 0xa0, mnemonic: 'mov', operands: 'AL,Ob', exec: B.movALOb },
  { opcode: 0xa1, mnemonic: 'mov', operands: 'eAX,Ov', exec: B.movEAXOv },
  { opcode: 0xa2, mnemonic: 'mov', operands: 'Ob,AL', exec: B.movObAL },
  { opcode: 0xa3, mnemonic: 'mov', operands: 'Ov,eAX', exec: B.movOvEAX },
  { opcode: 0xc2, mnemonic: 'ret', operands: 'Iw', exec: B.retNearIw, blockEnd: true },
  { opcode: 0xc3, mnemonic: 'ret', operands: '', exec: B.retNear, blockEnd: true },
  { opcode: 0xc6, ext: 0, mnemonic: 'mov', operands: 'Eb,Ib', exec: B.movEbIb },
  { opcode: 0xc7, ext: 0, mnemonic: 'mov', operands: 'Ev,Iz', exec: B.movEvIz },
  { opcode: 0xe4, mnemonic: 'in', operands: 'AL,Ib', exec: B.inALIb, system: true },
  { opcode: 0xe5, mnemonic: 'in', operands: 'eAX,Ib', exec: B.inEAXIb, system: true },
  { opcode: 0xe6, mnemonic: 'out', operands: 'Ib,AL', exec: B.outIbAL, system: true },
  { opcode: 0xe7, mnemonic: 'out', operands: 'Ib,eAX', exec: B.outIbEAX, system: true },
  { opcode: 0xe8, mnemonic: 'call', operands: 'Jz', exec: B.callRelz, blockEnd: true },
  { opcode: 0xe9, mnemonic: 'jmp', operands: 'Jz', exec: B.jmpRelz, blockEnd: true },
  { opcode: 0xeb, mnemonic: 'jmp', operands: 'Jb', exec: B.jmpRel8, blockEnd: true },
  { opcode: 0xec, mnemonic: 'in', operands: 'AL,DX', exec: B.inALDX, system: true },
  { opcode: 0xed, mnemonic: 'in', operands: 'eAX,DX', exec: B.inEAXDX, system: true },
  { opcode: 0xee, mnemonic: 'out', operands: 'DX,AL', exec: B.outDXAL, system: true },
  { opcode: 0xef, mnemonic: 'out', operands: 'DX,eAX', exec: B.outDXEAX, system: true },
  { opcode: 0xf4, mnemonic: 'hlt', operands: '', exec: B.hlt, system: true, blockEnd: true },
  { opcode: 0xf5, mnemonic: 'cmc', operands: '', exec: B.cmc, flagsRead: FLAG_CF, flagsWritten: FLAG_CF },
  { opcode: 0xf8, mnemonic: 'clc', operands: '', exec: B.clc, flagsWritten: FLAG_CF },
  { opcode: 0xf9, mnemonic: 'stc', operands: '', exec: B.stc, flagsWritten: FLAG_CF },
  { opcode: 0xfa, mnemonic: 'cli', operands: '', exec: B.cli, system: true },
  { opcode: 0xfb, mnemonic: 'sti', operands: '', exec: B.sti, system: true, blockEnd: true },
  { opcode: 0xfc, mnemonic: 'cld', operands: '', exec: B.cld },
  { opcode: 0xfd, mnemonic: 'std', operands: '', exec: B.std },
  { opcode: 0xff, ext: 2, mnemonic: 'call', operands: 'Ev', exec: B.callEv, blockEnd: true },
  { opcode: 0xff, ext: 4, mnemonic: 'jmp', operands: 'Ev', exec: B.jmpEv, blockEnd: true },
  { opcode: 0xff, ext: 6, mnemonic: 'push', operands: 'Ev', exec: B.pushEv },
];

