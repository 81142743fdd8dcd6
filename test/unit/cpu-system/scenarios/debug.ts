import type { Scenario } from './types.ts';

/**
 * The single-step trap (EFLAGS.TF) around instructions that deliver an event or load SS:
 * INT n, INT3 and INTO enter their handler with TF clear, so no trap is taken inside it;
 * MOV SS and POP SS hold the trap back until after the next instruction (SDM Vol. 3A 6.8.3).
 */
export const singleStep: Scenario = {
  name: 'single-step over INT n, INT3, INTO, MOV SS, POP SS',
  source: `
%macro TF_ON 0
  pushfd
  or dword [esp], 0x100
  popfd
%endmacro

main:
  SET_GATE 1, h_db, 0x8e
  SET_GATE 0x40, h_soft, 0x8e
  SET_GATE 3, h_soft, 0x8e
  SET_GATE 4, h_soft, 0x8e
  mov ax, ss
  mov bx, ax
  TF_ON
step_base:
  nop
  int 0x40
  nop
  int3
  nop
  mov cl, 0x7f
  add cl, 1
  into
  nop
  mov ss, ax
  nop
  nop
  push ebx
  pop ss
  nop
  nop
  pushfd
  and dword [esp], ~0x100
  popfd
  nop
  ret

; #DB: print the trap's return address relative to step_base and DR6.BS.
h_db:
  push eax
  mov eax, [esp + 4]
  sub eax, step_base
  SHOW "db", eax
  mov eax, dr6
  and eax, 0x4000
  SHOW "bs", eax
  NEWLINE
  xor eax, eax
  mov dr6, eax
  pop eax
  iretd

; INT n / INT3 / INTO: print TF as the handler sees it.
h_soft:
  push eax
  pushfd
  pop eax
  and eax, 0x100
  SHOW "handler tf", eax
  NEWLINE
  pop eax
  iretd
`,
  // Offsets: nop 0, int 0x40 1, nop 3, int3 4, nop 5, mov cl 6, add cl 8, into b, nop c,
  // mov ss d, nop f, nop 10, push ebx 11, pop ss 12, nop 13, nop 14, pushfd 15, and 16, popfd 1d.
  expected: `db=00000001 bs=00004000 
handler tf=00000000 
db=00000004 bs=00004000 
handler tf=00000000 
db=00000006 bs=00004000 
db=00000008 bs=00004000 
db=0000000b bs=00004000 
handler tf=00000000 
db=0000000d bs=00004000 
db=00000010 bs=00004000 
db=00000011 bs=00004000 
db=00000012 bs=00004000 
db=00000014 bs=00004000 
db=00000015 bs=00004000 
db=00000016 bs=00004000 
db=0000001d bs=00004000 
db=0000001e bs=00004000 
DONE
`,
};
