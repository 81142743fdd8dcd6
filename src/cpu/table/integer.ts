import type { OpcodeEntry } from './types.ts';
import { FLAGS_ARITH, FLAG_AF, FLAG_CF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF } from '../constants.ts';
import { CC_FLAGS_READ, CC_NAMES } from './base.ts';
import * as I from '../ops/integer.ts';
import * as S from '../ops/shift.ts';
import * as Bt from '../ops/bits.ts';
import * as Str from '../ops/string.ts';

const NO_CF = FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;
const SZP = FLAG_SF | FLAG_ZF | FLAG_PF;
const REG32 = ['eAX', 'eCX', 'eDX', 'eBX', 'eSP', 'eBP', 'eSI', 'eDI'];

/**
 * Shifts and rotates (C0/C1/D0-D3). A count of 0 leaves the flags alone, so the
 * variable-count forms also read every flag they may write.
 */
function shiftRows(): OpcodeEntry[] {
  const rows: OpcodeEntry[] = [];
  const forms = [
    { byte: 0xc0, wide: 0xc1, count: S.COUNT_IB, suffix: 'Ib' },
    { byte: 0xd0, wide: 0xd1, count: S.COUNT_1, suffix: '1' },
    { byte: 0xd2, wide: 0xd3, count: S.COUNT_CL, suffix: 'CL' },
  ];
  for (let op = 0; op < 8; op++) {
    const rotate = op < 4;
    const carry = op === S.RCL || op === S.RCR;
    const written = rotate ? FLAG_CF | FLAG_OF : FLAGS_ARITH;
    for (const f of forms) {
      const countIsOne = f.count === S.COUNT_1;
      const flags = {
        flagsWritten: written,
        flagsRead: (carry ? FLAG_CF : 0) | (countIsOne ? 0 : written),
        flagsUndefined: (countIsOne ? 0 : FLAG_OF) | (rotate ? 0 : FLAG_AF),
      };
      const count = f.count;
      rows.push(
        { opcode: f.byte, ext: op, mnemonic: S.SHIFT_NAMES[op], operands: 'Eb,' + f.suffix, exec: (c) => S.shiftEb(c, op, count), ...flags },
        { opcode: f.wide, ext: op, mnemonic: S.SHIFT_NAMES[op], operands: 'Ev,' + f.suffix, exec: (c) => S.shiftEv(c, op, count), ...flags },
      );
    }
  }
  const dbl = { flagsWritten: FLAGS_ARITH, flagsRead: FLAGS_ARITH, flagsUndefined: FLAG_AF | FLAG_OF };
  rows.push(
    { opcode: 0x0fa4, mnemonic: 'shld', operands: 'Ev,Gv,Ib', exec: (c) => S.shld(c, S.COUNT_IB), ...dbl },
    { opcode: 0x0fa5, mnemonic: 'shld', operands: 'Ev,Gv,CL', exec: (c) => S.shld(c, S.COUNT_CL), ...dbl },
    { opcode: 0x0fac, mnemonic: 'shrd', operands: 'Ev,Gv,Ib', exec: (c) => S.shrd(c, S.COUNT_IB), ...dbl },
    { opcode: 0x0fad, mnemonic: 'shrd', operands: 'Ev,Gv,CL', exec: (c) => S.shrd(c, S.COUNT_CL), ...dbl },
  );
  return rows;
}

function group3Rows(): OpcodeEntry[] {
  const test = { flagsWritten: FLAGS_ARITH, flagsUndefined: FLAG_AF };
  const mul = { flagsWritten: FLAGS_ARITH, flagsUndefined: SZP | FLAG_AF };
  const div = { flagsWritten: FLAGS_ARITH, flagsUndefined: FLAGS_ARITH };
  return [
    // /1 is an undocumented alias of TEST on this CPU.
    { opcode: 0xf6, ext: 0, mnemonic: 'test', operands: 'Eb,Ib', exec: I.testEbIb, ...test },
    { opcode: 0xf6, ext: 1, mnemonic: 'test', operands: 'Eb,Ib', exec: I.testEbIb, ...test },
    { opcode: 0xf6, ext: 2, mnemonic: 'not', operands: 'Eb', exec: I.notEb, lockable: true },
    { opcode: 0xf6, ext: 3, mnemonic: 'neg', operands: 'Eb', exec: I.negEb, flagsWritten: FLAGS_ARITH, lockable: true },
    { opcode: 0xf6, ext: 4, mnemonic: 'mul', operands: 'Eb', exec: I.mulEb, ...mul },
    { opcode: 0xf6, ext: 5, mnemonic: 'imul', operands: 'Eb', exec: I.imulEb, ...mul },
    { opcode: 0xf6, ext: 6, mnemonic: 'div', operands: 'Eb', exec: I.divEb, ...div },
    { opcode: 0xf6, ext: 7, mnemonic: 'idiv', operands: 'Eb', exec: I.idivEb, ...div },
    { opcode: 0xf7, ext: 0, mnemonic: 'test', operands: 'Ev,Iz', exec: I.testEvIz, ...test },
    { opcode: 0xf7, ext: 1, mnemonic: 'test', operands: 'Ev,Iz', exec: I.testEvIz, ...test },
    { opcode: 0xf7, ext: 2, mnemonic: 'not', operands: 'Ev', exec: I.notEv, lockable: true },
    { opcode: 0xf7, ext: 3, mnemonic: 'neg', operands: 'Ev', exec: I.negEv, flagsWritten: FLAGS_ARITH, lockable: true },
    { opcode: 0xf7, ext: 4, mnemonic: 'mul', operands: 'Ev', exec: I.mulEv, ...mul },
    { opcode: 0xf7, ext: 5, mnemonic: 'imul', operands: 'Ev', exec: I.imulEv, ...mul },
    { opcode: 0xf7, ext: 6, mnemonic: 'div', operands: 'Ev', exec: I.divEv, ...div },
    { opcode: 0xf7, ext: 7, mnemonic: 'idiv', operands: 'Ev', exec: I.idivEv, ...div },
    { opcode: 0x0faf, mnemonic: 'imul', operands: 'Gv,Ev', exec: I.imulGvEv, ...mul },
    { opcode: 0x69, mnemonic: 'imul', operands: 'Gv,Ev,Iz', exec: I.imulGvEvIz, ...mul },
    { opcode: 0x6b, mnemonic: 'imul', operands: 'Gv,Ev,Ib', exec: I.imulGvEvIb, ...mul },
    { opcode: 0xfe, ext: 0, mnemonic: 'inc', operands: 'Eb', exec: I.incEb, flagsWritten: NO_CF, lockable: true },
    { opcode: 0xfe, ext: 1, mnemonic: 'dec', operands: 'Eb', exec: I.decEb, flagsWritten: NO_CF, lockable: true },
    { opcode: 0xff, ext: 0, mnemonic: 'inc', operands: 'Ev', exec: I.incEv, flagsWritten: NO_CF, lockable: true },
    { opcode: 0xff, ext: 1, mnemonic: 'dec', operands: 'Ev', exec: I.decEv, flagsWritten: NO_CF, lockable: true },
  ];
}

function miscRows(): OpcodeEntry[] {
  const test = { flagsWritten: FLAGS_ARITH, flagsUndefined: FLAG_AF };
  return [
    { opcode: 0x84, mnemonic: 'test', operands: 'Eb,Gb', exec: I.testEbGb, ...test },
    { opcode: 0x85, mnemonic: 'test', operands: 'Ev,Gv', exec: I.testEvGv, ...test },
    { opcode: 0xa8, mnemonic: 'test', operands: 'AL,Ib', exec: I.testALIb, ...test },
    { opcode: 0xa9, mnemonic: 'test', operands: 'eAX,Iz', exec: I.testEAXIz, ...test },
    { opcode: 0x98, mnemonic: 'cbw', operands: '', exec: I.cbw },
    { opcode: 0x99, mnemonic: 'cwd', operands: '', exec: I.cwd },
    { opcode: 0x9e, mnemonic: 'sahf', operands: '', exec: I.sahf, flagsWritten: SZP | FLAG_AF | FLAG_CF },
    { opcode: 0x9f, mnemonic: 'lahf', operands: '', exec: I.lahf, flagsRead: SZP | FLAG_AF | FLAG_CF },
    { opcode: 0xd7, mnemonic: 'xlat', operands: '', exec: I.xlat },
    { opcode: 0xd6, mnemonic: 'salc', operands: '', exec: I.salc, flagsRead: FLAG_CF },
    { opcode: 0x60, mnemonic: 'pusha', operands: '', exec: I.pusha },
    { opcode: 0x61, mnemonic: 'popa', operands: '', exec: I.popa },
    { opcode: 0xc8, mnemonic: 'enter', operands: 'Iw,Ib', exec: I.enter },
    { opcode: 0xc9, mnemonic: 'leave', operands: '', exec: I.leave },
    { opcode: 0xe0, mnemonic: 'loopne', operands: 'Jb', exec: (c) => I.loop(c, 0), flagsRead: FLAG_ZF, blockEnd: true },
    { opcode: 0xe1, mnemonic: 'loope', operands: 'Jb', exec: (c) => I.loop(c, 1), flagsRead: FLAG_ZF, blockEnd: true },
    { opcode: 0xe2, mnemonic: 'loop', operands: 'Jb', exec: (c) => I.loop(c, 2), blockEnd: true },
    { opcode: 0xe3, mnemonic: 'jcxz', operands: 'Jb', exec: I.jcxz, blockEnd: true },
    { opcode: 0x62, mnemonic: 'bound', operands: 'Gv,Ma', exec: I.bound, modrmForm: 'mem' },
    { opcode: 0x27, mnemonic: 'daa', operands: '', exec: I.daa, flagsRead: FLAG_CF | FLAG_AF, flagsWritten: FLAGS_ARITH, flagsUndefined: FLAG_OF },
    { opcode: 0x2f, mnemonic: 'das', operands: '', exec: I.das, flagsRead: FLAG_CF | FLAG_AF, flagsWritten: FLAGS_ARITH, flagsUndefined: FLAG_OF },
    { opcode: 0x37, mnemonic: 'aaa', operands: '', exec: I.aaa, flagsRead: FLAG_AF, flagsWritten: FLAGS_ARITH, flagsUndefined: SZP | FLAG_OF },
    { opcode: 0x3f, mnemonic: 'aas', operands: '', exec: I.aas, flagsRead: FLAG_AF, flagsWritten: FLAGS_ARITH, flagsUndefined: SZP | FLAG_OF },
    { opcode: 0xd4, mnemonic: 'aam', operands: 'Ib', exec: I.aam, flagsWritten: FLAGS_ARITH, flagsUndefined: FLAG_OF | FLAG_AF | FLAG_CF },
    { opcode: 0xd5, mnemonic: 'aad', operands: 'Ib', exec: I.aad, flagsWritten: FLAGS_ARITH, flagsUndefined: FLAG_OF | FLAG_AF | FLAG_CF },
  ];
}

/** String instructions. REP forms may stop early and leave EIP on themselves to continue. */
function stringRows(): OpcodeEntry[] {
  const cmp = { flagsWritten: FLAGS_ARITH };
  return [
    { opcode: 0xa4, mnemonic: 'movs', operands: 'Yb,Xb', exec: (c) => Str.movs(c, 1) },
    { opcode: 0xa5, mnemonic: 'movs', operands: 'Yv,Xv', exec: (c) => Str.movs(c, c.o32 ? 4 : 2) },
    { opcode: 0xa6, mnemonic: 'cmps', operands: 'Xb,Yb', exec: (c) => Str.cmps(c, 1), ...cmp },
    { opcode: 0xa7, mnemonic: 'cmps', operands: 'Xv,Yv', exec: (c) => Str.cmps(c, c.o32 ? 4 : 2), ...cmp },
    { opcode: 0xaa, mnemonic: 'stos', operands: 'Yb,AL', exec: (c) => Str.stos(c, 1) },
    { opcode: 0xab, mnemonic: 'stos', operands: 'Yv,eAX', exec: (c) => Str.stos(c, c.o32 ? 4 : 2) },
    { opcode: 0xac, mnemonic: 'lods', operands: 'AL,Xb', exec: (c) => Str.lods(c, 1) },
    { opcode: 0xad, mnemonic: 'lods', operands: 'eAX,Xv', exec: (c) => Str.lods(c, c.o32 ? 4 : 2) },
    { opcode: 0xae, mnemonic: 'scas', operands: 'AL,Yb', exec: (c) => Str.scas(c, 1), ...cmp },
    { opcode: 0xaf, mnemonic: 'scas', operands: 'eAX,Yv', exec: (c) => Str.scas(c, c.o32 ? 4 : 2), ...cmp },
    { opcode: 0x6c, mnemonic: 'ins', operands: 'Yb,DX', exec: (c) => Str.ins(c, 1), system: true },
    { opcode: 0x6d, mnemonic: 'ins', operands: 'Yz,DX', exec: (c) => Str.ins(c, c.o32 ? 4 : 2), system: true },
    { opcode: 0x6e, mnemonic: 'outs', operands: 'DX,Xb', exec: (c) => Str.outs(c, 1), system: true },
    { opcode: 0x6f, mnemonic: 'outs', operands: 'DX,Xz', exec: (c) => Str.outs(c, c.o32 ? 4 : 2), system: true },
  ];
}

function twoByteRows(): OpcodeEntry[] {
  const rows: OpcodeEntry[] = [];
  const bt = { flagsWritten: FLAG_CF, flagsUndefined: FLAG_OF | SZP | FLAG_AF };
  const btOps = [0x0fa3, 0x0fab, 0x0fb3, 0x0fbb];
  for (let op = 0; op < 4; op++) {
    const lockable = op !== Bt.BT;
    rows.push(
      { opcode: btOps[op], mnemonic: Bt.BT_NAMES[op], operands: 'Ev,Gv', exec: (c) => Bt.btEvGv(c, op), lockable, ...bt },
      { opcode: 0x0fba, ext: 4 + op, mnemonic: Bt.BT_NAMES[op], operands: 'Ev,Ib', exec: Bt.btEvIb, lockable, ...bt },
    );
  }
  const scan = { flagsWritten: FLAGS_ARITH, flagsUndefined: FLAGS_ARITH & ~FLAG_ZF };
  const arith = { flagsWritten: FLAGS_ARITH };
  rows.push(
    { opcode: 0x0fbc, mnemonic: 'bsf', operands: 'Gv,Ev', exec: Bt.bsf, ...scan },
    { opcode: 0x0fbd, mnemonic: 'bsr', operands: 'Gv,Ev', exec: Bt.bsr, ...scan },
    { opcode: 0x0fb0, mnemonic: 'cmpxchg', operands: 'Eb,Gb', exec: Bt.cmpxchgEbGb, lockable: true, ...arith },
    { opcode: 0x0fb1, mnemonic: 'cmpxchg', operands: 'Ev,Gv', exec: Bt.cmpxchgEvGv, lockable: true, ...arith },
    { opcode: 0x0fc7, ext: 1, mnemonic: 'cmpxchg8b', operands: 'Mq', exec: Bt.cmpxchg8b, modrmForm: 'mem', lockable: true, flagsWritten: FLAG_ZF },
    { opcode: 0x0fc0, mnemonic: 'xadd', operands: 'Eb,Gb', exec: Bt.xaddEbGb, lockable: true, ...arith },
    { opcode: 0x0fc1, mnemonic: 'xadd', operands: 'Ev,Gv', exec: Bt.xaddEvGv, lockable: true, ...arith },
    { opcode: 0x0fb6, mnemonic: 'movzx', operands: 'Gv,Eb', exec: Bt.movzxGvEb },
    { opcode: 0x0fb7, mnemonic: 'movzx', operands: 'Gv,Ew', exec: Bt.movzxGvEw },
    { opcode: 0x0fbe, mnemonic: 'movsx', operands: 'Gv,Eb', exec: Bt.movsxGvEb },
    { opcode: 0x0fbf, mnemonic: 'movsx', operands: 'Gv,Ew', exec: Bt.movsxGvEw },
  );
  for (let r = 0; r < 8; r++) {
    rows.push({ opcode: 0x0fc8 + r, mnemonic: 'bswap', operands: REG32[r], exec: (c) => Bt.bswap(c, r) });
  }
  for (let cc = 0; cc < 16; cc++) {
    const flagsRead = CC_FLAGS_READ[cc];
    const name = CC_NAMES[cc].toLowerCase();
    rows.push(
      { opcode: 0x0f40 + cc, mnemonic: 'cmov' + name, operands: 'Gv,Ev', exec: (c) => Bt.cmov(c, cc), flagsRead },
      { opcode: 0x0f90 + cc, mnemonic: 'set' + name, operands: 'Eb', exec: (c) => Bt.setcc(c, cc), flagsRead },
    );
  }
  // 0F 18 (prefetch hints on later CPUs), 0F 19-1E (reserved NOPs), 0F 1F (NOP Ev).
  for (let op = 0x0f18; op <= 0x0f1f; op++) rows.push({ opcode: op, mnemonic: 'nop', operands: 'Ev', exec: Bt.nopEv });
  return rows;
}

/** The unprivileged integer instructions beyond BASE_TABLE. */
export const INTEGER_TABLE: OpcodeEntry[] = [
  ...shiftRows(),
  ...group3Rows(),
  ...miscRows(),
  ...stringRows(),
  ...twoByteRows(),
];
