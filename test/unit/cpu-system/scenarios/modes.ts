import type { Scenario } from './types.ts';

/** Protected mode -> 16-bit protected mode -> real mode (IVT interrupt, far call, POPF) -> protected mode. */
export const realModeRoundTrip: Scenario = {
  name: 'real mode round trip',
  source: `
main:
  mov [saved_esp], esp
  mov ax, [gdtr]
  mov [real_gdtr], ax
  mov eax, [gdtr + 2]
  mov [real_gdtr + 2], eax
  jmp SEL_CODE16:pm16_entry

pm32_back:
  mov ax, cs
  mov [r_pm_cs], ax
  mov ax, SEL_DATA0
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov esp, [saved_esp]
  lidt [idtr]
  PRINTLN "real mode"
  SHOW "msw", [r_msw]
  SHOW "cs", [r_cs]
  SHOW "byte", [r_byte]
  NEWLINE
  SHOW "int ip", [r_int_ip]
  SHOW "cs", [r_int_cs]
  SHOW "if", [r_int_if]
  SHOW "inner if", [r_inner_if]
  SHOW "dx", [r_dx]
  NEWLINE
  SHOW "call ip", [r_call_ip]
  SHOW "cs", [r_call_cs]
  SHOW "iopl", [r_iopl]
  NEWLINE
  SHOW "pm cs", [r_pm_cs]
  mov eax, cr0
  SHOW "cr0", eax
  NEWLINE
  ret

section real16
bits 16
pm16_entry:
  mov ax, SEL_DATA16
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov sp, 0x7000
  mov eax, cr0
  and al, 0xfe
  mov cr0, eax
  jmp 0:real_entry
real_entry:
  xor ax, ax
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov sp, 0x7000
  lidt [real_idtr]
  smsw [r_msw]
  mov [r_cs], cs
  mov ax, 0x0800
  mov ds, ax
  mov al, [0]
  xor bx, bx
  mov ds, bx
  mov [r_byte], al
  mov word [0x40 * 4], int40
  mov word [0x40 * 4 + 2], 0
  sti
  int 0x40
after_int:
  cli
  mov [r_dx], dx
  call 0:farproc
after_call:
  pushf
  pop ax
  or ax, 0x3000
  push ax
  popf
  pushf
  pop ax
  and ax, 0x3000
  mov [r_iopl], ax
  pushf
  pop ax
  and ax, 0xcfff
  push ax
  popf
  o32 lgdt [real_gdtr]
  mov eax, cr0
  or al, 1
  mov cr0, eax
  jmp dword SEL_CODE0:pm32_back

int40:
  mov bp, sp
  mov ax, [bp]
  sub ax, after_int
  mov [r_int_ip], ax
  mov ax, [bp + 2]
  mov [r_int_cs], ax
  mov ax, [bp + 4]
  and ax, 0x200
  mov [r_int_if], ax
  pushf
  pop ax
  and ax, 0x200
  mov [r_inner_if], ax
  mov dx, 0x5678
  iret

farproc:
  mov bp, sp
  mov ax, [bp]
  sub ax, after_call
  mov [r_call_ip], ax
  mov ax, [bp + 2]
  mov [r_call_cs], ax
  retf

align 4
saved_esp:   dd 0
r_msw:       dd 0
r_cs:        dd 0xffff
r_byte:      dd 0
r_int_ip:    dd 0xffff
r_int_cs:    dd 0xffff
r_int_if:    dd 0
r_inner_if:  dd 0xffff
r_dx:        dd 0
r_call_ip:   dd 0xffff
r_call_cs:   dd 0xffff
r_iopl:      dd 0
r_pm_cs:     dd 0
real_idtr:   dw 0x3ff
             dd 0
real_gdtr:   dw 0
             dd 0
section .text
bits 32
`,
  expected: `real mode
msw=00000010 cs=00000000 byte=000000b8 
int ip=00000000 cs=00000000 if=00000200 inner if=00000000 dx=00005678 
call ip=00000000 cs=00000000 iopl=00003000 
pm cs=00000008 cr0=00000011 
DONE
`,
};

/** Control registers, descriptor-table registers and MSW instructions at CPL 0. */
export const controlRegisters: Scenario = {
  name: 'control registers',
  source: `
main:
  PRINTLN "lmsw and smsw"
  mov ax, 0xe
  lmsw ax
  smsw eax
  HEX32 eax
  PRINT " "
  mov eax, 0xffffffff
  smsw ax
  HEX32 eax
  PRINT " "
  mov word [SCRATCH], 0xffff
  smsw [SCRATCH]
  HEX16 [SCRATCH]
  PRINT " "
  clts
  mov eax, cr0
  HEX32 eax
  PRINT " "
  xor ax, ax
  lmsw ax
  mov eax, cr0
  HEX32 eax
  NEWLINE
  PRINTLN "cr2 cr3 cr4"
  mov eax, 0xdeadbeef
  mov cr2, eax
  mov eax, cr2
  HEX32 eax
  PRINT " "
  mov eax, 0x00123018
  mov cr3, eax
  mov eax, cr3
  HEX32 eax
  PRINT " "
  mov eax, 0x10
  mov cr4, eax
  mov eax, cr4
  HEX32 eax
  NEWLINE
  xor eax, eax
  mov cr4, eax
  EXPECT_EXC .after_cr1
  db 0x0f, 0x20, 0xc8
.after_cr1:
  EXPECT_EXC .after_cr5
  db 0x0f, 0x22, 0xe8
.after_cr5:
  PRINTLN "gdtr idtr"
  sgdt [SCRATCH]
  HEX16 [SCRATCH]
  PRINT " "
  mov eax, [SCRATCH + 2]
  sub eax, gdt
  HEX32 eax
  PRINT " "
  sidt [SCRATCH]
  HEX16 [SCRATCH]
  PRINT " "
  mov eax, [SCRATCH + 2]
  sub eax, idt
  HEX32 eax
  NEWLINE
  mov word [SCRATCH + 16], 0x123
  mov dword [SCRATCH + 18], 0xfedcba98
  lidt [SCRATCH + 16]
  mov dword [SCRATCH], 0
  mov dword [SCRATCH + 4], 0
  sidt [SCRATCH]
  HEX16 [SCRATCH]
  PRINT " "
  HEX32 [SCRATCH + 2]
  PRINT " "
  o16 sidt [SCRATCH]
  HEX32 [SCRATCH + 2]
  PRINT " "
  o16 lidt [SCRATCH + 16]
  sidt [SCRATCH]
  HEX32 [SCRATCH + 2]
  NEWLINE
  lidt [idtr]
  PRINTLN "debug registers"
  mov eax, 0x12345678
  mov dr0, eax
  mov eax, dr0
  HEX32 eax
  PRINT " "
  xor eax, eax
  mov dr6, eax
  mov eax, dr6
  HEX32 eax
  PRINT " "
  xor eax, eax
  mov dr7, eax
  mov eax, dr7
  HEX32 eax
  PRINT " "
  mov eax, 0x00000001
  db 0x0f, 0x23, 0xe8          ; mov dr5, eax (alias of DR7 while CR4.DE = 0)
  mov eax, dr7
  HEX32 eax
  NEWLINE
  xor eax, eax
  mov dr7, eax
  mov eax, 8
  mov cr4, eax
  EXPECT_EXC .after_dr4
  db 0x0f, 0x21, 0xe0          ; mov eax, dr4
.after_dr4:
  xor eax, eax
  mov cr4, eax
  PRINTLN "caches"
  wbinvd
  invd
  ret
`,
  expected: `lmsw and smsw
0000001f ffff001f 001f 00000017 00000011
cr2 cr3 cr4
deadbeef 00123018 00000010
EXC 06
EXC 06
gdtr idtr
003f 00000000 07ff 00000000
0123 fedcba98 00dcba98 00dcba98
debug registers
12345678 ffff0ff0 00000400 00000401
EXC 06
caches
DONE
`,
};

/** Invalid CR0 combinations, reserved CR0 bits, CR4 bits this CPU does not have (SDM Vol. 3A 2.5, MOV CR). */
export const cr0Checks: Scenario = {
  name: 'CR0 and CR4 invalid values',
  interpOnly: 'QEMU 7.2 accepts PG without PE and NW without CD, keeps reserved CR0 bits, and its pentium2 model takes CR4.PAE and CR4.OSXMMEXCPT',
  source: `
main:
  PRINTLN "cr0"
  mov eax, cr0
  mov ebx, eax
  or eax, 0x80000000
  and eax, ~1
  EXPECT_EXC .after_pg
  mov cr0, eax
.after_pg:
  mov eax, ebx
  or eax, 0x20000000
  and eax, ~0x40000000
  EXPECT_EXC .after_nw
  mov cr0, eax
.after_nw:
  mov eax, ebx
  or eax, 0x0000fff0
  and eax, ~0x10
  mov cr0, eax
  mov eax, cr0
  HEX32 eax
  NEWLINE
  mov cr0, ebx
  EXPECT_EXC .after_pae
  mov eax, 0x20
  mov cr4, eax
.after_pae:
  EXPECT_EXC .after_osxmmexcpt
  mov eax, 0x400
  mov cr4, eax
.after_osxmmexcpt:
  mov eax, 0x390
  mov cr4, eax
  mov eax, cr4
  HEX32 eax
  NEWLINE
  xor eax, eax
  mov cr4, eax
  ret
`,
  expected: `cr0
EXC 0d 0000
EXC 0d 0000
00000031
EXC 0d 0000
EXC 0d 0000
00000390
DONE
`,
};
