import type { Scenario } from './types.ts';

/** Far JMP/CALL/RET, call gates with and without a privilege change, returns to an outer level. */
export const farTransfers: Scenario = {
  name: 'far transfers and call gates',
  source: `
%macro TEST_GDT 0
  dq 0                               ; 40 call gate, 32-bit, DPL 3 -> SEL_CODE0:gate_target, 2 dwords
  dq 0                               ; 48 call gate, 32-bit, DPL 0 -> SEL_CODE0:gate_target
  SEGDESC 0, 0xfffff, 0x9e, 0xc      ; 50 code, conforming, DPL 0
  dq 0                               ; 58 call gate, 32-bit, DPL 3 -> 0x50:conf_target
  dq 0                               ; 60 call gate, 16-bit, DPL 3 -> SEL_CODE0:gate16_target, 1 word
  SEGDESC 0, 0xfffff, 0x1a, 0xc      ; 68 code, not present
  SEGDESC 0, 0xfffff, 0x9a, 0x4      ; 70 code, limit 1 MiB - 1 (byte granular)
%endmacro

%macro AT 1
  mov dword [expected_eip], %%after
  %1
%%after:
%endmacro

main:
  SET_CALL_GATE 0x40, gate_target, SEL_CODE0, 0xec, 2
  SET_CALL_GATE 0x48, gate_target, SEL_CODE0, 0x8c, 0
  SET_CALL_GATE 0x58, conf_target, 0x50, 0xec, 0
  SET_CALL_GATE 0x60, gate16_target, SEL_CODE0, 0xe4, 1
  PRINTLN "ring 0"
  AT {call SEL_CODE0:far_target}
  mov dword [far_ptr], far_target
  mov word [far_ptr + 4], SEL_CODE0
  AT {call far [far_ptr]}
  mov dword [far_ptr], .jmp_back
  jmp far [far_ptr]
  PRINTLN "not reached"
.jmp_back:
  jmp SEL_CODE0:.jmp_back2
  PRINTLN "not reached"
.jmp_back2:
  AT {call 0x48:0x12345678}
  AT {call 0x50:far_target}
  EXPECT_EXC .e1
  jmp SEL_CODE3:.e1
.e1:
  EXPECT_EXC .e2
  call SEL_DATA0:0
.e2:
  EXPECT_EXC .e3
  call 0x68:0
.e3:
  EXPECT_EXC .e4
  jmp 0x70:0x100000
.e4:
  EXPECT_EXC .e5
  call 0:0
.e5:
  EXPECT_EXC .e6
  jmp 0x1000:0
.e6:
  PRINTLN "returns"
  push dword SEL_DATA0
  push dword USTACK_TOP
  push dword SEL_CODE3
  push dword .e7
  EXPECT_EXC .e7
  retf
.e7:
  add esp, 16
  push dword SEL_DATA0
  push dword USTACK_TOP
  pushfd
  push dword SEL_CODE3
  push dword .e8
  EXPECT_EXC .e8
  iretd
.e8:
  add esp, 20
  push dword SEL_DATA3 & ~3
  push dword USTACK_TOP
  push dword SEL_CODE3
  push dword .e9
  EXPECT_EXC .e9
  retf
.e9:
  add esp, 16
  push dword 0x18
  push dword .e10
  EXPECT_EXC .e10
  retf
.e10:
  add esp, 8
  PRINTLN "ring 3"
  ENTER_RING3 ring3_code
  PRINTLN "16-bit call gate"
  ENTER_RING3 ring3_gate16
  ret

far_target:
  push ebp
  mov ebp, esp
  mov eax, [ebp + 4]
  sub eax, [expected_eip]
  SHOW "eip", eax
  SHOW "cs", [ebp + 8]
  mov eax, cs
  SHOW "now", eax
  NEWLINE
  pop ebp
  retf

gate_target:
  push ebp
  mov ebp, esp
  mov eax, cs
  SHOW "cs", eax
  mov eax, ss
  SHOW "ss", eax
  mov eax, [ebp + 4]
  sub eax, [expected_eip]
  SHOW "eip", eax
  SHOW "ret cs", [ebp + 8]
  test byte [ebp + 8], 3
  jz .same
  SHOW "p0", [ebp + 12]
  SHOW "p1", [ebp + 16]
  SHOW "esp", [ebp + 20]
  SHOW "ss", [ebp + 24]
  mov eax, TSS_ESP0
  sub eax, ebp
  SHOW "depth", eax
  NEWLINE
  push dword SEL_DATA0
  pop ds
  push dword SEL_DATA3
  pop fs
  pop ebp
  retf 8
.same:
  NEWLINE
  pop ebp
  retf

conf_target:
  mov eax, cs
  SHOW "conforming cs", eax
  mov eax, ss
  SHOW "ss", eax
  NEWLINE
  retf

ring3_code:
  USER_SEGMENTS
  push dword 0x11111111
  push dword 0x22222222
  AT {call 0x43:0}
  mov ebx, USTACK_TOP
  sub ebx, esp
  mov ecx, ds
  mov edx, fs
  USER_SEGMENTS
  SHOW "esp", ebx
  SHOW "ds", ecx
  SHOW "fs", edx
  NEWLINE
  EXPECT_EXC .g1
  call 0x4b:0
.g1:
  AT {call 0x5b:0}
  EXPECT_EXC .g2
  jmp 0x43:0
.g2:
  EXPECT_EXC .g3
  call SEL_CODE0:far_target
.g3:
  EXPECT_EXC .g4
  push dword SEL_DATA0 | 3
  push dword USTACK_TOP
  push dword SEL_CODE0
  push dword .g4
  retf
.g4:
  int 0x31

ring3_gate16:
  USER_SEGMENTS
  push word 0x3333
  mov dword [expected_eip], .after
  call 0x63:0
.after:
  PRINTLN "not reached"
  int 0x31

align 4
expected_eip: dd 0
far_ptr: dd 0, 0

; The 16-bit gate's offset is 16 bits: this handler lives below 64 KiB.
section real16
bits 32
gate16_target:
  movzx eax, word [esp]
  mov ebx, [expected_eip]
  and ebx, 0xffff
  sub eax, ebx
  SHOW "ip", eax
  movzx eax, word [esp + 2]
  SHOW "cs", eax
  movzx eax, word [esp + 4]
  SHOW "p0", eax
  movzx eax, word [esp + 6]
  mov ebx, USTACK_TOP
  sub ebx, eax
  and ebx, 0xffff
  SHOW "sp", ebx
  movzx eax, word [esp + 8]
  SHOW "ss", eax
  mov eax, TSS_ESP0
  sub eax, esp
  SHOW "depth", eax
  NEWLINE
  jmp ring0_return
section .text
`,
  expected: `ring 0
eip=00000000 cs=00000008 now=00000008 
eip=00000000 cs=00000008 now=00000008 
cs=00000008 ss=00000010 eip=00000000 ret cs=00000008 
eip=00000000 cs=00000008 now=00000050 
EXC 0d 0018
EXC 0d 0010
EXC 0b 0068
EXC 0d 0000
EXC 0d 0000
EXC 0d 1000
returns
EXC 0d 0010
EXC 0d 0010
EXC 0d 0020
EXC 0d 0018
ring 3
cs=00000008 ss=00000010 eip=00000000 ret cs=0000001b p0=22222222 p1=11111111 esp=0006fff8 ss=00000023 depth=0000001c 
esp=00000000 ds=00000000 fs=00000023 
EXC 0d 0048
conforming cs=00000053 ss=00000023 
EXC 0d 0008
EXC 0d 0008
EXC 0d 0008
16-bit call gate
ip=00000000 cs=0000001b p0=00003333 sp=00000002 ss=00000023 depth=0000000a 
DONE
`,
  qemuKnown: [{
    expected: 'conforming cs=00000053 ss=00000023 ',
    qemu: 'conforming cs=00000050 ss=00000023 ',
    why: 'a call gate to a conforming segment sets CS.RPL to CPL (SDM Vol. 2 CALL, SAME-PRIVILEGE); QEMU keeps the gate\'s selector RPL',
  }],
};

/** #TS from a bad ring-0 stack in the TSS, handled through a conforming code segment (no stack switch). */
export const invalidTss: Scenario = {
  name: 'invalid TSS stack',
  source: `
%macro TEST_GDT 0
  SEGDESC 0, 0xfffff, 0x9e, 0xc      ; 40 code, conforming, DPL 0
  SEGDESC 0, 0xfffff, 0x92, 0xc      ; 48 data, DPL 0
  dq 0                               ; 50 call gate, DPL 3 -> SEL_CODE0:dummy
%endmacro

main:
  SET_GATE 10, ts_handler, 0x8e, 0x40
  SET_GATE 0x40, dummy, 0xee
  SET_CALL_GATE 0x50, dummy, SEL_CODE0, 0xec, 0
  mov dword [tss + 8], SEL_CODE0
  ENTER_RING3 ring3_code
  ret

ring3_code:
  USER_SEGMENTS
  mov dword [resume], .after_int
  int 0x40
.after_int:
  mov dword [resume], .after_call
  call 0x53:0
.after_call:
  mov dword [resume], .after_int2
  mov dword [tss + 8], 0x48 | 3
  int 0x40
.after_int2:
  mov dword [resume], .after_int3
  mov dword [tss + 8], 0
  int 0x40
.after_int3:
  mov dword [tss + 8], SEL_DATA0
  int 0x31

; Entered at CPL 3 through a conforming segment: a same-privilege frame with an error code.
ts_handler:
  push eax
  mov eax, cs
  SHOW "cs", eax
  mov eax, [esp + 4]
  SHOW "err", eax
  NEWLINE
  mov eax, [resume]
  mov [esp + 8], eax
  pop eax
  add esp, 4
  iretd

dummy:
  PRINTLN "not reached"
  EXIT 1

align 4
resume: dd 0
`,
  expected: `cs=00000043 err=00000008 
cs=00000043 err=00000008 
cs=00000043 err=00000048 
cs=00000043 err=00000000 
DONE
`,
};
