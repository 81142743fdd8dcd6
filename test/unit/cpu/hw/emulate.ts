// Runs a recorded hardware case on the interpreter.
import { MEM_BASE, TestMachine } from '../run-code.ts';
import { caseMemory, FLAG_MASK, memDigest, type HwCase, type HwResult } from './cases.ts';

export function emulateCase(m: TestMachine, c: HwCase): HwResult {
  const res = m.run({
    code: c.code,
    regs: { eax: c.regs[0], ecx: c.regs[1], edx: c.regs[2], ebx: c.regs[3], esp: c.regs[4], ebp: c.regs[5], esi: c.regs[6], edi: c.regs[7] },
    eflags: c.eflags,
    mem: [{ addr: MEM_BASE, bytes: caseMemory(c.mem) }],
  });
  const r = res.regs;
  return {
    regs: [r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi].map((v) => v >>> 0),
    eflags: res.eflags & FLAG_MASK,
    vector: res.vector,
    eipOff: res.vector < 0 ? 0 : res.faultEip,
    errorCode: res.vector < 0 ? 0 : res.errorCode,
    cr2: res.vector === 14 ? res.cr2 >>> 0 : 0,
    mem: memDigest(m.bytes(MEM_BASE, c.outLen)),
  };
}

/** Differences between two results, as text ('' when equal). */
export function diffResults(want: HwResult, got: HwResult): string {
  const out: string[] = [];
  const names = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
  const h = (v: number) => (v >>> 0).toString(16);
  for (let i = 0; i < 8; i++) if (want.regs[i] !== got.regs[i]) out.push(`${names[i]} ${h(want.regs[i])} != ${h(got.regs[i])}`);
  if (want.eflags !== got.eflags) out.push(`eflags ${h(want.eflags)} != ${h(got.eflags)} (diff ${h(want.eflags ^ got.eflags)})`);
  if (want.vector !== got.vector) out.push(`vector ${want.vector} != ${got.vector}`);
  else if (want.vector >= 0) {
    if (want.eipOff !== got.eipOff) out.push(`fault eip ${h(want.eipOff)} != ${h(got.eipOff)}`);
    if (want.errorCode !== got.errorCode) out.push(`error code ${h(want.errorCode)} != ${h(got.errorCode)}`);
    if (want.cr2 !== got.cr2) out.push(`cr2 ${h(want.cr2)} != ${h(got.cr2)}`);
  }
  if (want.mem !== got.mem) out.push(`memory differs`);
  return out.join('; ');
}

/** One fixture row: [name, code, eax..edi, eflags, vector, eipOff, errorCode, cr2, mem]. */
export function encodeRow(c: HwCase, r: HwResult): (string | number)[] {
  return [c.name, c.code, ...r.regs, r.eflags, r.vector, r.eipOff, r.errorCode, r.cr2, r.mem];
}

export function decodeRow(row: (string | number)[]): { name: string; code: string; result: HwResult } {
  const n = row.slice(2, 15) as number[];
  return {
    name: row[0] as string,
    code: row[1] as string,
    result: { regs: n.slice(0, 8), eflags: n[8], vector: n[9], eipOff: n[10], errorCode: n[11], cr2: n[12], mem: row[15] as string },
  };
}
