import type { Scenario } from './types.ts';

/** Virtual-8086 mode: entry by IRETD, interrupts to ring 0 and back, IOPL-sensitive instructions, the I/O bitmap. */
export const virtual8086: Scenario = {
  name: 'virtual-8086 mode',
  source: `
; ENTER_VM86 ip, iopl: IRETD into virtual-8086 mode at 0:ip with DS = 0x0800,
; SS:SP = 0:0x7000. INT 0x31 (or the #GP hook below) comes back after the macro.
%macro ENTER_VM86 2
  mov dword [ring0_continue], %%back
  mov [ring0_esp], esp
  push dword 0
  push dword 0
  push dword 0x0800
  push dword 0
  push dword 0
  push dword 0x7000
  push dword 0x20002 | ((%2) << 12)
  push dword 0
  push dword %1
  iretd
%%back:
%endmacro

main:
  SET_GATE 0x40, vm_int, 0xee
  PRINTLN "iopl 3"
  mov dword [0x600], 0xffffffff
  mov dword [0x604], 0xffffffff
  mov dword [0x608], 0xffffffff
  ENTER_VM86 v86_a, 3
  movzx eax, word [0x600]
  SHOW "word", eax
  movzx eax, word [0x602]
  SHOW "cs", eax
  movzx eax, word [0x604]
  and eax, 0x3000
  SHOW "iopl", eax
  movzx eax, word [0x606]
  SHOW "ds", eax
  movzx eax, word [0x608]
  SHOW "sp", eax
  NEWLINE
  PRINTLN "iopl 0"
  mov dword [exc_hook], vm86_monitor
  ENTER_VM86 v86_b, 0
  mov dword [exc_hook], 0
  NEWLINE
  ret

; INT 0x40 from virtual-8086 mode: a ring-0 frame with the data segments on top.
vm_int:
  mov eax, ds
  mov ebx, es
  push dword SEL_DATA0
  pop ds
  push ebp
  mov ebp, esp
  mov ecx, [ebp + 4]
  sub ecx, v86_a.after_int
  SHOW "ip", ecx
  SHOW "cs", [ebp + 8]
  mov ecx, [ebp + 12]
  and ecx, 0x23200
  SHOW "flags", ecx
  SHOW "sp", [ebp + 16]
  SHOW "ss", [ebp + 20]
  SHOW "es", [ebp + 24]
  SHOW "ds", [ebp + 28]
  SHOW "fs", [ebp + 32]
  SHOW "gs", [ebp + 36]
  NEWLINE
  SHOW "now ds", eax
  SHOW "es", ebx
  mov eax, cs
  SHOW "cs", eax
  pushfd
  pop eax
  and eax, 0x20000
  SHOW "vm", eax
  mov eax, TSS_ESP0
  sub eax, ebp
  SHOW "depth", eax
  NEWLINE
  pop ebp
  iretd

; #GP hook while in virtual-8086 mode: step over the faulting 1- or 2-byte
; instruction, or leave on INT 0x31.
vm86_monitor:
  test dword [ebp + FRAME_EFLAGS], 0x20000
  jz .done
  movzx eax, word [ebp + FRAME_CS]
  shl eax, 4
  add eax, [ebp + FRAME_EIP]
  movzx ecx, word [eax]
  cmp cx, 0x31cd
  je ring0_return
  mov edx, 1
  cmp cl, 0xcd
  je .two
  cmp cl, 0xe4
  jne .step
.two:
  mov edx, 2
.step:
  add [ebp + FRAME_EIP], edx
  mov dword [exc_action], 1
.done:
  ret

section real16
bits 16
v86_a:
  mov ax, [0]
  mov [es:0x600], ax
  mov [es:0x602], cs
  pushf
  pop ax
  mov [es:0x604], ax
  int 0x40
.after_int:
  mov [es:0x606], ds
  mov [es:0x608], sp
  int 0x31

v86_b:
  cli
  sti
  pushf
  popf
  int 0x40
  hlt
  in al, 0x80
  mov al, 'v'
  out 0xe9, al
  int3
  iret
  int 0x31
section .text
bits 32
`,
  expected: `iopl 3
ip=00000000 cs=00000000 flags=00023000 sp=00007000 ss=00000000 es=00000000 ds=00000800 fs=00000000 gs=00000000 
now ds=00000000 es=00000000 cs=00000008 vm=00000000 depth=00000028 
word=000000a1 cs=00000000 iopl=00003000 ds=00000800 sp=00007000 
iopl 0
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
vEXC 0d 001a
EXC 0d 0000
EXC 0d 0000

DONE
`,
};
