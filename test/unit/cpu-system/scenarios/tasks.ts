import type { Scenario } from './types.ts';

/**
 * Hardware task switches (SDM Vol. 3A 7.3): CALL to a TSS and IRET back (NT, back link, busy
 * bits), JMP to a TSS and back, CALL through a task gate in the GDT, #GP through a task gate in
 * the IDT (the error code on the handler task's stack), and #DF through a task gate as Linux
 * i386 installs it.
 */
export const taskSwitches: Scenario = {
  name: 'hardware task switches',
  source: `
SEL_TSS_B   equ 0x40
SEL_TSS_C   equ 0x48
SEL_GATE_B  equ 0x50
SEL_TSS_D   equ 0x58
TASK_STACKS equ 0x50000

%macro TEST_GDT 0
  SEGDESC 0, 0x67, 0x89, 0          ; B
  SEGDESC 0, 0x67, 0x89, 0          ; C
  dw 0, SEL_TSS_B, 0x8500, 0        ; task gate to B
  SEGDESC 0, 0x67, 0x89, 0          ; D (handler task for #GP and #DF)
%endmacro

; INIT_TSS tss, entry, stack: a flat ring-0 task that starts at entry with interrupts off.
%macro INIT_TSS 3
  mov dword [%1 + 0x1c], 0
  mov dword [%1 + 0x20], %2
  mov dword [%1 + 0x24], 2
  mov dword [%1 + 0x38], %3
  mov dword [%1 + 0x4c], SEL_CODE0
  mov dword [%1 + 0x50], SEL_DATA0
  mov dword [%1 + 0x48], SEL_DATA0
  mov dword [%1 + 0x54], SEL_DATA0
  mov dword [%1 + 0x58], SEL_DATA0
  mov dword [%1 + 0x5c], SEL_DATA0
  mov dword [%1 + 0x60], 0
%endmacro

; Print the type nibble of a TSS descriptor (9 available, b busy).
%macro SHOW_TYPE 2
  movzx eax, byte [gdt + %2 + 5]
  and eax, 0xf
  SHOW %1, eax
%endmacro

%macro SHOW_NT 0
  pushfd
  pop eax
  and eax, 0x4000
  SHOW "nt", eax
%endmacro

main:
  SET_DESC_BASE SEL_TSS_B, tss_b
  SET_DESC_BASE SEL_TSS_C, tss_c
  SET_DESC_BASE SEL_TSS_D, tss_d
  INIT_TSS tss_b, task_b, TASK_STACKS + 0x1000
  INIT_TSS tss_c, task_c, TASK_STACKS + 0x2000
  INIT_TSS tss_d, task_d, TASK_STACKS + 0x3000
  mov eax, 0x11111111
  mov esi, 0x33333333
  PRINTLN "call tss"
  call SEL_TSS_B:0
  SHOW "back eax", eax
  SHOW "esi", esi
  str ax
  SHOW "tr", eax
  SHOW_NT
  SHOW_TYPE "a", SEL_TSS
  SHOW_TYPE "b", SEL_TSS_B
  NEWLINE
  PRINTLN "call gate"
  call SEL_GATE_B:0
  SHOW_TYPE "b", SEL_TSS_B
  NEWLINE
  PRINTLN "jmp tss"
  jmp SEL_TSS_C:0
after_jmp:
  str ax
  SHOW "tr", eax
  SHOW_NT
  SHOW_TYPE "a", SEL_TSS
  SHOW_TYPE "c", SEL_TSS_C
  NEWLINE
  PRINTLN "#gp task gate"
  mov word [idt + 13 * 8 + 2], SEL_TSS_D
  mov byte [idt + 13 * 8 + 5], 0x85
  mov dword [fault_skip], 2
  mov ax, 0x1234
gp_at:
  mov ds, ax
  SHOW "resumed tr", eax
  NEWLINE
  PRINTLN "#df task gate"
  INIT_TSS tss_d, task_d, TASK_STACKS + 0x3000
  mov word [idt + 8 * 8 + 2], SEL_TSS_D
  mov byte [idt + 8 * 8 + 5], 0x85
  mov byte [idt + 0x41 * 8 + 5], 0x0e   ; INT 0x41: not present, DPL 0 -> #NP
  mov byte [idt + 11 * 8 + 5], 0x0e     ; and #NP's gate not present -> #DF
  mov dword [fault_skip], 2
  int 0x41
  SHOW_TYPE "a", SEL_TSS
  SHOW_TYPE "d", SEL_TSS_D
  NEWLINE
  ret

; B: called as a nested task; reports what it sees and returns with IRET (NT set).
task_b:
  SHOW "b eax", eax
  SHOW_NT
  movzx eax, word [tss_b]
  SHOW "link", eax
  str ax
  SHOW "tr", eax
  SHOW_TYPE "a", SEL_TSS
  SHOW_TYPE "b", SEL_TSS_B
  NEWLINE
  mov eax, 0x22222222
  iretd
  ; The next CALL resumes here.
  PRINTLN "b again"
  iretd

; C: entered by JMP (no nesting): back by JMP to A, which resumes after its JMP.
task_c:
  SHOW_NT
  SHOW_TYPE "a", SEL_TSS
  SHOW_TYPE "c", SEL_TSS_C
  NEWLINE
  jmp SEL_TSS:0

; D: the fault handler task. Prints the error code on its stack, moves the faulting task past
; the instruction (its EIP in A's TSS), and returns with IRET.
task_d:
  pop eax
  SHOW "d err", eax
  movzx eax, word [tss_d]
  SHOW "link", eax
  SHOW_NT
  SHOW_TYPE "a", SEL_TSS
  NEWLINE
  mov eax, [fault_skip]
  add [tss + 0x20], eax
  iretd
  ; A second fault resumes here: start over.
  jmp task_d

align 4
fault_skip: dd 0
align 16
tss_b: times 0x68 db 0
tss_c: times 0x68 db 0
tss_d: times 0x68 db 0
`,
  expected: `call tss
b eax=00000000 nt=00004000 link=00000028 tr=00000040 a=0000000b b=0000000b 
back eax=11111111 esi=33333333 tr=11110028 nt=00000000 a=0000000b b=00000009 
call gate
b again
b=00000009 
jmp tss
nt=00000000 a=00000009 c=0000000b 
tr=00000028 nt=00000000 a=0000000b c=00000009 
#gp task gate
d err=00001234 link=00000028 nt=00004000 a=0000000b 
resumed tr=00001234 
#df task gate
d err=00000000 link=00000028 nt=00004000 a=0000000b 
a=0000000b d=00000009 
DONE
`,
};
