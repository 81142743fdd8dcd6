// Focused tests of the integer instructions: 16-bit code, REP restart and yield, port
// and MMIO string I/O, segment overrides, and the opcode table's rows. The exact
// results and flags of single instructions are checked against the real CPU in
// hw-fixtures.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG_CF, FLAG_DF, FLAG_TF, FLAG_ZF, FS } from '../../../src/cpu/constants.ts';
import { REP_BUDGET } from '../../../src/cpu/ops/string.ts';
import { INTEGER_TABLE } from '../../../src/cpu/table/integer.ts';
import { OPCODE_TABLE } from '../../../src/cpu/table/index.ts';
import { machine, runCode } from './run-code.ts';

const IOPL3 = 0x3000;

test('16-bit code: REP MOVSB uses SI/DI/CX', () => {
  // mov si,0x3000; mov di,0x4000; mov cx,5; rep movsb
  const r = runCode({
    mode: 16,
    code: 'be0030bf0040b90500f3a4',
    regs: { ecx: 0xabcd0000, esi: 0x12340000, edi: 0x56780000 },
    mem: [{ addr: 0x3000, bytes: '0102030405060708' }],
  });
  assert.equal(r.vector, -1);
  assert.deepEqual([...machine().bytes(0x4000, 6)], [1, 2, 3, 4, 5, 0]);
  assert.equal(r.regs.ecx >>> 0, 0xabcd0000);
  assert.equal(r.regs.esi >>> 0, 0x12343005);
  assert.equal(r.regs.edi >>> 0, 0x56784005);
});

test('16-bit code: ENTER with nesting and LEAVE on a 16-bit stack', () => {
  // mov sp,0x9000; mov bp,0x1234; enter 8,2; push word 0x7777; leave
  const r = runCode({ mode: 16, code: 'bc0090bd3412c8080002687777c9', mem: [{ addr: 0x1232, bytes: 'cdab' }] });
  assert.equal(r.vector, -1);
  const m = machine();
  // Frame: old BP at 8ffe, the outer frame pointer copied from [bp-2] at 8ffc, the new frame pointer at 8ffa.
  assert.deepEqual([...m.bytes(0x8ffa, 6)], [0xfe, 0x8f, 0xcd, 0xab, 0x34, 0x12]);
  assert.equal(r.regs.ebp & 0xffff, 0x1234);
  assert.equal(r.regs.esp & 0xffff, 0x9000);
});

test('16-bit code: LOOP counts CX, PUSHA/POPA and a 32-bit IMUL with 66', () => {
  // mov cx,3; l: inc ax; loop l
  let r = runCode({ mode: 16, code: 'b9030040e2fd', regs: { ecx: 0x50000 } });
  assert.equal(r.regs.eax, 3);
  assert.equal(r.regs.ecx, 0x50000);
  // pusha; mov ax,1; mov sp,0x8ff0; popa
  r = runCode({ mode: 16, code: '60b80100bcf08f61', regs: { eax: 0x11112222, ebx: 0x3333, esp: 0x9000 } });
  assert.equal(r.regs.eax >>> 0, 0x11112222);
  assert.equal(r.regs.ebx, 0x3333);
  assert.equal(r.regs.esp, 0x9000);
  // mov eax,7; mov ebx,-3; imul eax,ebx
  r = runCode({ mode: 16, code: '66b80700000066bbfdffffff660fafc3' });
  assert.equal(r.regs.eax, -21);
});

test('a long REP yields every REP_BUDGET elements and still completes', () => {
  // mov ecx,20000; mov esi,0x3000; rep lodsb
  const r = runCode({ code: 'b9204e0000be00300000f3ac', mem: [{ addr: 0x3000 + 19999, bytes: '5a' }], slice: 1 });
  assert.equal(r.vector, -1);
  assert.equal(r.regs.ecx, 0);
  assert.equal(r.regs.esi, 0x3000 + 20000);
  assert.equal(r.regs.eax & 0xff, 0x5a);
  assert.ok(r.steps > 20000 / REP_BUDGET, `only ${r.steps} steps`);
});

test('REP STOSD over many pages matches the element-by-element result', () => {
  // mov ecx,5000; mov edi,0x3001; mov eax,0x11223344; rep stosd (unaligned, crosses pages)
  const r = runCode({ code: 'b988130000bf01300000b844332211f3ab' });
  assert.equal(r.regs.edi, 0x3001 + 20000);
  const b = machine().bytes(0x3000, 20002);
  assert.equal(b[0], 0);
  for (let i = 0; i < 20000; i++) assert.equal(b[1 + i], [0x44, 0x33, 0x22, 0x11][i & 3]);
  assert.equal(b[20001], 0);
});

test('REP MOVSB with overlapping buffers replicates like the hardware', () => {
  // mov ecx,16; mov esi,0x3000; mov edi,0x3001; rep movsb
  runCode({ code: 'b910000000be00300000bf01300000f3a4', mem: [{ addr: 0x3000, bytes: '7f' }] });
  assert.deepEqual([...machine().bytes(0x3000, 18)], [...new Array(17).fill(0x7f), 0]);
  // Backwards (DF=1) with the destination below the source.
  runCode({ code: 'b910000000be10300000bf0f300000f3a4', eflags: 2 | FLAG_DF, mem: [{ addr: 0x3010, bytes: '66' }] });
  assert.deepEqual([...machine().bytes(0x2fff, 19)], [0, ...new Array(17).fill(0x66), 0]);
});

test('REP MOVSB from MMIO gives each element its own read', () => {
  let next = 1;
  // mov ecx,4; mov esi,0x3000; mov edi,0x4000; rep movsb, with linear page 0x3000 mapped beyond RAM
  const r = runCode({
    code: 'b904000000be00300000bf00400000f3a4',
    setup: (m) => m.mapPage(0x3000, 0x40000000),
    mmioIn: () => next++,
  });
  assert.equal(r.vector, -1);
  assert.deepEqual([...machine().bytes(0x4000, 5)], [1, 2, 3, 4, 0]);
  assert.deepEqual(r.mmio.map((a) => a.addr), [0x40000000, 0x40000001, 0x40000002, 0x40000003]);
});

test('REP INSB and REP OUTSW do one port access per element and commit as they go', () => {
  let next = 0x10;
  // mov dx,0x60; mov edi,0x3000; mov ecx,4; rep insb
  let r = runCode({ code: '66ba6000bf00300000b904000000f36c', eflags: 2 | IOPL3, portIn: () => next++ });
  assert.equal(r.vector, -1);
  assert.deepEqual([...machine().bytes(0x3000, 5)], [0x10, 0x11, 0x12, 0x13, 0]);
  assert.deepEqual(r.io.map((a) => [a.port, a.size, a.isWrite]), new Array(4).fill([0x60, 1, false]));
  assert.equal(r.regs.ecx, 0);
  assert.equal(r.regs.edi, 0x3004);
  // mov dx,0x80; mov esi,0x3000; mov ecx,3; rep outsw
  r = runCode({ code: '66ba8000be00300000b903000000f3666f', eflags: 2 | IOPL3, mem: [{ addr: 0x3000, bytes: '0100020003000400' }] });
  assert.deepEqual(r.io.map((a) => [a.port, a.size, a.isWrite, a.value]), [[0x80, 2, true, 1], [0x80, 2, true, 2], [0x80, 2, true, 3]]);
  assert.equal(r.regs.esi, 0x3006);
});

test('INS checks the destination before reading the port, and needs I/O permission', () => {
  // insb with EDI on an unmapped page: #PF and no port read.
  let r = runCode({ code: '6c', regs: { edx: 0x60, edi: 0x30000 }, eflags: 2 | IOPL3 });
  assert.equal(r.vector, 14);
  assert.equal(r.io.length, 0);
  // At CPL 3 with IOPL 0 and no I/O bitmap: #GP(0).
  r = runCode({ code: '6c', regs: { edx: 0x60, edi: 0x3000 } });
  assert.equal(r.vector, 13);
  assert.equal(r.errorCode, 0);
});

test('REP under TF traps after each element with EIP on the instruction', () => {
  const r = runCode({ code: 'f3a4', regs: { ecx: 4, esi: 0x3000, edi: 0x4000 }, eflags: 2 | FLAG_TF });
  assert.equal(r.vector, 1);
  assert.equal(r.faultEip, 0);
  assert.equal(r.regs.ecx, 3);
  assert.equal(r.regs.esi, 0x3001);
});

test('a fault mid-way through REP MOVSD leaves the completed elements committed', () => {
  // rep movsd from 0x20ff0 (the last mapped page) reads into the unmapped 0x21000 at the 5th element.
  const r = runCode({ code: 'f3a5', regs: { ecx: 100, esi: 0x20ff0, edi: 0x3000 } });
  assert.equal(r.vector, 14);
  assert.equal(r.faultEip, 0);
  assert.equal(r.cr2, 0x21000);
  assert.equal(r.regs.ecx, 96);
  assert.equal(r.regs.esi, 0x21000);
  assert.equal(r.regs.edi, 0x3010);
});

test('a REP that runs past a segment limit faults at the first element outside it', () => {
  // 16-bit code, 32-bit addressing (67): rep stosb with EDI 0xfff8 and a 64 KiB ES limit.
  let r = runCode({ mode: 16, code: '67f3aa', regs: { eax: 0x5a, ecx: 0x20, edi: 0xfff8 } });
  assert.equal(r.vector, 13);
  assert.equal(r.errorCode, 0);
  assert.equal(r.regs.ecx, 0x18);
  assert.equal(r.regs.edi, 0x10000);
  assert.deepEqual([...machine().bytes(0xfff8, 8)], new Array(8).fill(0x5a));
  // The source in SS: #SS(0).
  r = runCode({ mode: 16, code: '6736f3a4', regs: { ecx: 0x20, esi: 0xfffc, edi: 0x3000 } });
  assert.equal(r.vector, 12);
  assert.equal(r.regs.ecx, 0x1c);
});

test('string source honours a segment override; the destination stays in ES', () => {
  // mov esi,0x10; mov edi,0x3000; mov ecx,4; fs rep movsb, with FS based at 0x5000
  runCode({
    code: 'be10000000bf00300000b904000000f364a4',
    setup: (m) => m.cpu.setSegmentCache(FS, m.cpu.segSel[FS], 0x5000, 0xffff, m.cpu.segAccess[FS] & 0xff),
    mem: [{ addr: 0x5010, bytes: 'a1a2a3a4' }, { addr: 0x10, bytes: 'eeeeeeee' }],
  });
  assert.deepEqual([...machine().bytes(0x3000, 4)], [0xa1, 0xa2, 0xa3, 0xa4]);
});

test('REPE CMPSB stops at the first difference; REPNE SCASB at the first match', () => {
  let r = runCode({ code: 'f3a6', regs: { ecx: 10, esi: 0x3000, edi: 0x4000 }, mem: [{ addr: 0x3000, bytes: '61626364' }, { addr: 0x4000, bytes: '61626365' }] });
  assert.equal(r.regs.ecx, 6);
  assert.equal(r.eflags & FLAG_ZF, 0);
  assert.equal(r.eflags & FLAG_CF, FLAG_CF);
  r = runCode({ code: 'f2ae', regs: { eax: 0x63, ecx: 10, edi: 0x4000 }, mem: [{ addr: 0x4000, bytes: '61626364' }] });
  assert.equal(r.regs.ecx, 7);
  assert.equal(r.regs.edi, 0x4003);
  assert.equal(r.eflags & FLAG_ZF, FLAG_ZF);
});

test('DIV overflow and AAM 0 raise #DE with nothing changed', () => {
  let r = runCode({ code: 'f7f3', regs: { eax: 5, edx: 7, ebx: 7 } });
  assert.equal(r.vector, 0);
  assert.deepEqual([r.regs.eax, r.regs.edx], [5, 7]);
  r = runCode({ code: 'd400', regs: { eax: 0x1234 } });
  assert.equal(r.vector, 0);
  assert.equal(r.regs.eax, 0x1234);
});

test('the integer rows allow LOCK exactly on the instructions the SDM lists', () => {
  const lockable = new Set(['add', 'adc', 'and', 'btc', 'btr', 'bts', 'cmpxchg', 'cmpxchg8b', 'dec', 'inc', 'neg', 'not', 'or', 'sbb', 'sub', 'xor', 'xadd', 'xchg']);
  for (const e of OPCODE_TABLE) {
    if (e.lockable) assert.ok(lockable.has(e.mnemonic), `${e.mnemonic} must not be lockable`);
  }
  for (const e of INTEGER_TABLE) {
    if (lockable.has(e.mnemonic) && /^[EM]/.test(e.operands)) assert.ok(e.lockable, `${e.mnemonic} ${e.opcode.toString(16)} should be lockable`);
  }
});

test('every integer row has an exec and a unique opcode/ext', () => {
  const seen = new Set<string>();
  for (const e of INTEGER_TABLE) {
    const key = `${e.opcode}/${e.ext ?? '-'}/${e.modrmForm ?? '-'}`;
    assert.ok(!seen.has(key), key);
    seen.add(key);
    assert.equal(typeof e.exec, 'function');
  }
});
