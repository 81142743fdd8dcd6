import type { Scenario } from './types.ts';

const frameHandler = `
; Prints the interrupt frame: IF inside the handler, the pushed CS, the handler's SS,
; and for an entry from ring 3 the pushed ESP and SS and the stack depth below ESP0.
; The pushed EIP is printed relative to [expected_eip].
h_int:
  push eax
  push ebp
  mov ebp, esp
  pushfd
  pop eax
  and eax, 0x200
  SHOW "if", eax
  SHOW "cs", [ebp + 12]
  mov eax, ss
  SHOW "ss", eax
  test byte [ebp + 12], 3
  jz .same
  SHOW "esp", [ebp + 20]
  SHOW "old ss", [ebp + 24]
  mov eax, TSS_ESP0
  sub eax, ebp
  SHOW "depth", eax
.same:
  mov eax, [ebp + 8]
  sub eax, [expected_eip]
  SHOW "eip", eax
  NEWLINE
  pop ebp
  pop eax
  iretd

align 4
expected_eip: dd 0
`;

/** Interrupt and trap gates at the same and at a higher privilege, IRET back to ring 3, privileged instructions at CPL 3. */
export const interruptGates: Scenario = {
  name: 'interrupt and trap gates',
  source: frameHandler + `
%macro INT_AT 1
  mov dword [expected_eip], %%after
  %1
%%after:
%endmacro

main:
  SET_GATE 0x40, h_int, 0xee
  SET_GATE 0x41, h_int, 0x8e
  SET_GATE 0x42, h_int, 0xef
  SET_GATE 3, h_int, 0xee
  SET_GATE 4, h_int, 0xee
  SET_GATE 0x43, h_int16, 0xe6
  PRINTLN "ring 0"
  sti
  INT_AT {int 0x40}
  INT_AT {int 0x42}
  INT_AT {int 0x41}
  cli
  PRINTLN "ring 3"
  ENTER_RING3 ring3_code
  PRINTLN "ring 3 with IOPL 3"
  ENTER_RING3 ring3_iopl3, 3
  PRINTLN "16-bit gate"
  ENTER_RING3 ring3_int16
  ret

ring3_code:
  mov eax, ds
  mov ebx, fs
  mov ecx, gs
  mov edx, es
  USER_SEGMENTS
  SHOW "ds", eax
  SHOW "es", edx
  SHOW "fs", ebx
  SHOW "gs", ecx
  mov eax, cs
  SHOW "cs", eax
  mov eax, ss
  SHOW "ss", eax
  pushfd
  pop eax
  and eax, 0x3200
  SHOW "flags", eax
  NEWLINE
  INT_AT {int 0x40}
  INT_AT {int 0x42}
  EXPECT_EXC .after_41
  int 0x41
.after_41:
  INT_AT {int3}
  INT_AT {int 3}
  mov al, 0x7f
  add al, 0
  INT_AT {into}
  PRINTLN "no overflow"
  mov al, 0x7f
  add al, 1
  INT_AT {into}
  PRINTLN "privileged"
  EXPECT_EXC .p1
  hlt
.p1:
  EXPECT_EXC .p2
  cli
.p2:
  EXPECT_EXC .p3
  sti
.p3:
  EXPECT_EXC .p4
  mov eax, cr0
.p4:
  EXPECT_EXC .p5
  lgdt [gdtr]
.p5:
  EXPECT_EXC .p6
  out 0x80, al
.p6:
  EXPECT_EXC .p7
  mov eax, dr7
.p7:
  EXPECT_EXC .p8
  wbinvd
.p8:
  PRINTLN "popf"
  pushfd
  and dword [esp], ~0x200
  or dword [esp], 0x3000 | 0x40000 | 0x200000
  popfd
  pushfd
  pop eax
  and eax, 0x243200
  SHOW "flags", eax
  pushfd
  and dword [esp], ~(0x40000 | 0x200000)
  popfd
  pushfd
  pop eax
  and eax, 0x243200
  SHOW "flags", eax
  NEWLINE
  PRINTLN "iret at ring 3"
  pushfd
  and dword [esp], ~0x200
  or dword [esp], 0x3000
  push dword SEL_CODE3
  push dword .after_iret
  iretd
.after_iret:
  pushfd
  pop eax
  and eax, 0x3200
  SHOW "flags", eax
  NEWLINE
  int 0x31

ring3_iopl3:
  USER_SEGMENTS
  pushfd
  pop eax
  and eax, 0x3200
  SHOW "flags", eax
  cli
  pushfd
  pop eax
  and eax, 0x3200
  SHOW "flags", eax
  sti
  in al, 0x80
  NEWLINE
  int 0x31

ring3_int16:
  USER_SEGMENTS
  mov dword [expected_eip], .after
  int 0x43
.after:
  PRINTLN "not reached"
  int 0x31

; A 16-bit interrupt gate into 32-bit code: the frame is five words. A 16-bit
; gate holds a 16-bit offset, so the handler lives below 64 KiB (the real16 copy).
section real16
bits 32
h_int16:
  movzx eax, word [esp]
  mov ebx, [expected_eip]
  and ebx, 0xffff
  sub eax, ebx
  SHOW "ip", eax
  movzx eax, word [esp + 2]
  SHOW "cs", eax
  movzx eax, word [esp + 6]
  SHOW "sp", eax
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
if=00000000 cs=00000008 ss=00000010 eip=00000000 
if=00000200 cs=00000008 ss=00000010 eip=00000000 
if=00000000 cs=00000008 ss=00000010 eip=00000000 
ring 3
ds=00000000 es=00000000 fs=00000000 gs=00000000 cs=0000001b ss=00000023 flags=00000200 
if=00000000 cs=0000001b ss=00000010 esp=00070000 old ss=00000023 depth=0000001c eip=00000000 
if=00000200 cs=0000001b ss=00000010 esp=00070000 old ss=00000023 depth=0000001c eip=00000000 
EXC 0d 020a
if=00000000 cs=0000001b ss=00000010 esp=00070000 old ss=00000023 depth=0000001c eip=00000000 
if=00000000 cs=0000001b ss=00000010 esp=00070000 old ss=00000023 depth=0000001c eip=00000000 
no overflow
if=00000000 cs=0000001b ss=00000010 esp=00070000 old ss=00000023 depth=0000001c eip=00000000 
privileged
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
popf
flags=00240200 flags=00000200 
iret at ring 3
flags=00000200 
ring 3 with IOPL 3
flags=00003200 flags=00003000 
16-bit gate
ip=00000000 cs=0000001b sp=00000000 ss=00000023 depth=0000000a 
DONE
`,
};

/** Exceptions while delivering exceptions: #DF, and the benign/contributory rules (SDM Vol. 3A 6.15, table 6-5). */
export const doubleFault: Scenario = {
  name: 'double fault',
  source: `
%macro TEST_GDT 0
  SEGDESC 0, 0xfffff, 0x12, 0xc      ; 40 data, not present
%endmacro

main:
  PRINTLN "#GP while delivering #GP"
  and byte [idt + 13 * 8 + 5], 0x7f
  EXPECT_EXC .a
  mov ax, 0x1000
  mov ds, ax
.a:
  or byte [idt + 13 * 8 + 5], 0x80
  PRINTLN "#NP while delivering #UD"
  and byte [idt + 6 * 8 + 5], 0x7f
  EXPECT_EXC .b
  ud2
.b:
  or byte [idt + 6 * 8 + 5], 0x80
  PRINTLN "#GP while delivering #NP"
  mov word [idt + 11 * 8 + 2], 0x1000
  EXPECT_EXC .c
  mov ax, 0x40
  mov es, ax
.c:
  mov word [idt + 11 * 8 + 2], SEL_CODE0
  PRINTLN "#GP while delivering a software interrupt"
  SET_GATE 0x40, 0, 0xee, 0x1000
  EXPECT_EXC .d
  int 0x40
.d:
  PRINTLN "#GP for INT n past the IDT limit"
  mov word [SCRATCH], 0x40 * 8 - 1
  mov eax, idt
  mov [SCRATCH + 2], eax
  lidt [SCRATCH]
  EXPECT_EXC .e
  int 0x40
.e:
  lidt [idtr]
  ret
`,
  expected: `#GP while delivering #GP
EXC 08 0000
#NP while delivering #UD
EXC 0b 0033
#GP while delivering #NP
EXC 08 0000
#GP while delivering a software interrupt
EXC 0d 1000
#GP for INT n past the IDT limit
EXC 0d 0202
DONE
`,
  qemuKnown: [{
    expected: 'EXC 0b 0033',
    qemu: 'EXC 0b 0032',
    why: 'a fault while delivering an exception sets EXT in its error code (SDM Vol. 3A 6.13); QEMU leaves it clear',
  }],
};

/** An exception while delivering #DF shuts the processor down. */
export const tripleFault: Scenario = {
  name: 'triple fault',
  end: 'shutdown',
  source: `
main:
  PRINTLN "triple"
  mov word [SCRATCH], 7
  mov dword [SCRATCH + 2], idt
  lidt [SCRATCH]
  ud2
  PRINTLN "not reached"
  ret
`,
  expected: `triple
`,
};

/** The interrupt shadow after STI, MOV SS and POP SS; HLT woken by an interrupt (uses the harness's interrupt port). */
export const interruptShadow: Scenario = {
  name: 'interrupt shadow and HLT',
  interpOnly: 'raises interrupts through the harness port 0xF0',
  source: `
%macro RAISE 1                 ; raise vector 0x50 after %1 more instructions
  mov al, %1
  out IRQ_DELAY_PORT, al
  mov al, 0x50
  out IRQ_PORT, al
%endmacro

main:
  SET_GATE 0x50, irq_handler, 0x8e
  mov [ss_value], ss
  PRINTLN "sti shadow"
  xor ebx, ebx
  RAISE 0
  sti
  inc ebx
  inc ebx
  cli
  SHOW "seen", [irq_ebx]
  NEWLINE
  PRINTLN "hlt"
  RAISE 0
  sti
  hlt
.after_hlt:
  cli
  mov eax, [irq_eip]
  sub eax, .after_hlt
  SHOW "eip", eax
  NEWLINE
  PRINTLN "mov ss shadow"
  sti
  xor ebx, ebx
  RAISE 1
  mov ss, [ss_value]
  inc ebx
  inc ebx
  SHOW "seen", [irq_ebx]
  xor ebx, ebx
  RAISE 1
  nop
  inc ebx
  inc ebx
  SHOW "without", [irq_ebx]
  NEWLINE
  PRINTLN "pop ss shadow"
  xor ebx, ebx
  push ss
  RAISE 1
  pop ss
  inc ebx
  inc ebx
  SHOW "seen", [irq_ebx]
  NEWLINE
  PRINTLN "popf sets IF without a shadow"
  cli
  xor ebx, ebx
  pushfd
  or dword [esp], 0x200
  RAISE 0
  popfd
  inc ebx
  inc ebx
  cli
  SHOW "seen", [irq_ebx]
  NEWLINE
  ret

irq_handler:
  push eax
  mov [irq_ebx], ebx
  mov eax, [esp + 4]
  mov [irq_eip], eax
  pop eax
  iretd

align 4
irq_ebx: dd 0xffffffff
irq_eip: dd 0
ss_value: dd 0
`,
  expected: `sti shadow
seen=00000001 
hlt
eip=00000000 
mov ss shadow
seen=00000001 without=00000000 
pop ss shadow
seen=00000001 
popf sets IF without a shadow
seen=00000000 
DONE
`,
};
