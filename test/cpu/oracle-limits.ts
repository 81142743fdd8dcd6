// What each oracle cannot tell us, stated once. The host CPU defines some fields per model
// (the x87 pointers of an environment image); QEMU's user-mode emulator leaves parts of the
// architecture out. A case either gets a narrower comparison here, or is not compared on that
// oracle, with the reason counted in the test output. Every rule is listed in docs/cpu.md.
import { FLAG_CF, FLAG_PF, FLAG_ZF } from '../../src/cpu/constants.ts';
import type { CompareSpec, GenCase } from './generate.ts';
import type { Outcome } from './harness.ts';
import type { Oracle } from './native.ts';

export type Limited = { cmp: CompareSpec } | { skip: string };

const FLAG_AC = 0x40000;
/** CPUID.(EAX=7,ECX=0):EBX bit 6: the x87 data pointer is updated only on unmasked exceptions. */
const FDP_EXCPTN_ONLY = 1 << 6;
/** CPUID.(EAX=7,ECX=0):EBX bit 13: FCS and FDS are stored as zero. */
const FCS_FDS_DEPRECATED = 1 << 13;
const FSW_ES = 0x80;
const FSW_SF = 0x40;
/** FSW bits QEMU sets differently from hardware: the exception flags, ES, C1 and B (it keeps TOP and C0/C2/C3 right). */
const QEMU_FSW_IGNORED = 0x80ff | 0x0200;

/** The environment image's pointer fields: FIP, FCS, FOP, FDP, FDS (32-bit layout; the 16-bit one has no FOP). */
function envFields(at: { addr: number; o16: boolean }): Record<'fip' | 'fcs' | 'fop' | 'fdp' | 'fds', { addr: number; len: number } | undefined> {
  const a = at.addr;
  return at.o16
    ? { fip: { addr: a + 6, len: 2 }, fcs: { addr: a + 8, len: 2 }, fop: undefined, fdp: { addr: a + 10, len: 2 }, fds: { addr: a + 12, len: 2 } }
    : { fip: { addr: a + 12, len: 4 }, fcs: { addr: a + 16, len: 2 }, fop: { addr: a + 18, len: 2 }, fdp: { addr: a + 20, len: 4 }, fds: { addr: a + 24, len: 2 } };
}

function withIgnored(cmp: CompareSpec, ranges: ({ addr: number; len: number } | undefined)[]): CompareSpec {
  return { ...cmp, memIgnore: [...cmp.memIgnore, ...ranges.filter((r): r is { addr: number; len: number } => r !== undefined)] };
}

/**
 * The host CPU: LilyVM's x87 is a P6 and stores FCS, FOP, FDP and FDS in every FNSTENV/FNSAVE image.
 * Newer CPUs do not (CPUID leaf 7 says so for FDP and FCS/FDS; Intel stores FOP only after an
 * unmasked exception), so those fields are compared only where the host stores them.
 */
function nativeLimits(c: GenCase, o: Oracle, ours: Outcome): Limited {
  if (!c.envAt) return { cmp: c.cmp };
  const f = envFields(c.envAt);
  const l7 = o.hello.leaf7ebx;
  const pending = ((ours.fpu?.sw ?? 0) & FSW_ES) !== 0;
  const ignored = [
    l7 & FCS_FDS_DEPRECATED ? f.fcs : undefined,
    l7 & FCS_FDS_DEPRECATED || (l7 & FDP_EXCPTN_ONLY && !pending) ? f.fds : undefined,
    l7 & FDP_EXCPTN_ONLY && !pending ? f.fdp : undefined,
    o.hello.vendor === 'GenuineIntel' && !pending ? f.fop : undefined,
  ];
  return { cmp: withIgnored(c.cmp, ignored) };
}

/** The x87 instruction under test: the last escape (D8-DF) in the code, after the FLD/FLDCW preamble. */
function x87Instruction(c: GenCase): { op: number; modrm: number; reg: number; env: boolean } {
  const b = c.code;
  let at = -1;
  // The preamble is FLDCW m16 (D9 2D disp32) and FLD m80 (DB 2D disp32), six bytes each, perhaps with 66.
  let k = 0;
  for (;;) {
    const p = b[k] === 0x66 ? k + 1 : k;
    if ((b[p] === 0xd9 || b[p] === 0xdb) && b[p + 1] === 0x2d && p + 6 < b.length && b[p + 6] !== 0x9b) { k = p + 6; continue; }
    at = b[k] === 0x66 ? k + 1 : k;
    break;
  }
  const op = b[at], modrm = b[at + 1], reg = (modrm >> 3) & 7;
  const env = modrm < 0xc0 && ((op === 0xd9 && (reg === 4 || reg === 6)) || (op === 0xdd && (reg === 4 || reg === 6)));
  return { op, modrm, reg, env };
}

function stEmptyAt(f: { sw: number; tw: number }, i: number): boolean {
  return ((f.tw >> (2 * (((f.sw >> 11) + i) & 7))) & 3) === 3;
}

function isNaN80(r: Uint8Array): boolean {
  const exp = (r[9] << 8 | r[8]) & 0x7fff;
  if (exp !== 0x7fff) return false;
  return r[7] !== 0x80 || r.subarray(0, 7).some((v) => v !== 0);
}

/** An instruction's bytes after its prefixes, at the case's entry. */
function opcodeBytes(c: GenCase): Uint8Array {
  let k = 0;
  while (k < c.code.length && [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(c.code[k])) k++;
  return c.code.subarray(k);
}

/** QEMU 7.2 user mode (TCG) against the architecture; each reason is checked against the host CPU in docs/cpu.md. */
function qemuLimits(c: GenCase, ours: Outcome): Limited {
  const t = c.traits ?? [];
  if (c.eflags & FLAG_AC) return { skip: 'QEMU has no alignment check (#AC)' };
  if (t.includes('lock-ud')) return { skip: 'QEMU runs LOCK-prefixed instructions that must raise #UD (and aborts on LOCK BTS/BTR/BTC with a register)' };
  if (t.includes('cs-override')) return { skip: 'QEMU user mode does not check segment rights (a write through CS succeeds)' };
  if (c.key === 'f6/1' || c.key === 'f7/1') return { skip: 'QEMU raises #UD for the TEST aliases F6 /1 and F7 /1' };
  const op = opcodeBytes(c);
  if (c.key === '0f18' && op[2] >= 0xc0) return { skip: 'QEMU raises #UD for the register forms of the 0F 18 hint NOPs' };
  if (c.key === 'c2' && op[2] >= 0x80) return { skip: "QEMU sign-extends RET's imm16 (7.2 translate.c reads it with a signed load)" };
  if (t.includes('mxcsr-reserved')) return { skip: 'QEMU does not raise #GP for reserved MXCSR bits in an FXRSTOR image' };
  // A read-modify-write faults on QEMU's read first, so its page-fault error code lacks W.
  let cmp: CompareSpec = { ...c.cmp, pfErrIgnore: 0x2 };
  if (c.mnemonic === 'bswap' && c.code[0] === 0x66) {
    cmp = { ...cmp, regMask: cmp.regMask.map((m, k) => (k === (op[1] & 7) ? 0 : m)) };
  }
  if (c.key === '0fae/0.mem') {
    // QEMU leaves bytes 10-15 of each ST slot as they were.
    const area = c.cmp.cr2Within!.addr;
    cmp = withIgnored(cmp, Array.from({ length: 8 }, (_, i) => ({ addr: area + 32 + 16 * i + 10, len: 6 })));
  }
  if (c.key === '0fae/1.mem') cmp = { ...cmp, swIgnore: FSW_ES | 0x8000 };
  if (t.includes('x87')) {
    const sw = ours.fpu?.sw ?? 0;
    if (sw & FSW_SF) return { skip: 'QEMU does not model x87 stack overflow and underflow' };
    if (sw & FSW_ES || ours.vector === 16) return { skip: 'QEMU does not model unmasked x87 exceptions (#MF, results held back)' };
    const x = x87Instruction(c);
    if (x.env) return { skip: 'QEMU loads and stores x87 environments with its own tag word, pointers and reserved words' };
    if (x.op === 0xdf && x.reg === 4) return { skip: "QEMU's FBLD goes through a double and loses digits past the 15th" };
    if (ours.fpu && ours.fpu.st.some((r, i) => !stEmptyAt(ours.fpu!, i) && isNaN80(r))) return { skip: 'QEMU propagates a different NaN operand' };
    // FSQRT: QEMU leaves C2 as it was.
    const swIgnore = QEMU_FSW_IGNORED | (x.op === 0xd9 && x.modrm === 0xfa ? 0x400 : 0);
    // QEMU does not keep the tag word (FST ST(i) into an empty register, FFREE, the aliases): it is not compared.
    cmp = { ...cmp, swIgnore, ignoreTags: true, flagsMask: cmp.flagsMask & (FLAG_CF | FLAG_PF | FLAG_ZF) };
  }
  return { cmp };
}

/** The comparison this oracle can make for a case, or why it makes none. `ours` is the interpreter's outcome. */
export function oracleLimits(c: GenCase, o: Oracle, ours: Outcome): Limited {
  return o.kind === 'qemu' ? qemuLimits(c, ours) : nativeLimits(c, o, ours);
}
