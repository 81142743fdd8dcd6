import type { OpcodeEntry } from './types.ts';
import { CS, DS, ES, FS, GS, SS, FLAG_OF, FLAG_ZF, FLAGS_ARITH } from '../constants.ts';
import * as Seg from '../ops/system-seg.ts';
import * as Far from '../ops/system-far.ts';
import * as Ctl from '../ops/system-ctrl.ts';

const SEG_OPERAND = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];

function segmentRows(): OpcodeEntry[] {
  const rows: OpcodeEntry[] = [];
  const push: [number, number][] = [[0x06, ES], [0x0e, CS], [0x16, SS], [0x1e, DS], [0x0fa0, FS], [0x0fa8, GS]];
  const pop: [number, number][] = [[0x07, ES], [0x17, SS], [0x1f, DS], [0x0fa1, FS], [0x0fa9, GS]];
  for (const [opcode, seg] of push) {
    rows.push({ opcode, mnemonic: 'push', operands: SEG_OPERAND[seg], exec: (c) => Seg.pushSreg(c, seg), system: true });
  }
  for (const [opcode, seg] of pop) {
    rows.push({ opcode, mnemonic: 'pop', operands: SEG_OPERAND[seg], exec: (c) => Seg.popSreg(c, seg), system: true });
  }
  const far: [number, number, string][] = [[0xc4, ES, 'les'], [0xc5, DS, 'lds'], [0x0fb2, SS, 'lss'], [0x0fb4, FS, 'lfs'], [0x0fb5, GS, 'lgs']];
  for (const [opcode, seg, mnemonic] of far) {
    rows.push({ opcode, mnemonic, operands: 'Gv,Mp', exec: (c) => Seg.loadFarPointer(c, seg), modrmForm: 'mem', system: true });
  }
  return rows;
}

/**
 * The system architecture: segment loads, far transfers, interrupts and IRET,
 * descriptor tables, control/debug registers, MSRs, SYSENTER/SYSEXIT, CPUID.
 */
export const SYSTEM_TABLE: OpcodeEntry[] = [
  ...segmentRows(),
  { opcode: 0x8c, mnemonic: 'mov', operands: 'Ew,Sw', exec: Seg.movEwSreg, system: true },
  { opcode: 0x8e, mnemonic: 'mov', operands: 'Sw,Ew', exec: Seg.movSregEw, system: true },
  { opcode: 0x63, mnemonic: 'arpl', operands: 'Ew,Gw', exec: Seg.arpl, flagsWritten: FLAG_ZF, system: true },

  { opcode: 0xea, mnemonic: 'jmp', operands: 'Ap', exec: Far.jmpFarAp, blockEnd: true, system: true },
  { opcode: 0x9a, mnemonic: 'call', operands: 'Ap', exec: Far.callFarAp, blockEnd: true, system: true },
  { opcode: 0xff, ext: 3, mnemonic: 'call', operands: 'Mp', exec: Far.callFarEp, modrmForm: 'mem', blockEnd: true, system: true },
  { opcode: 0xff, ext: 5, mnemonic: 'jmp', operands: 'Mp', exec: Far.jmpFarEp, modrmForm: 'mem', blockEnd: true, system: true },
  { opcode: 0xca, mnemonic: 'retf', operands: 'Iw', exec: Far.retFarIw, blockEnd: true, system: true },
  { opcode: 0xcb, mnemonic: 'retf', operands: '', exec: Far.retFarPlain, blockEnd: true, system: true },
  { opcode: 0xcf, mnemonic: 'iret', operands: '', exec: Far.iret, flagsWritten: FLAGS_ARITH, blockEnd: true, system: true },
  { opcode: 0xcc, mnemonic: 'int3', operands: '', exec: Far.int3, blockEnd: true, system: true },
  { opcode: 0xcd, mnemonic: 'int', operands: 'Ib', exec: Far.intIb, blockEnd: true, system: true },
  { opcode: 0xce, mnemonic: 'into', operands: '', exec: Far.into, flagsRead: FLAG_OF, blockEnd: true, system: true },
  { opcode: 0xf1, mnemonic: 'int1', operands: '', exec: Far.int1, blockEnd: true, system: true },
  { opcode: 0x9c, mnemonic: 'pushf', operands: '', exec: Far.pushf, flagsRead: FLAGS_ARITH, system: true },
  { opcode: 0x9d, mnemonic: 'popf', operands: '', exec: Far.popf, flagsWritten: FLAGS_ARITH, blockEnd: true, system: true },

  { opcode: 0x0f00, ext: 0, mnemonic: 'sldt', operands: 'Ew', exec: Seg.sldt, system: true },
  { opcode: 0x0f00, ext: 1, mnemonic: 'str', operands: 'Ew', exec: Seg.str, system: true },
  { opcode: 0x0f00, ext: 2, mnemonic: 'lldt', operands: 'Ew', exec: Seg.lldt, system: true },
  { opcode: 0x0f00, ext: 3, mnemonic: 'ltr', operands: 'Ew', exec: Seg.ltr, system: true },
  { opcode: 0x0f00, ext: 4, mnemonic: 'verr', operands: 'Ew', exec: (c) => Seg.verify(c, false), flagsWritten: FLAG_ZF, system: true },
  { opcode: 0x0f00, ext: 5, mnemonic: 'verw', operands: 'Ew', exec: (c) => Seg.verify(c, true), flagsWritten: FLAG_ZF, system: true },
  { opcode: 0x0f01, ext: 0, mnemonic: 'sgdt', operands: 'Ms', exec: (c) => Ctl.storeTableRegister(c, false), modrmForm: 'mem', system: true },
  { opcode: 0x0f01, ext: 1, mnemonic: 'sidt', operands: 'Ms', exec: (c) => Ctl.storeTableRegister(c, true), modrmForm: 'mem', system: true },
  { opcode: 0x0f01, ext: 2, mnemonic: 'lgdt', operands: 'Ms', exec: (c) => Ctl.loadTableRegister(c, false), modrmForm: 'mem', system: true },
  { opcode: 0x0f01, ext: 3, mnemonic: 'lidt', operands: 'Ms', exec: (c) => Ctl.loadTableRegister(c, true), modrmForm: 'mem', system: true },
  { opcode: 0x0f01, ext: 4, mnemonic: 'smsw', operands: 'Ew', exec: Ctl.smsw, system: true },
  { opcode: 0x0f01, ext: 6, mnemonic: 'lmsw', operands: 'Ew', exec: Ctl.lmsw, blockEnd: true, system: true },
  { opcode: 0x0f01, ext: 7, mnemonic: 'invlpg', operands: 'Mb', exec: Ctl.invlpg, modrmForm: 'mem', blockEnd: true, system: true },
  { opcode: 0x0f02, mnemonic: 'lar', operands: 'Gv,Ew', exec: Seg.lar, flagsWritten: FLAG_ZF, system: true },
  { opcode: 0x0f03, mnemonic: 'lsl', operands: 'Gv,Ew', exec: Seg.lsl, flagsWritten: FLAG_ZF, system: true },
  { opcode: 0x0f06, mnemonic: 'clts', operands: '', exec: Ctl.clts, system: true },
  { opcode: 0x0f08, mnemonic: 'invd', operands: '', exec: Ctl.invalidateCaches, system: true },
  { opcode: 0x0f09, mnemonic: 'wbinvd', operands: '', exec: Ctl.invalidateCaches, system: true },
  { opcode: 0x0f0b, mnemonic: 'ud2', operands: '', exec: Ctl.ud2, blockEnd: true },
  // The SDM ignores mod for MOV CR/DR; here only the register form (mod = 3) decodes.
  { opcode: 0x0f20, mnemonic: 'mov', operands: 'Rd,Cd', exec: Ctl.movRdCr, modrmForm: 'reg', system: true },
  { opcode: 0x0f21, mnemonic: 'mov', operands: 'Rd,Dd', exec: Ctl.movRdDr, modrmForm: 'reg', system: true },
  { opcode: 0x0f22, mnemonic: 'mov', operands: 'Cd,Rd', exec: Ctl.movCrRd, modrmForm: 'reg', blockEnd: true, system: true },
  { opcode: 0x0f23, mnemonic: 'mov', operands: 'Dd,Rd', exec: Ctl.movDrRd, modrmForm: 'reg', system: true },
  { opcode: 0x0f30, mnemonic: 'wrmsr', operands: '', exec: Ctl.wrmsr, system: true },
  { opcode: 0x0f31, mnemonic: 'rdtsc', operands: '', exec: Ctl.rdtsc, system: true },
  { opcode: 0x0f32, mnemonic: 'rdmsr', operands: '', exec: Ctl.rdmsr, system: true },
  { opcode: 0x0f33, mnemonic: 'rdpmc', operands: '', exec: Ctl.rdpmc, system: true },
  { opcode: 0x0f34, mnemonic: 'sysenter', operands: '', exec: Ctl.sysenter, blockEnd: true, system: true },
  { opcode: 0x0f35, mnemonic: 'sysexit', operands: '', exec: Ctl.sysexit, blockEnd: true, system: true },
  { opcode: 0x0fa2, mnemonic: 'cpuid', operands: '', exec: Ctl.cpuidInsn, system: true },
  { opcode: 0x0fae, ext: 0, mnemonic: 'fxsave', operands: 'M', exec: (c) => Ctl.fxsaveOrRestore(c, true), modrmForm: 'mem' },
  { opcode: 0x0fae, ext: 1, mnemonic: 'fxrstor', operands: 'M', exec: (c) => Ctl.fxsaveOrRestore(c, false), modrmForm: 'mem' },
];
