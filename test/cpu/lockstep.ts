// Lockstep: the jit engine and the interpreter run the same generated program from the
// same state, side by side, and after every run() (random budgets, so the boundaries
// fall anywhere) their exits, their whole CPU state and, at the end, their RAM must be
// the same. The programs are loops of the instructions the translator covers, mixed
// with some it does not, in paged protected mode at CPL 0 and 3, with:
// - memory operands that cross pages, are misaligned, or land on read-only,
//   supervisor-only, not-present and MMIO pages (faults and exits inside a block);
// - stores over the loop's own code (self-modifying code);
// - interrupts raised between runs;
// - a loop body that crosses a page boundary.
import { JitVcpu } from '../../src/engines/jit/jit-vcpu.ts';
import { InterpVcpu } from '../../src/engines/interp/interp-vcpu.ts';
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { CPU_AREA_BYTES } from '../../src/cpu/layout.ts';
import type { CpuState } from '../../src/cpu/state.ts';
import type { Vcpu, VmExit } from '../../src/engines/vcpu.ts';
import { CR0_AM, CR0_ET, CR0_PE, CR0_PG, CR0_WP, FLAG_AC, FLAG_FIXED, FLAG_IF } from '../../src/cpu/constants.ts';
import { Rng } from './rng.ts';

const RAM = 1 << 20;
const GDT = 0x1000;
const IDT = 0x1800;
const TSS = 0x2000;
const PD = 0x3000;
const PT = 0x4000;
const HANDLERS = 0x5000;
const KSTACK = 0x9000;
const CODE = 0x10f00; // the loop crosses into the next page
const THUNKS = 0x12000;
const DATA = 0x20000;
const RO = 0x21000;
const SUPER = 0x22000;
const ABSENT = 0x23000;
const MMIO = 0x24000;
const SAFE = 0x25800;
const USTACK = 0x30f00;
const MMIO_PHYS = 0x200000;
/** A data segment of DPL 3 with base 0x1000 and a 4 GiB limit (loadable at CPL 0 and 3). */
const BASED = 0x30 | 3;
/** Vectors that push an error code. */
const WITH_ERROR = new Set([8, 10, 11, 12, 13, 14, 17]);

function d32(out: number[], v: number): void {
  out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

/** Destination registers: EAX, EDX, EDI, EBP (ECX counts the loop, EBX and ESI address memory, ESP is the stack). */
const DEST = [0, 2, 7, 5];

/** A random loop body and the whole program around it; returns the code bytes. */
function program(r: Rng, cpl: 0 | 3): number[] {
  const out: number[] = [];
  out.push(0xb9); d32(out, r.range(20, 200)); // mov ecx, n
  out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
  out.push(0x31, 0xf6); // xor esi, esi
  const loop = out.length;
  const dst = () => (r.chance(0.05) ? r.pick([3, 6]) : r.pick(DEST));
  const any = () => r.int(8);
  /** A ModRM memory operand with reg field `reg`: [ebx + disp] or [ebx + esi*4 + disp]. */
  const mem = (reg: number) => {
    const target = r.pick([
      () => r.int(0x100), // near SAFE
      () => 0x7fb + r.int(5), // at and across the page end (SAFE is mid-page: 0x25800 + 0x7fc = 0x25ffc, a dword's last in-page place)
      () => RO - SAFE + r.int(0x1000),
      () => SUPER - SAFE + r.int(0x1000),
      () => ABSENT - SAFE + r.int(0x1000),
      () => MMIO - SAFE + r.int(0x1000),
      () => DATA - SAFE + r.int(0x1000),
    ])();
    const disp = r.chance(0.7) ? r.int(0x100) - 0x80 : target;
    const short = disp >= -128 && disp < 128;
    if (r.chance(0.2)) {
      out.push(((short ? 1 : 2) << 6) | (reg << 3) | 4, (2 << 6) | (6 << 3) | 3); // [ebx+esi*4+disp]
    } else {
      out.push(((short ? 1 : 2) << 6) | (reg << 3) | 3);
    }
    if (short) out.push(disp & 0xff); else d32(out, disp);
  };
  const pushes: number[] = [];
  let smcTarget = -1;
  const n = r.range(4, 40);
  for (let i = 0; i < n; i++) {
    switch (r.int(36)) {
      case 0: out.push(0xb8 + dst()); d32(out, r.u32()); break;
      case 1: out.push(0xb0 + r.pick([0, 2, 4, 6])); out.push(r.int(256)); break; // mov al/dl/ah/dh, imm8
      case 2: out.push((r.int(8) << 3) | r.pick([1, 3]), 0xc0 | (any() << 3) | dst()); break; // alu r32, r32
      case 3: out.push((r.int(8) << 3) | 3); mem(dst()); break; // alu r32, [m]
      case 4: out.push((r.int(8) << 3) | r.pick([0, 1])); mem(any()); break; // alu [m], r
      case 5: out.push(r.pick([0x81, 0x83, 0x80]), 0xc0 | (r.int(8) << 3) | dst()); if (out[out.length - 2] === 0x81) d32(out, r.u32()); else out.push(r.int(256)); break;
      case 6: { const op = r.pick([0x80, 0x83, 0x81]); out.push(op); mem(r.int(8)); if (op === 0x81) d32(out, r.u32()); else out.push(r.int(256)); break; }
      case 7: out.push(r.pick([0x84, 0x85]), 0xc0 | (any() << 3) | any()); break;
      case 8: out.push(r.pick([0x85, 0x84])); mem(any()); break;
      case 9: out.push(r.pick([0x89, 0x88])); mem(any()); break;
      case 10: out.push(r.pick([0x8b, 0x8a])); mem(r.pick(DEST)); break;
      case 11: out.push(0x0f, r.pick([0xb6, 0xb7, 0xbe, 0xbf])); mem(dst()); break;
      case 12: out.push(0x8d); mem(dst()); break;
      case 13: out.push(r.pick([0x40, 0x48]) + dst()); break;
      case 14:
        if (pushes.length && r.chance(0.5)) { pushes.pop(); out.push(0x58 + dst()); } else { pushes.push(1); out.push(0x50 + any()); }
        break;
      case 15: {
        // mov eax, imm32 that a later store rewrites (self-modifying code)
        out.push(0xb8); smcTarget = CODE + out.length; d32(out, r.u32());
        break;
      }
      case 16:
        if (smcTarget >= 0 && r.chance(0.5)) { out.push(0x88, 0x15); d32(out, smcTarget + r.int(4)); } // mov [abs], dl
        else if (smcTarget >= 0) { out.push(0x83, 0x05); d32(out, smcTarget); out.push(r.int(256)); } // add dword [abs], imm8: flags and a store over code
        else out.push(0xc7, 0xc0 | dst()), d32(out, r.u32());
        break;
      case 17: case 18: {
        // a flag-setting instruction (8- or 32-bit, or INC/DEC, or one the translator leaves to the interpreter), then a
        // Jcc with any condition over a mov: flags evaluated inline or by testCC, both ways of a branch inside the loop
        // (sometimes in the next block)
        const k = r.int(4);
        if (k === 0) out.push(r.pick([0x00, 0x08, 0x20, 0x28, 0x30, 0x38, 0x84]), 0xc0 | (any() << 3) | r.pick([0, 2, 3, 6, 7]));
        else if (k === 1) out.push(r.pick([0x01, 0x09, 0x21, 0x29, 0x31, 0x39, 0x85]), 0xc0 | (any() << 3) | dst());
        else if (k === 2) out.push(r.pick([0x40, 0x48]) + dst());
        else {
          const op = r.pick([0xf8, 0xf9, 0xf5, 0x11, 0x19]); // CLC, STC, CMC, ADC, SBB
          out.push(op);
          if (op === 0x11 || op === 0x19) out.push(0xc0 | (any() << 3) | dst());
        }
        if (r.chance(0.3)) out.push(0xeb, 0x00); // jmp to the next instruction: the flags are read in the next block
        const cc = r.int(16);
        if (r.chance(0.5)) out.push(0x70 + cc, 5); else { out.push(0x0f, 0x80 + cc); d32(out, 5); }
        out.push(0xb8 + dst()); d32(out, r.u32());
        break;
      }
      case 19: case 20: {
        // shifts and rotates (RCL/RCR too) by 1, an imm8 or CL (the loop count: 0 mod 32 at times), register or
        // memory, 8-, 16- or 32-bit
        const op = r.pick([0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3]);
        const ext = r.int(8);
        if (op & 1 && r.chance(0.3)) out.push(0x66);
        out.push(op);
        if (r.chance(0.7)) out.push(0xc0 | (ext << 3) | (op & 1 ? dst() : r.pick([0, 2, 3, 6, 7]))); else mem(ext);
        if (op < 0xd0) out.push(r.chance(0.1) ? r.pick([0, 8, 16, 32]) : r.int(256));
        break;
      }
      case 21: {
        // group 3: TEST imm, NOT, NEG of a register or memory
        const op = r.pick([0xf6, 0xf7]);
        const ext = r.pick([0, 1, 2, 3]);
        out.push(op);
        if (r.chance(0.6)) out.push(0xc0 | (ext << 3) | (op & 1 ? dst() : r.pick([0, 2, 3, 6, 7]))); else mem(ext);
        if (ext < 2) { if (op === 0xf7) d32(out, r.u32()); else out.push(r.int(256)); }
        break;
      }
      case 22: {
        // SETcc and CMOVcc, register or memory
        const cc = r.int(16);
        if (r.chance(0.5)) { out.push(0x0f, 0x90 + cc); if (r.chance(0.6)) out.push(0xc0 | r.pick([0, 2, 3, 6, 7])); else mem(0); }
        else { out.push(0x0f, 0x40 + cc); if (r.chance(0.6)) out.push(0xc0 | (dst() << 3) | any()); else mem(dst()); }
        break;
      }
      case 23: {
        // PUSH imm8/imm32/[m] with a POP later; MOV AL/EAX <-> moffs
        if (r.chance(0.5)) {
          pushes.push(1);
          const k = r.int(3);
          if (k === 0) out.push(0x6a, r.int(256));
          else if (k === 1) { out.push(0x68); d32(out, r.u32()); }
          else { out.push(0xff); mem(6); }
        } else {
          out.push(r.pick([0xa0, 0xa1, 0xa2, 0xa3]));
          d32(out, r.pick([DATA + r.int(0x1000), RO + r.int(0x1000), MMIO + r.int(0x1000), ABSENT + r.int(0x1000), DATA + 0xffe]));
        }
        break;
      }
      case 24: case 25: {
        // 16-bit operands (66): ALU, MOV, INC/DEC, group 1 with imm16/imm8, FF /0 /1, C7 imm16
        out.push(0x66);
        const k = r.int(8);
        if (k === 0) out.push((r.int(8) << 3) | r.pick([1, 3]), 0xc0 | (any() << 3) | dst());
        else if (k === 1) { out.push((r.int(8) << 3) | r.pick([1, 3])); mem(dst()); }
        else if (k === 2) { out.push(r.pick([0x89, 0x8b, 0x85])); mem(r.pick(DEST)); }
        else if (k === 3) out.push(r.pick([0x40, 0x48]) + dst());
        else if (k === 4) { const op = r.pick([0x81, 0x83]); out.push(op); if (r.chance(0.5)) out.push(0xc0 | (r.int(8) << 3) | dst()); else mem(r.int(8)); if (op === 0x81) out.push(r.int(256), r.int(256)); else out.push(r.int(256)); }
        else if (k === 5) { out.push(0xff); mem(r.pick([0, 1])); }
        else if (k === 6) { out.push(0xc7); mem(0); out.push(r.int(256), r.int(256)); }
        else { out.push(0x05 + (r.pick([0, 1, 4, 5, 6, 7]) << 3), r.int(256), r.int(256)); } // op ax, imm16
        break;
      }
      case 26:
        // INC/DEC of a dword in memory; TEST AL/EAX, imm; a frame: PUSH EBP, MOV EBP, ESP, a local, PUSHFD, LEAVE
        if (r.chance(0.25)) {
          out.push(0x55, 0x89, 0xe5, 0x50); // push ebp; mov ebp, esp; push eax
          out.push(0x01, 0x55, 0xfc); // add [ebp-4], edx
          out.push(0x9c, 0x5a); // pushfd; pop edx
          out.push(0x8b, 0x45, 0xfc, 0xc9); // mov eax, [ebp-4]; leave
        } else if (r.chance(0.5)) { out.push(0xff); mem(r.pick([0, 1])); } else if (r.chance(0.5)) out.push(0xa8, r.int(256)); else { out.push(0xa9); d32(out, r.u32()); }
        break;
      case 27: {
        // JMP/CALL EAX and [m] to the next instruction (a CALL's return address is popped later)
        const call = r.chance(0.5);
        const viaMem = r.chance(0.4);
        if (viaMem) { out.push(0xc7, 0x05); d32(out, DATA + 0x800); d32(out, CODE + out.length + 4 + 6); out.push(0xff, call ? 0x15 : 0x25); d32(out, DATA + 0x800); }
        else { out.push(0xb8); d32(out, CODE + out.length + 4 + 2); out.push(0xff, call ? 0xd0 : 0xe0); }
        if (call) pushes.push(1);
        break;
      }
      case 28: {
        // a REP string: long (run by the interpreter's closure from generated code; budgets and interrupts stop it
        // midway) or short (generated code, element by element, until one leaves the TLB's fast path: onto the next,
        // read-only or code page, or misaligned), forwards or backwards
        const short = r.chance(0.5);
        out.push(0x51, 0x56, 0x57, 0xb9); d32(out, short ? r.int(80) : r.range(1, 3000)); // push ecx; push esi; push edi; mov ecx, n
        out.push(0xbf); d32(out, r.pick([DATA + r.int(0x400), DATA + 0xfc0 + r.int(0x40), RO + r.int(0x100), CODE + 0x100 + r.int(0x40)])); // mov edi, x
        const std = short && r.chance(0.3);
        if (std) out.push(0xfd);
        if (r.chance(0.5)) { out.push(0xbe); d32(out, DATA + 0x800 + r.int(0x400)); out.push(r.pick([0xf3, 0xf2]), r.pick([0xa4, 0xa5])); } // rep movs
        else out.push(0xf3, r.pick([0xaa, 0xab])); // rep stos
        if (std) out.push(0xfc);
        out.push(0x5f, 0x5e, 0x59); // pop edi; pop esi; pop ecx
        break;
      }
      case 29: {
        // FS or GS: 4 GiB segments with a base (startState), as Linux's per-CPU data and TLS
        out.push(r.pick([0x64, 0x65]));
        const k = r.int(3);
        if (k === 0) { out.push(r.pick([0x8b, 0x8a])); mem(r.pick(DEST)); }
        else if (k === 1) { out.push(r.pick([0x89, 0x88])); mem(any()); }
        else { out.push((r.int(8) << 3) | r.pick([1, 3])); mem(dst()); }
        break;
      }
      case 30: {
        // system instructions that native code runs through step() and goes on after: segment register pushes, pops and
        // moves (FS and GS reloaded from the GDT lose their base, the data segment BASED gives one: the mode changes),
        // PUSHF/POPF, SMSW, RDTSC; at CPL 0 CLI/STI and reads of CR0, CR2, CR3, CR4
        const sreg = () => r.pick([0, 3, 4, 5]); // ES DS FS GS
        const k = r.int(cpl === 0 ? 7 : 5);
        if (k === 0) {
          out.push(...r.pick([[0x06], [0x1e], [0x0f, 0xa0], [0x0f, 0xa8]]), ...r.pick([[0x07], [0x1f], [0x0f, 0xa1], [0x0f, 0xa9]]));
        } else if (k === 1) {
          const reg = r.pick(DEST);
          if (r.chance(0.7)) out.push(0x8c, 0xc0 | (sreg() << 3) | reg, 0x8e, 0xc0 | ((r.chance(0.1) ? 2 : sreg()) << 3) | reg); // mov r, sreg; mov sreg (or SS), r
          else {
            // save sreg, load BASED, read through it, load the saved selector back: the mode changes twice inside native code
            const s = sreg();
            const tmp = r.pick(DEST.filter((x) => x !== reg));
            out.push(0x8c, 0xc0 | (s << 3) | reg); // mov reg, sreg
            out.push(0xb8 + tmp); d32(out, BASED); // mov tmp, BASED
            out.push(0x8e, 0xc0 | (s << 3) | tmp); // mov sreg, tmp
            if (s === 4 || s === 5) out.push(s === 4 ? 0x64 : 0x65);
            out.push(0x8b); mem(tmp); // mov tmp, [m] (through sreg, or DS)
            out.push(0x8e, 0xc0 | (s << 3) | reg); // mov sreg, reg
          }
        } else if (k === 2) {
          out.push(0x9c); if (r.chance(0.5)) out.push(0x9d); else out.push(0x58 + r.pick(DEST)); // pushf; popf or pop r
        } else if (k === 3) {
          out.push(0x0f, 0x01, 0xe0 | r.pick(DEST)); // smsw r
        } else if (k === 4) {
          out.push(0x52, 0x0f, 0x31, 0x5a); // push edx; rdtsc; pop edx
        } else if (k === 5) {
          out.push(0xfa, 0xb8 + r.pick(DEST)); d32(out, r.u32()); out.push(0xfb); // cli; mov r, imm; sti
        } else {
          out.push(0x0f, 0x20, 0xc0 | (r.pick([0, 2, 3, 4]) << 3) | r.pick(DEST)); // mov r, crN
        }
        break;
      }
      case 31: {
        // CALL rel32 to a get_pc_thunk on another page (the jit runs it in place), to one that only looks like one, or
        // to one across the page end; sometimes the first thunk's register is flipped first (EAX <-> EDX: changed code)
        if (r.chance(0.2)) { out.push(0x80, 0x35); d32(out, THUNKS + 1); out.push(0x10); } // xor byte [THUNKS + 1], 0x10
        const at = r.pick([THUNKS, THUNKS + 7, THUNKS + 14, THUNKS + 21, THUNKS + 0x40, THUNKS + 0xffe]);
        out.push(0xe8); d32(out, at - (CODE + out.length + 4));
        break;
      }
      case 32: {
        // LOCK CMPXCHG / ADD / XADD / INC of memory (run through step() from native code)
        const k = r.int(4);
        out.push(0xf0);
        if (k === 0) { out.push(0x0f, 0xb1); mem(r.pick(DEST)); }
        else if (k === 1) { out.push(0x01); mem(r.pick(DEST)); }
        else if (k === 2) { out.push(0x0f, 0xc1); mem(r.pick(DEST)); }
        else { out.push(0xff); mem(0); }
        break;
      }
      case 33: {
        // MUL/IMUL of AL or EAX (F6/F7 /4 /5) and IMUL r32, r/m32 (, imm8/imm32), register or memory; a flag
        // reader (Jcc's CF/OF, SETcc) often follows, and so does an ALU op that makes the product's flags dead
        const k = r.int(3);
        if (k === 0) { const op = r.pick([0xf6, 0xf7]); const ext = r.pick([4, 5]); out.push(op); if (r.chance(0.6)) out.push(0xc0 | (ext << 3) | any()); else mem(ext); }
        else {
          const op = r.pick([0x0faf, 0x69, 0x6b]);
          if (op === 0x0faf) out.push(0x0f, 0xaf); else out.push(op);
          if (r.chance(0.6)) out.push(0xc0 | (dst() << 3) | any()); else mem(dst());
          if (op === 0x69) d32(out, r.u32()); else if (op === 0x6b) out.push(r.int(256));
        }
        if (r.chance(0.3)) out.push(0x0f, 0x90 + r.pick([0, 1, 2, 3, 4, 5, 8, 10]), 0xc0 | r.pick([0, 2, 3, 6, 7])); // SETcc r8
        else if (r.chance(0.3)) out.push((r.int(8) << 3) | 1, 0xc0 | (any() << 3) | dst()); // alu r32, r32
        break;
      }
      case 34: {
        // XCHG, CMPXCHG (equal and not: EAX loaded from the operand first, at times), XADD, BT/BTS/BTR/BTC imm8, of
        // registers and memory, 8-, 16- and 32-bit, LOCK-prefixed at times; MOVS/STOS without REP, forwards and backwards
        const k = r.int(6);
        const lock = () => { if (r.chance(0.3)) out.push(0xf0); };
        /** The ModRM bytes of a memory operand with reg field `reg`, to use twice. */
        const operand = (reg: number) => { const at = out.length; mem(reg); return out.splice(at); };
        const withReg = (bytes: number[], reg: number) => [(bytes[0] & ~0x38) | (reg << 3), ...bytes.slice(1)];
        const o16 = r.chance(0.2);
        if (k === 0) {
          const op = r.pick([0x86, 0x87]);
          if (op === 0x87 && o16) out.push(0x66);
          if (r.chance(0.4)) out.push(op, 0xc0 | (dst() << 3) | (op === 0x86 ? r.pick([0, 2, 4, 6]) : dst()));
          else if (r.chance(0.3)) out.push(0x90 + r.pick([2, 5, 7])); // xchg eax, edx/ebp/edi
          else { lock(); out.push(op, ...operand(r.pick(DEST))); }
        } else if (k === 1) {
          const op = r.pick([0xb0, 0xb1]);
          const m = operand(r.pick(DEST));
          if (r.chance(0.5)) { if (op === 0xb1 && o16) out.push(0x66); out.push(op === 0xb0 ? 0x8a : 0x8b, ...withReg(m, 0)); } // mov al/eax, [m]
          if (op === 0xb1 && o16) out.push(0x66);
          if (r.chance(0.3)) out.push(0x0f, op, 0xc0 | (dst() << 3) | (op === 0xb0 ? r.pick([0, 2, 6, 7]) : dst()));
          else { lock(); out.push(0x0f, op, ...m); }
        } else if (k === 2) {
          const op = r.pick([0xc0, 0xc1]);
          if (op === 0xc1 && o16) out.push(0x66);
          if (r.chance(0.4)) out.push(0x0f, op, 0xc0 | (dst() << 3) | (op === 0xc0 ? r.pick([0, 2, 6, 7]) : dst()));
          else { lock(); out.push(0x0f, op, ...operand(r.pick(DEST))); }
        } else if (k === 3) {
          // at times the flags come from the block before (add; jmp to the next instruction): BT folds that record first
          if (r.chance(0.4)) out.push(r.pick([0x01, 0x29, 0x11]), 0xc0 | (any() << 3) | dst(), 0xeb, 0x00);
          const ext = r.range(4, 8);
          if (o16) out.push(0x66);
          if (r.chance(0.4)) out.push(0x0f, 0xba, 0xc0 | (ext << 3) | dst());
          else { if (ext > 4) lock(); out.push(0x0f, 0xba, ...operand(ext)); }
          out.push(r.chance(0.2) ? r.pick([0, 15, 16, 31, 32]) : r.int(256));
          if (r.chance(0.5)) out.push(0x0f, 0x92, 0xc0 | r.pick([0, 2, 3, 6, 7])); // setc r8: CF read
          else out.push(0x9c, 0x58 + r.pick(DEST)); // pushfd; pop r: the flags BT kept
        } else if (k === 4) {
          // DIV EDX:EAX by a register or [m], EDX made small first (else #DE when EDX >= the divisor); or by EBX set to
          // 0, 1 or 0x10000 with EDX = 0x20000 or less: #DE at times, and the handler's EBX (SAFE) lets the retry through
          if (r.chance(0.4)) {
            out.push(0xba); d32(out, r.pick([0x20000, r.int(0x20000)])); // mov edx, n
            out.push(0xbb); d32(out, r.pick([0, 1, 0x10000])); // mov ebx, d
            out.push(0xf7, 0xf3); // div ebx
            out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
          } else {
            if (r.chance(0.7)) out.push(0x31, 0xd2); // xor edx, edx
            else out.push(0xc1, 0xea, r.range(8, 31)); // shr edx, n
            out.push(0xf7);
            if (r.chance(0.6)) out.push(0xc0 | (6 << 3) | r.pick([3, 5, 7, 1])); else mem(6);
          }
          // the flags after DIV: all of them (pushfd; pop r), or one (setcc)
          if (r.chance(0.5)) out.push(0x9c, 0x58 + r.pick(DEST)); else out.push(0x0f, 0x90 + r.pick([2, 4, 8, 10]), 0xc0 | r.pick([0, 3, 6, 7]));
        } else {
          out.push(0x56, 0x57); // push esi; push edi
          out.push(0xbe); d32(out, DATA + 0x800 + r.int(0x400)); // mov esi, DATA + x
          out.push(0xbf); d32(out, r.chance(0.9) ? DATA + r.int(0x400) : RO + r.int(0x1000)); // mov edi, DATA + x (or read-only)
          const std = r.chance(0.4);
          if (std) out.push(0xfd);
          for (let j = r.range(1, 4); j > 0; j--) { if (r.chance(0.2)) out.push(r.pick([0x26, 0x64])); out.push(r.pick([0xa4, 0xa5, 0xaa, 0xab])); }
          if (std) out.push(0xfc);
          out.push(0x5f, 0x5e); // pop edi; pop esi
        }
        break;
      }
      default: // CLD, CLC, STC, CMC, CDQ, CWDE; BSWAP
        if (r.chance(0.8)) out.push(r.pick([0xfc, 0xf8, 0xf9, 0xf5, 0x99, 0x98])); else out.push(0x0f, 0xc8 + dst());
        break;
    }
  }
  for (const _ of pushes) out.push(0x58 + r.pick(DEST));
  out.push(0x49); // dec ecx
  out.push(0x0f, 0x85); d32(out, loop - (out.length + 4)); // jnz loop
  out.push(0xeb, 0xfe); // jmp $ (the budget ends the case)
  return out;
}

function buildMemory(memory: GuestMemory, code: number[]): void {
  const dv = memory.view;
  const seg = (sel: number, access: number, flags: number) => {
    dv.setUint32(GDT + sel, 0x0000ffff, true);
    dv.setUint32(GDT + sel + 4, (0xf << 16) | (access << 8) | (flags << 20), true);
  };
  seg(0x08, 0x9b, 0xc);
  seg(0x10, 0x93, 0xc);
  seg(0x18, 0xfb, 0xc);
  seg(0x20, 0xf3, 0xc);
  seg(BASED & ~7, 0xf3, 0xc);
  dv.setUint16(GDT + (BASED & ~7) + 2, 0x1000, true); // base 0x1000
  dv.setUint32(GDT + 0x28, 0x0067 | (TSS << 16), true);
  dv.setUint32(GDT + 0x2c, ((TSS >>> 16) & 0xff) | (0x8b << 8), true);
  dv.setUint32(TSS + 4, KSTACK, true);
  dv.setUint32(TSS + 8, 0x10, true);
  dv.setUint16(TSS + 0x66, 0x68, true);
  for (let v = 0; v < 256; v++) {
    const stub = HANDLERS + v * 16;
    const bytes: number[] = [];
    if (v === 17) {
      // #AC: add esp, 4; and dword [esp+8], ~AC (the access goes again without it); inc esi (counts them)
      bytes.push(0x83, 0xc4, 0x04, 0x81, 0x64, 0x24, 0x08); d32(bytes, ~FLAG_AC);
      bytes.push(0x46);
    } else if (v < 32) {
      if (WITH_ERROR.has(v)) bytes.push(0x83, 0xc4, 0x04); // add esp, 4
      bytes.push(0xbb); d32(bytes, SAFE); // mov ebx, SAFE
      bytes.push(0x31, 0xf6); // xor esi, esi
    }
    bytes.push(0xcf); // iretd
    memory.u8.set(bytes, stub);
    dv.setUint32(IDT + v * 8, (stub & 0xffff) | (0x08 << 16), true);
    dv.setUint32(IDT + v * 8 + 4, (stub & 0xffff0000) | 0x8e00, true);
  }
  for (let p = 0; p < 1024; p++) dv.setUint32(PT + p * 4, p < RAM >>> 12 ? ((p << 12) | 7) >>> 0 : 0, true);
  dv.setUint32(PT + (RO >>> 12) * 4, RO | 5, true);
  dv.setUint32(PT + (SUPER >>> 12) * 4, SUPER | 3, true);
  dv.setUint32(PT + (ABSENT >>> 12) * 4, 0, true);
  dv.setUint32(PT + (MMIO >>> 12) * 4, MMIO_PHYS | 7, true);
  dv.setUint32(PD, PT | 7, true);
  for (let a = DATA; a < DATA + 0x8000; a += 4) if (a < ABSENT || a >= ABSENT + 0x1000) dv.setUint32(a, Math.imul(a, 0x9e3779b1), true);
  memory.u8.set(code, CODE);
  // mov r, [esp]; ret for EAX, EDX, EDI, EBP (get_pc_thunk); a look-alike with a NOP; one across the page end
  [0x04, 0x14, 0x3c, 0x2c].forEach((modrm, i) => memory.u8.set([0x8b, modrm, 0x24, 0xc3], THUNKS + i * 7));
  memory.u8.set([0x8b, 0x04, 0x24, 0x90, 0xc3], THUNKS + 0x40);
  memory.u8.set([0x8b, 0x14, 0x24, 0xc3], THUNKS + 0xffe);
}

function startState(base: CpuState, cpl: 0 | 3): CpuState {
  const s = structuredClone(base);
  const seg = (sel: number, code: boolean) => ({ selector: sel, base: 0, limit: 0xffffffff, access: (code ? 0x9b : 0x93) | (cpl << 5) | 0xc000 });
  const k = cpl === 3 ? 0x18 | 3 : 0x08;
  const d = cpl === 3 ? 0x20 | 3 : 0x10;
  // FS and GS are 4 GiB with a base (generated code adds it), one of them wrapping below 0.
  s.segments = [seg(d, false), seg(k, true), seg(d, false), seg(d, false), { ...seg(d, false), base: 0xfffff000 | 0 }, { ...seg(d, false), base: 0x1000 }];
  s.gdt = { base: GDT, limit: 0x37 };
  s.idt = { base: IDT, limit: 0x7ff };
  s.tr = { selector: 0x28, base: TSS, limit: 0x67, access: 0x8b };
  s.cr0 = CR0_PE | CR0_PG | CR0_WP | CR0_ET | CR0_AM; // alignment checks at CPL 3 with EFLAGS.AC, as Linux sets it
  s.cr3 = PD;
  s.cpl = cpl;
  s.eip = CODE;
  s.eflags = FLAG_FIXED | FLAG_IF;
  s.regs = [0, 0, 0, 0, cpl === 3 ? USTACK : KSTACK - 0x100, 0, 0, 0];
  return s;
}

export interface LockstepResult {
  runs: number;
  instructions: number;
  nativeInstructions: number;
  /** Of those, instructions native code ran through the interpreter's closures or step(). */
  helperInstructions: number;
  translated: number;
  exits: Record<string, number>;
  /** The first divergence, or null. */
  divergence: string | null;
  /** The general registers at the end (the interpreter's). */
  regs: number[];
}

interface Side {
  vcpu: Vcpu;
  memory: GuestMemory;
  intr: boolean;
  mmioReads: number;
}

function side(make: (memory: GuestMemory, interrupts: { hasInterrupt(): boolean; acknowledge(): number }) => Vcpu): Side {
  const memory = new GuestMemory(RAM, CPU_AREA_BYTES);
  const s = { memory, intr: false, mmioReads: 0 } as Side;
  s.vcpu = make(memory, { hasInterrupt: () => s.intr, acknowledge: () => { s.intr = false; return 0x20; } });
  memory.onWrite((a, n) => s.vcpu.memoryWritten(a, n));
  return s;
}

/** Answer an exit the same way on both sides: MMIO and port reads get values from the address and a count. */
function answer(s: Side, e: VmExit): void {
  if ((e.kind === 'mmio' || e.kind === 'io') && !e.isWrite) {
    const at = e.kind === 'mmio' ? e.addr : e.port;
    e.value = (Math.imul(at ^ s.mmioReads++, 0x2545f491) >>> 0) & (e.size === 1 ? 0xff : e.size === 2 ? 0xffff : 0xffffffff);
  }
}

/**
 * A loop that changes the mode inside native code: DS is loaded with BASED, read
 * through, and loaded back, and FS with GS's selector (losing its base) and back.
 * The page is translated in the mode of its first block, so the blocks after each load
 * hold code for the other mode: native code must return to the loop after the load.
 */
export function modeChangeProgram(): number[] {
  const out: number[] = [0xb9]; d32(out, 500); // mov ecx, 500
  out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
  out.push(0x31, 0xf6); // xor esi, esi
  const loop = out.length;
  out.push(0x8b, 0x03); // mov eax, [ebx]
  out.push(0x8c, 0xda); // mov edx, ds
  out.push(0xbd); d32(out, BASED); // mov ebp, BASED
  out.push(0x8e, 0xdd); // mov ds, ebp
  out.push(0x8b, 0x7b, 0x04); // mov edi, [ebx+4] (through BASED)
  out.push(0x8e, 0xda); // mov ds, edx
  out.push(0x01, 0xf8); // add eax, edi
  out.push(0x0f, 0xa0, 0x0f, 0xa8, 0x0f, 0xa1); // push fs; push gs; pop fs (FS now flat)
  out.push(0x64, 0x03, 0x43, 0x08); // add eax, fs:[ebx+8]
  out.push(0x0f, 0xa1); // pop fs (its base back)
  out.push(0x64, 0x03, 0x43, 0x0c); // add eax, fs:[ebx+12]
  out.push(0x89, 0x04, 0x8b); // mov [ebx+ecx*4], eax
  out.push(0x49); // dec ecx
  out.push(0x0f, 0x85); d32(out, loop - (out.length + 4)); // jnz loop
  out.push(0xeb, 0xfe); // jmp $
  return out;
}

/**
 * Loops inside one page, for the page function's loop units: an outer loop whose head is
 * on the loop's first page (CODE) and whose body is on the next page, where a block
 * jumps forward into the middle of an inner loop or falls into its start (the inner loop's
 * table), the inner loop branches back to its start and forward within itself, and
 * blocks after it branch forward; then back to the first page.
 */
export function pageLoopProgram(): number[] {
  const out: number[] = [0xb9]; d32(out, 300); // mov ecx, 300
  out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
  out.push(0x31, 0xf6); // xor esi, esi
  const labels = new Map<string, number>();
  const fixups: [number, string][] = [];
  const label = (name: string) => labels.set(name, out.length);
  const rel = (name: string) => { fixups.push([out.length, name]); d32(out, 0); };
  const jcc = (cc: number, name: string) => { out.push(0x0f, 0x80 + cc); rel(name); };
  const jmp = (name: string) => { out.push(0xe9); rel(name); };
  label('outer');
  out.push(0x89, 0xca, 0x83, 0xe2, 0x07, 0x42); // mov edx, ecx; and edx, 7; inc edx
  jmp('page2');
  while (out.length < 0x200) out.push(0xcc);
  label('page2');
  out.push(0xf6, 0xc1, 0x01); jcc(5, 'mid'); // test cl, 1; jnz mid
  label('inner');
  out.push(0x01, 0xd0, 0x31, 0xc7); // add eax, edx; xor edi, eax
  out.push(0xf6, 0xc2, 0x02); jcc(4, 'mid'); // test dl, 2; jz mid (forward inside the loop)
  out.push(0x83, 0xc7, 0x05); // add edi, 5
  label('mid');
  out.push(0xc1, 0xc0, 0x03, 0x01, 0xc5); // rol eax, 3; add ebp, eax
  out.push(0x4a); jcc(5, 'inner'); // dec edx; jnz inner
  out.push(0xf6, 0xc1, 0x02); jcc(4, 'skip'); // test cl, 2; jz skip
  out.push(0x83, 0xc5, 0x11); // add ebp, 0x11
  label('skip');
  out.push(0x01, 0xfd, 0x89, 0x2c, 0x8b); // add ebp, edi; mov [ebx+ecx*4], ebp
  out.push(0x49); jcc(5, 'outer'); // dec ecx; jnz outer
  out.push(0xeb, 0xfe); // jmp $
  for (const [at, name] of fixups) {
    const v = labels.get(name)! - (at + 4);
    out[at] = v & 0xff; out[at + 1] = (v >>> 8) & 0xff; out[at + 2] = (v >>> 16) & 0xff; out[at + 3] = (v >>> 24) & 0xff;
  }
  return out;
}

/**
 * A loop (for CPL 0) that clears and sets IF: work with IF clear (an interrupt raised
 * between runs waits there), then STI before an ALU instruction, a jump, a load, PUSHFD
 * and another STI (the shadow over each; native code runs the one after STI itself
 * unless an interrupt waits), STI with IF already set, and IF read back by PUSHFD.
 */
export function interruptFlagProgram(): number[] {
  const out: number[] = [0xb9]; d32(out, 400); // mov ecx, 400
  out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
  out.push(0x31, 0xf6); // xor esi, esi
  const loop = out.length;
  out.push(0xfa); // cli
  out.push(0x01, 0xc8, 0x89, 0x04, 0x8b); // add eax, ecx; mov [ebx+ecx*4], eax
  out.push(0x69, 0xf9); d32(out, 0x9e3779b1); // imul edi, ecx, imm32
  out.push(0xfb, 0x01, 0xc7); // sti; add edi, eax
  out.push(0xfa, 0xfb, 0xeb, 0x00); // cli; sti; jmp $+2
  out.push(0x9c, 0x5a, 0x01, 0xd5); // pushfd; pop edx; add ebp, edx
  out.push(0xfb, 0x01, 0xfd); // sti (IF set); add ebp, edi
  out.push(0xfa, 0xfb, 0x8b, 0x14, 0x8b); // cli; sti; mov edx, [ebx+ecx*4]
  out.push(0xfa, 0xfb, 0x9c, 0x58, 0x01, 0xc5); // cli; sti; pushfd; pop eax; add ebp, eax
  out.push(0xfa, 0xfb, 0xfb, 0x01, 0xd5); // cli; sti; sti; add ebp, edx
  out.push(0x89, 0x2c, 0x8b); // mov [ebx+ecx*4], ebp
  out.push(0x49); // dec ecx
  out.push(0x0f, 0x85); d32(out, loop - (out.length + 4)); // jnz loop
  out.push(0xeb, 0xfe); // jmp $
  return out;
}

/**
 * For CPL 3 (an odd case index): misaligned loads, stores and a read-modify-write, with
 * EFLAGS.AC set by POPFD every fourth iteration (CR0.AM is on). Native code makes no
 * alignment checks, so it must not run while AC is set: the interpreter raises #AC,
 * whose handler clears AC (and counts in ESI), and the access goes again.
 */
export function alignmentProgram(): number[] {
  const out: number[] = [0xb9]; d32(out, 400); // mov ecx, 400
  out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
  out.push(0x31, 0xf6); // xor esi, esi
  const loop = out.length;
  out.push(0xf6, 0xc1, 0x03, 0x75, 0x09); // test cl, 3; jnz over the next three
  out.push(0x9c, 0x81, 0x34, 0x24); d32(out, FLAG_AC); out.push(0x9d); // pushfd; xor dword [esp], AC; popfd
  out.push(0x8b, 0x43, 0x01); // mov eax, [ebx+1]
  out.push(0x01, 0x43, 0x06); // add [ebx+6], eax
  out.push(0x66, 0x8b, 0x53, 0x11); // mov dx, [ebx+0x11]
  out.push(0x89, 0x53, 0x23); // mov [ebx+0x23], edx
  out.push(0x01, 0xc5); // add ebp, eax
  out.push(0x49); // dec ecx
  out.push(0x0f, 0x85); d32(out, loop - (out.length + 4)); // jnz loop
  out.push(0xeb, 0xfe); // jmp $
  return out;
}

/**
 * A loop of one kind of instruction whose every result is seen: each instance works on
 * values that change each iteration (EAX, EDI, a dword at [EBX+k]; CL is the loop count,
 * 0 mod 32 at times), and its results and flags are folded into EBP, which is stored
 * each iteration. `mul`: each MUL/IMUL form (F6/F7 /4 /5, 0F AF, 69, 6B), then its OF
 * or the SF/ZF/PF it keeps (SETcc DL), its CF (ADC), EDX and EAX. `shift`: shifts and
 * rotates by 1, imm8 and CL in 8, 16 and 32 bits (RCL/RCR too), then a SETcc of any
 * condition and PUSHF.
 */
export function foldProgram(seed: number, index: number, kind: 'mul' | 'shift' | 'carried'): number[] {
  const r = Rng.forCase(seed, `lockstep-${kind}`, index);
  const out: number[] = [0xb9]; d32(out, 400); // mov ecx, 400
  out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
  out.push(0x31, 0xf6); // xor esi, esi
  const loop = out.length;
  const memK = () => out.push(r.pick([0, 4, 8])); // disp8 of [ebx+k]
  for (let i = r.range(3, 8); i > 0; i--) {
    out.push(0x69, 0xf9); d32(out, r.u32()); // imul edi, ecx, imm32: a new value each iteration
    out.push(0x89, 0x7b); memK(); // mov [ebx+k], edi: a memory operand
    out.push(0x33, 0xfd); // xor edi, ebp
    out.push(0x89, 0xf8); // mov eax, edi
    if (r.chance(0.5)) out.push(0xc1, 0xf8, r.int(32)); // sar eax, n: small and negative values too
    if (kind === 'carried') {
      // flags set by an ADD, SUB or ADC of the new values, then a jump to the next instruction, so the next block
      // starts with a record written before it: BT, DIV, MUL or ROL fold it first (keeping some of its flags), and
      // PUSHFD reads them all
      out.push(r.pick([0x01, 0x29, 0x11]), 0xf8); // add/sub/adc eax, edi
      out.push(0xeb, 0x00); // jmp to the next instruction
      switch (r.int(4)) {
        case 0:
          if (r.chance(0.5)) {
            out.push(0x0f, 0xba, 0xe0 | (r.int(4) << 3), r.int(256)); // bt/bts/btr/btc eax, imm8
          } else {
            // mov edx, ecx; sub edx, 200; bt/bts/btr/btc eax/edi/[ebx+k], edx (a bit offset of -200..200)
            out.push(0x89, 0xca, 0x81, 0xea); d32(out, 200);
            out.push(0x0f, r.pick([0xa3, 0xab, 0xb3, 0xbb]));
            if (r.chance(0.5)) { out.push(0x53); memK(); } else out.push(0xd0 | r.pick([0, 7]));
          }
          break;
        case 1: out.push(0xba); d32(out, 0); out.push(0xf7, 0xf1); break; // mov edx, 0; div ecx
        case 2: out.push(0xf7, 0xe7); break; // mul edi
        default: out.push(0xc1, 0xc0, r.range(1, 32)); break; // rol eax, n
      }
      out.push(0x9c, 0x5a, 0x01, 0xd5, 0x01, 0xc5); // pushfd; pop edx; add ebp, edx; add ebp, eax
      // and the sign extensions and byte swap, whose results are all seen
      out.push(0x99, 0x01, 0xd5, 0x98, 0x01, 0xc5); // cdq; add ebp, edx; cwde; add ebp, eax
      out.push(0x0f, 0xc8 + r.pick([0, 7]), 0x01, 0xc5, 0x01, 0xfd); // bswap eax / edi; add ebp, eax; add ebp, edi
    } else if (kind === 'mul') {
      switch (r.int(7)) {
        case 0: out.push(0xf7, r.pick([0xe7, 0xe9])); break; // mul edi / imul ecx
        case 1: out.push(0xf7, r.pick([0x63, 0x6b])); memK(); break; // mul/imul dword [ebx+k]
        case 2: out.push(0xf6, r.pick([0xe7, 0xef, 0xe1, 0xe9])); break; // mul/imul bh, cl
        case 3: out.push(0xf6, r.pick([0x63, 0x6b])); memK(); break; // mul/imul byte [ebx+k]
        case 4: if (r.chance(0.5)) out.push(0x0f, 0xaf, 0xc7); else { out.push(0x0f, 0xaf, 0x43); memK(); } break; // imul eax, edi / [ebx+k]
        case 5: out.push(0x69, 0xc0 | r.pick([0, 7])); d32(out, r.u32()); break; // imul eax, r, imm32
        default: out.push(0x6b, 0xc0 | r.pick([0, 7]), r.int(256)); break; // imul eax, r, imm8
      }
      out.push(0x0f, r.pick([0x90, 0x94, 0x98, 0x9a]), 0xc2); // seto dl: OF read; or SF, ZF, PF, which MUL keeps from XOR or SAR
      out.push(0x11, 0xd5); // adc ebp, edx: CF read
      out.push(0x01, 0xc5); // add ebp, eax
    } else if (r.chance(0.25)) {
      // SHLD/SHRD of EAX, EDI or [ebx+k] with EDI or EAX, by imm8 or CL
      const op = r.pick([0xa4, 0xa5, 0xac, 0xad]);
      out.push(0x0f, op);
      const src = r.pick([0, 7]);
      if (r.chance(0.3)) { out.push(0x43 | (src << 3)); memK(); } else out.push(0xc0 | (src << 3) | r.pick([0, 7]));
      if (!(op & 1)) out.push(r.chance(0.2) ? r.pick([0, 1, 16, 31, 32]) : r.int(256));
      out.push(0x0f, 0x90 + r.int(16), 0xc2, 0x0f, 0xb6, 0xd2, 0x01, 0xd5); // setcc dl; movzx edx, dl; add ebp, edx
      out.push(0x9c, 0x5a, 0x01, 0xd5, 0x01, 0xc5, 0x01, 0xfd); // pushfd; pop edx; add ebp, edx; add ebp, eax; add ebp, edi
    } else {
      const op = r.pick([0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3]);
      const ext = r.int(8);
      if (op & 1 && r.chance(0.4)) out.push(0x66);
      out.push(op);
      if (r.chance(0.3)) { out.push(0x43 | (ext << 3)); memK(); } // [ebx+k]
      else out.push(0xc0 | (ext << 3) | (op & 1 ? r.pick([0, 7]) : r.pick([0, 4]))); // eax, edi; al, ah
      if (op < 0xd0) out.push(r.chance(0.2) ? r.pick([0, 1, 8, 16, 31, 32]) : r.int(256));
      out.push(0x0f, 0x90 + r.int(16), 0xc2, 0x0f, 0xb6, 0xd2, 0x01, 0xd5); // setcc dl; movzx edx, dl; add ebp, edx
      out.push(0x9c, 0x5a, 0x01, 0xd5, 0x01, 0xc5, 0x01, 0xfd); // pushfd; pop edx; add ebp, edx; add ebp, eax; add ebp, edi
    }
  }
  out.push(0x89, 0x2c, 0x8b); // mov [ebx+ecx*4], ebp
  out.push(0x49); // dec ecx
  out.push(0x0f, 0x85); d32(out, loop - (out.length + 4)); // jnz loop
  out.push(0xeb, 0xfe); // jmp $
  return out;
}

/**
 * A loop with an instruction across the page end (ADD EDI, imm32 at 0x10ffd..0x11002),
 * reached by a jump: it has a block of its own, whose native code checks the next page's
 * part of it each time. With `changing`, the loop stores CL into that part (the
 * immediate's third byte) first, so the check fails and the instruction runs through
 * step(). Around it, 8- and 16-bit writes to registers that native code has read whole
 * (their cached values must follow), and reads of the whole registers after them.
 */
export function crossingProgram(changing: boolean): number[] {
  const out: number[] = [0xb9]; d32(out, 400); // mov ecx, 400
  out.push(0xbb); d32(out, SAFE); // mov ebx, SAFE
  out.push(0x31, 0xf6); // xor esi, esi
  const loop = out.length;
  out.push(0x01, 0xc8); // add eax, ecx
  out.push(0x88, 0xc8, 0x88, 0xd4); // mov al, cl; mov ah, dl
  out.push(0x66, 0x01, 0xca); // add dx, cx
  out.push(0x01, 0xc7, 0x01, 0xd7); // add edi, eax; add edi, edx
  if (changing) { out.push(0x88, 0x0d); d32(out, CODE + 0x101); } // mov [the immediate's third byte], cl
  const at = 0xfd; // CODE + 0xfd: the ADD's 6 bytes end on the next page
  out.push(0xe9); d32(out, at - (out.length + 4)); // jmp there
  while (out.length < at) out.push(0xcc);
  out.push(0x81, 0xc7); d32(out, 0x01020305); // add edi, 0x01020305
  out.push(0x88, 0xe0); // mov al, ah
  out.push(0x01, 0xfa, 0x01, 0xc2); // add edx, edi; add edx, eax
  out.push(0x89, 0x14, 0x8b); // mov [ebx+ecx*4], edx
  out.push(0x49); // dec ecx
  out.push(0x0f, 0x85); d32(out, loop - (out.length + 4)); // jnz loop
  out.push(0xeb, 0xfe); // jmp $
  return out;
}

/**
 * One lockstep case: seed and case index pick the program (unless `code` is given), the
 * CPL and the run budgets.
 */
export function lockstepCase(seed: number, index: number, runs = 300, threshold = 2, code?: number[]): LockstepResult {
  const r = Rng.forCase(seed, 'lockstep', index);
  const cpl = index % 2 === 0 ? 0 : 3;
  code ??= program(r, cpl);
  const interp = side((memory, interrupts) => new InterpVcpu({
    ram: memory.u8, area: { buffer: memory.wasm.buffer, memory: memory.wasm, offset: memory.engineAreaOffset }, interrupts, readTsc: () => 0,
  }));
  const jit = side((memory, interrupts) => new JitVcpu({
    ram: memory.u8, area: { buffer: memory.wasm.buffer, memory: memory.wasm, offset: memory.engineAreaOffset }, interrupts, readTsc: () => 0, threshold, compile: 'sync',
  }));
  const start = startState(interp.vcpu.saveState() as CpuState, cpl);
  for (const s of [interp, jit]) {
    buildMemory(s.memory, code);
    s.vcpu.restoreState(structuredClone(start));
  }
  const res: LockstepResult = { runs: 0, instructions: 0, nativeInstructions: 0, helperInstructions: 0, translated: 0, exits: {}, divergence: null, regs: [] };
  for (let i = 0; i < runs; i++) {
    const budget = r.chance(0.3) ? r.range(1, 8) : r.range(1, 400);
    if (r.chance(0.05)) interp.intr = jit.intr = true;
    const a = interp.vcpu.run(budget);
    const b = jit.vcpu.run(budget);
    res.runs++;
    res.exits[a.kind] = (res.exits[a.kind] ?? 0) + 1;
    const sa = JSON.stringify(interp.vcpu.saveState());
    const sb = JSON.stringify(jit.vcpu.saveState());
    if (JSON.stringify(a) !== JSON.stringify(b) || sa !== sb) {
      res.divergence = `case ${index} (cpl ${cpl}), run ${i} (budget ${budget}):\n  interp exit ${JSON.stringify(a)}\n  jit    exit ${JSON.stringify(b)}\n${diffState(sa, sb)}`;
      break;
    }
    answer(interp, a);
    answer(jit, b);
    if (a.kind === 'shutdown' || a.kind === 'error') break;
  }
  if (!res.divergence) {
    const ma = interp.memory.u8;
    const mb = jit.memory.u8;
    for (let p = 0; p < RAM; p++) {
      if (ma[p] !== mb[p]) {
        res.divergence = `case ${index} (cpl ${cpl}): RAM differs first at 0x${p.toString(16)}: interp ${ma[p]}, jit ${mb[p]}`;
        break;
      }
    }
  }
  res.instructions = interp.vcpu.instructionsRetired;
  res.regs = (interp.vcpu.saveState() as CpuState).regs;
  const st = (jit.vcpu as JitVcpu).stats;
  res.nativeInstructions = st.nativeInstructions;
  res.helperInstructions = st.helperInstructions;
  res.translated = st.translated;
  return res;
}

function diffState(a: string, b: string): string {
  const x = JSON.parse(a) as Record<string, unknown>;
  const y = JSON.parse(b) as Record<string, unknown>;
  const lines: string[] = [];
  for (const k of Object.keys(x)) {
    if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) lines.push(`  ${k}: interp ${JSON.stringify(x[k])}, jit ${JSON.stringify(y[k])}`);
  }
  return lines.join('\n');
}
