/**
 * Specialised closures for the most frequent instruction forms, used by decoded
 * blocks (src/cpu/blocks.ts). Each one does what the table's handler does for that
 * form with everything known at decode time (registers, immediates, operand size,
 * the effective-address recipe) folded in. They must not read the per-instruction
 * decode state (o32, a32, segOverride, modrm, eaOff): blocks do not set it for them.
 * Forms not listed here run the table's own handler (blocks.ts, generic()).
 */
import type { Cpu } from '../cpu.ts';
import { CpuFault, LZ_LOGIC } from '../cpu.ts';
import { CS, EAX, EXC_GP } from '../constants.ts';
import type { Decoded, EaFn, Exec } from '../blocks.ts';
import { ALU_CMP, alu, dec, inc } from './alu.ts';

/** Index into the byte view of the register file for 8-bit register n (AL,CL,DL,BL,AH,CH,DH,BH). */
const R8 = [0, 4, 8, 12, 1, 5, 9, 13];

/** A byte immediate (Ib) sign-extended, for the instructions that extend it. */
function sx8(v: number): number {
  return (v << 24) >> 24;
}

/** A near jump to target (unsigned, 32-bit operand size): #GP(0) beyond the CS limit. */
function jump(c: Cpu, target: number): void {
  if (target > c.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
  c.eip = target;
}

export function fastForm(d: Decoded): Exec | null {
  if (d.rep !== 0) return null;
  const op = d.opcode;
  const o32 = d.o32;
  const m = d.modrm;
  const reg = (m >> 3) & 7;
  const rm = m & 7;
  const ea = d.ea;
  const seg = d.seg;

  if (op < 0x40 && (op & 7) < 6) return aluForm(op >> 3, op & 7, d);
  if (op >= 0x40 && op < 0x60) {
    if (!o32) return null;
    const r = op & 7;
    switch (op >> 3) {
      case 8: return (c) => { c.r32[r] = inc(c, c.r32[r], 32); };
      case 9: return (c) => { c.r32[r] = dec(c, c.r32[r], 32); };
      case 10: return (c) => { c.push32(c.r32[r]); };
      default: return (c) => { const v = c.pop32(); c.r32[r] = v; };
    }
  }
  if ((op >= 0x70 && op < 0x80) || (op >= 0x0f80 && op < 0x0f90)) {
    if (!o32) return null;
    const cc = op & 15;
    const rel = d.imm;
    return (c) => { if (c.testCC(cc)) jump(c, (c.eip + rel) >>> 0); };
  }
  if (op >= 0xb0 && op < 0xb8) {
    const r = R8[op & 7];
    const v = d.imm;
    return (c) => { c.r8[r] = v; };
  }
  if (op >= 0xb8 && op < 0xc0) {
    if (!o32) return null;
    const r = op & 7;
    const v = d.imm;
    return (c) => { c.r32[r] = v; };
  }
  switch (op) {
    case 0x68: case 0x6a: {
      if (!o32) return null;
      const v = op === 0x68 ? d.imm : sx8(d.imm);
      return (c) => { c.push32(v); };
    }
    case 0x80: case 0x81: case 0x83: {
      if (op !== 0x80 && !o32) return null;
      const v = op === 0x83 ? sx8(d.imm) : d.imm;
      return aluImm(reg, op === 0x80 ? 8 : 32, d, v);
    }
    case 0x84: case 0x85: {
      if (op === 0x85 && !o32) return null;
      if (op === 0x84) {
        const g = R8[reg];
        if (ea === null) { const e = R8[rm]; return (c) => { const r = c.r8[e] & c.r8[g]; c.setLazy(LZ_LOGIC, r, 0, r, 8); }; }
        return (c) => { const r = c.read8(c.linear(seg, ea(c), 1, false)) & c.r8[g]; c.setLazy(LZ_LOGIC, r, 0, r, 8); };
      }
      if (ea === null) return (c) => { const r = c.r32[rm] & c.r32[reg]; c.setLazy(LZ_LOGIC, r, 0, r, 32); };
      return (c) => { const r = c.read32(c.linear(seg, ea(c), 4, false)) & c.r32[reg]; c.setLazy(LZ_LOGIC, r, 0, r, 32); };
    }
    case 0x88: {
      const g = R8[reg];
      if (ea === null) { const e = R8[rm]; return (c) => { c.r8[e] = c.r8[g]; }; }
      return (c) => { c.write8(c.linear(seg, ea(c), 1, true), c.r8[g]); };
    }
    case 0x89:
      if (!o32) return null;
      if (ea === null) return (c) => { c.r32[rm] = c.r32[reg]; };
      return (c) => { c.write32(c.linear(seg, ea(c), 4, true), c.r32[reg]); };
    case 0x8a: {
      const g = R8[reg];
      if (ea === null) { const e = R8[rm]; return (c) => { c.r8[g] = c.r8[e]; }; }
      return (c) => { c.r8[g] = c.read8(c.linear(seg, ea(c), 1, false)); };
    }
    case 0x8b:
      if (!o32) return null;
      if (ea === null) return (c) => { c.r32[reg] = c.r32[rm]; };
      return (c) => { c.r32[reg] = c.read32(c.linear(seg, ea(c), 4, false)); };
    case 0x8d:
      if (!o32 || ea === null) return null;
      return (c) => { c.r32[reg] = ea(c); };
    case 0x90:
      return () => {};
    case 0xc3:
      if (!o32) return null;
      return (c) => {
        const target = c.peek32(0) >>> 0;
        if (target > c.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
        c.setSp(c.getSp() + 4);
        c.eip = target;
      };
    case 0xc6: {
      const v = d.imm;
      if (ea === null) { const e = R8[rm]; return (c) => { c.r8[e] = v; }; }
      return (c) => { c.write8(c.linear(seg, ea(c), 1, true), v); };
    }
    case 0xc7: {
      if (!o32) return null;
      const v = d.imm;
      if (ea === null) return (c) => { c.r32[rm] = v; };
      return (c) => { c.write32(c.linear(seg, ea(c), 4, true), v); };
    }
    case 0xe8: {
      if (!o32) return null;
      const rel = d.imm;
      return (c) => {
        const ret = c.eip;
        const target = (ret + rel) >>> 0;
        if (target > c.segLimit[CS]) throw new CpuFault(EXC_GP, 0);
        c.push32(ret);
        c.eip = target;
      };
    }
    case 0xe9: case 0xeb: {
      if (!o32) return null;
      const rel = d.imm;
      return (c) => { jump(c, (c.eip + rel) >>> 0); };
    }
    case 0x0fb6: case 0x0fbe: {
      if (!o32) return null;
      const sx = op === 0x0fbe;
      if (ea === null) {
        const e = R8[rm];
        return sx ? (c) => { c.r32[reg] = (c.r8[e] << 24) >> 24; } : (c) => { c.r32[reg] = c.r8[e]; };
      }
      return sx
        ? (c) => { c.r32[reg] = (c.read8(c.linear(seg, ea(c), 1, false)) << 24) >> 24; }
        : (c) => { c.r32[reg] = c.read8(c.linear(seg, ea(c), 1, false)); };
    }
    case 0x0fb7: case 0x0fbf: {
      if (!o32) return null;
      const sx = op === 0x0fbf;
      if (ea === null) {
        const e = rm << 1;
        return sx ? (c) => { c.r32[reg] = (c.r16[e] << 16) >> 16; } : (c) => { c.r32[reg] = c.r16[e]; };
      }
      return sx
        ? (c) => { c.r32[reg] = (c.read16(c.linear(seg, ea(c), 2, false)) << 16) >> 16; }
        : (c) => { c.r32[reg] = c.read16(c.linear(seg, ea(c), 2, false)); };
    }
    default:
      return null;
  }
}

/** 00-3D: ALU op with form 0 Eb,Gb  1 Ev,Gv  2 Gb,Eb  3 Gv,Ev  4 AL,Ib  5 eAX,Iz. */
function aluForm(k: number, form: number, d: Decoded): Exec | null {
  const ea = d.ea;
  const seg = d.seg;
  const reg = (d.modrm >> 3) & 7;
  const rm = d.modrm & 7;
  const cmp = k === ALU_CMP;
  switch (form) {
    case 0: {
      const g = R8[reg];
      if (ea === null) {
        const e = R8[rm];
        return cmp ? (c) => { alu(c, k, c.r8[e], c.r8[g], 8); } : (c) => { c.r8[e] = alu(c, k, c.r8[e], c.r8[g], 8); };
      }
      return rmw8(k, seg, ea, (c) => c.r8[g]);
    }
    case 1:
      if (!d.o32) return null;
      if (ea === null) {
        return cmp ? (c) => { alu(c, k, c.r32[rm], c.r32[reg], 32); } : (c) => { c.r32[rm] = alu(c, k, c.r32[rm], c.r32[reg], 32); };
      }
      return rmw32(k, seg, ea, (c) => c.r32[reg]);
    case 2: {
      const g = R8[reg];
      if (ea === null) {
        const e = R8[rm];
        return cmp ? (c) => { alu(c, k, c.r8[g], c.r8[e], 8); } : (c) => { c.r8[g] = alu(c, k, c.r8[g], c.r8[e], 8); };
      }
      return cmp
        ? (c) => { alu(c, k, c.r8[g], c.read8(c.linear(seg, ea(c), 1, false)), 8); }
        : (c) => { c.r8[g] = alu(c, k, c.r8[g], c.read8(c.linear(seg, ea(c), 1, false)), 8); };
    }
    case 3:
      if (!d.o32) return null;
      if (ea === null) {
        return cmp ? (c) => { alu(c, k, c.r32[reg], c.r32[rm], 32); } : (c) => { c.r32[reg] = alu(c, k, c.r32[reg], c.r32[rm], 32); };
      }
      return cmp
        ? (c) => { alu(c, k, c.r32[reg], c.read32(c.linear(seg, ea(c), 4, false)), 32); }
        : (c) => { c.r32[reg] = alu(c, k, c.r32[reg], c.read32(c.linear(seg, ea(c), 4, false)), 32); };
    case 4: {
      const v = d.imm;
      return cmp ? (c) => { alu(c, k, c.r8[0], v, 8); } : (c) => { c.r8[0] = alu(c, k, c.r8[0], v, 8); };
    }
    default: {
      if (!d.o32) return null;
      const v = d.imm;
      return cmp ? (c) => { alu(c, k, c.r32[EAX], v, 32); } : (c) => { c.r32[EAX] = alu(c, k, c.r32[EAX], v, 32); };
    }
  }
}

/** 80/81/83: ALU op k on Eb or Ev with an immediate already extended to the operand size. */
function aluImm(k: number, bits: 8 | 32, d: Decoded, v: number): Exec {
  const ea = d.ea;
  const rm = d.modrm & 7;
  const cmp = k === ALU_CMP;
  if (bits === 8) {
    if (ea === null) {
      const e = R8[rm];
      return cmp ? (c) => { alu(c, k, c.r8[e], v, 8); } : (c) => { c.r8[e] = alu(c, k, c.r8[e], v, 8); };
    }
    return rmw8(k, d.seg, ea, () => v);
  }
  if (ea === null) return cmp ? (c) => { alu(c, k, c.r32[rm], v, 32); } : (c) => { c.r32[rm] = alu(c, k, c.r32[rm], v, 32); };
  return rmw32(k, d.seg, ea, () => v);
}

/** ALU on a memory destination: CMP only reads; the others check the operand is writable first (as readRmwE* does). */
function rmw32(k: number, seg: number, ea: EaFn, src: (c: Cpu) => number): Exec {
  if (k === ALU_CMP) return (c) => { alu(c, k, c.read32(c.linear(seg, ea(c), 4, false)), src(c), 32); };
  return (c) => {
    const b = src(c);
    const lin = c.linear(seg, ea(c), 4, true);
    c.write32(lin, alu(c, k, c.readRmw32(lin), b, 32));
  };
}

function rmw8(k: number, seg: number, ea: EaFn, src: (c: Cpu) => number): Exec {
  if (k === ALU_CMP) return (c) => { alu(c, k, c.read8(c.linear(seg, ea(c), 1, false)), src(c), 8); };
  return (c) => {
    const b = src(c);
    const lin = c.linear(seg, ea(c), 1, true);
    c.write8(lin, alu(c, k, c.readRmw8(lin), b, 8));
  };
}
