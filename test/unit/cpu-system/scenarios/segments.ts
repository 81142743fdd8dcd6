import type { Scenario } from './types.ts';

const gdt = `
%macro TEST_GDT 0
  SEGDESC 0, 0xfffff, 0x12, 0xc      ; 40 data, not present
  SEGDESC 0, 0xfffff, 0x98, 0xc      ; 48 code, execute-only
  SEGDESC 0, 0xfffff, 0x90, 0xc      ; 50 data, read-only
  SEGDESC 0, 0xfffff, 0xf2, 0xc      ; 58 data DPL 3
  SEGDESC 0, 0xfffff, 0x9e, 0xc      ; 60 code, conforming, readable
  SEGDESC 0, 0xfff, 0x82, 0          ; 68 LDT (system)
  SEGDESC 0, 0xfff, 0x96, 0          ; 70 data, expand-down, limit 0xfff, 16-bit
  SEGDESC 0x1000, 0xff, 0x92, 0      ; 78 data, base 0x1000, limit 0xff
  SEGDESC 0, 0x7ffff, 0x92, 0x4      ; 80 data, limit 0x7ffff, 32-bit
  SEGDESC 0, 0xfffff, 0xfa, 0xc      ; 88 code DPL 3
%endmacro
`;

/** Segment register loads in protected mode at CPL 0: faults and their error codes, limits, types, accessed bit. */
export const segmentLoads: Scenario = {
  name: 'segment loads',
  source: gdt + `
%macro TRY_LOAD 2      ; segment register, selector
  EXPECT_EXC %%next
  mov ax, %2
  mov %1, ax
  PRINTLN "loaded"
%%next:
%endmacro

main:
  xor eax, eax
  lldt ax
  PRINTLN "not present"
  TRY_LOAD ds, 0x40
  TRY_LOAD ss, 0x40
  PRINTLN "types"
  TRY_LOAD ds, 0x48
  TRY_LOAD es, 0x50
  TRY_LOAD ss, 0x50
  TRY_LOAD fs, 0x60
  TRY_LOAD gs, 0x68
  TRY_LOAD ss, 0x88
  PRINTLN "privilege"
  TRY_LOAD ds, 0x58
  TRY_LOAD ds, 0x5b
  TRY_LOAD ss, 0x58
  TRY_LOAD ss, 0x13
  TRY_LOAD ds, 0x12
  mov ax, SEL_DATA0
  mov ds, ax
  PRINTLN "table limits"
  TRY_LOAD ds, 0x1000
  TRY_LOAD ds, 0x0004
  PRINTLN "null"
  TRY_LOAD ss, 0
  TRY_LOAD ss, 3
  mov ax, 3
  mov fs, ax
  mov ax, fs
  HEX16 ax
  NEWLINE
  mov ax, SEL_DATA0
  mov fs, ax
  PRINTLN "mov cs"
  EXPECT_EXC .after_mov_cs
  db 0x8e, 0xc8
.after_mov_cs:
  EXPECT_EXC .after_mov_sreg7
  db 0x8e, 0xf8
.after_mov_sreg7:
  PRINTLN "accessed bit"
  HEX8 [gdt + 0x78 + 5]
  mov ax, 0x78
  mov es, ax
  PRINT " "
  HEX8 [gdt + 0x78 + 5]
  NEWLINE
  PRINTLN "pop and lds keep state on a fault"
  mov ebx, esp
  push dword 0x40
  EXPECT_EXC .after_pop
  pop ds
.after_pop:
  mov ecx, esp
  sub ebx, ecx
  HEX32 ebx
  NEWLINE
  add esp, 4
  mov dword [SCRATCH], 0x11111111
  mov word [SCRATCH + 4], 0x48
  mov esi, 0xaaaaaaaa
  EXPECT_EXC .after_lds
  lds esi, [SCRATCH]
.after_lds:
  HEX32 esi
  PRINT " "
  mov word [SCRATCH + 4], 0x78
  lfs esi, [SCRATCH]
  HEX32 esi
  PRINT " "
  mov ax, fs
  HEX16 ax
  NEWLINE
  mov word [SCRATCH], 0x2222
  mov word [SCRATCH + 2], SEL_DATA0
  o16 lgs si, [SCRATCH]
  HEX32 esi
  NEWLINE
  PRINTLN "push and pop"
  mov ax, SEL_DATA0
  mov fs, ax
  push gs
  push fs
  push cs
  pop eax
  HEX32 eax
  PRINT " "
  pop es
  pop gs
  mov ax, es
  HEX16 ax
  PRINT " "
  mov eax, 0xffffffff
  mov eax, ds
  HEX32 eax
  PRINT " "
  mov eax, 0xffffffff
  mov ax, ds
  HEX32 eax
  PRINT " "
  mov word [SCRATCH], 0xffff
  mov [SCRATCH], ds
  HEX16 [SCRATCH]
  NEWLINE
  ret
`,
  expected: `not present
EXC 0b 0040
EXC 0c 0040
types
EXC 0d 0048
loaded
EXC 0d 0050
loaded
EXC 0d 0068
EXC 0d 0088
privilege
loaded
loaded
EXC 0d 0058
EXC 0d 0010
EXC 0d 0010
table limits
EXC 0d 1000
EXC 0d 0004
null
EXC 0d 0000
EXC 0d 0000
0003
mov cs
EXC 06
EXC 06
accessed bit
92 93
pop and lds keep state on a fault
EXC 0b 0040
00000004
EXC 0d 0048
aaaaaaaa 11111111 0078
11112222
push and pop
00000008 0010 00000010 ffff0010 0010
DONE
`,
};

/** Limit, type and null-selector checks on memory accesses (QEMU's TCG does not make them). */
export const segmentLimits: Scenario = {
  name: 'segment limits and null selectors',
  interpOnly: 'QEMU TCG does not check segment limits, types or null selectors on data accesses',
  source: gdt + `
main:
  PRINTLN "null"
  mov ax, 3
  mov fs, ax
  EXPECT_EXC .after_null_read
  mov eax, [fs:0]
  PRINTLN "read through null"
.after_null_read:
  EXPECT_EXC .after_null_write
  mov byte [fs:0x100], 1
.after_null_write:
  mov ax, SEL_DATA0
  mov fs, ax
  mov ax, 0x78
  mov es, ax
  PRINTLN "limits"
  mov eax, [es:0xfc]
  EXPECT_EXC .after_limit
  mov eax, [es:0xfd]
.after_limit:
  mov dword [es:0x10], 0x12345678
  HEX32 [0x1010]
  NEWLINE
  mov ax, 0x70
  mov es, ax
  mov al, [es:0x1000]
  mov ax, [es:0xfffe]
  EXPECT_EXC .after_down1
  mov al, [es:0xfff]
.after_down1:
  EXPECT_EXC .after_down2
  mov ax, [es:0xffff]
.after_down2:
  mov ax, 0x50
  mov es, ax
  mov eax, [es:0x1000]
  EXPECT_EXC .after_ro_write
  mov [es:0x1000], eax
.after_ro_write:
  mov ax, 0x60
  mov es, ax
  mov eax, [es:mb_header]
  HEX32 eax
  NEWLINE
  EXPECT_EXC .after_code_write
  mov [es:0x1000], eax
.after_code_write:
  mov ax, SEL_DATA0
  mov es, ax
  PRINTLN "stack limit"
  mov ax, 0x80
  mov ss, ax
  mov eax, [ss:0x7fffc]
  EXPECT_EXC .after_ss_limit
  mov eax, [ss:0x7fffd]
.after_ss_limit:
  EXPECT_EXC .after_ebp_limit
  mov ebp, 0x90000
  mov eax, [ebp]
.after_ebp_limit:
  mov ax, SEL_DATA0
  mov ss, ax
  ret
`,
  expected: `null
EXC 0d 0000
EXC 0d 0000
limits
EXC 0d 0000
12345678
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
1badb002
EXC 0d 0000
stack limit
EXC 0c 0000
EXC 0c 0000
DONE
`,
};

/** ENTER with a 32-bit operand size on a 16-bit stack (SS.B = 0): FrameTemp keeps the upper half of ESP (SDM ENTER). */
export const enterOn16BitStack: Scenario = {
  name: 'ENTER with a 32-bit operand on a 16-bit stack',
  source: `
main:
  mov [SCRATCH], esp
  mov ax, SEL_DATA16
  mov ss, ax
  mov esp, 0x00010000
  mov ebp, 0x12345678
  enter 8, 0
  mov eax, ebp
  mov ecx, esp
  mov esp, 0x00010000
  mov ebp, 0x00020040
  mov dword [0x003c], 0xcafef00d
  enter 4, 2
  mov ebx, ebp
  mov esi, esp
  mov edi, [0xfff4]
  mov ebp, [0xfff8]
  mov dx, SEL_DATA0
  mov ss, dx
  mov esp, [SCRATCH]
  SHOW "ebp", eax
  SHOW "esp", ecx
  NEWLINE
  SHOW "ebp", ebx
  SHOW "esp", esi
  SHOW "frame", edi
  SHOW "copied", ebp
  NEWLINE
  ret
`,
  expected: `ebp=0001fffc esp=0001fff4 
ebp=0001fffc esp=0001fff0 frame=0001fffc copied=cafef00d 
DONE
`,
  qemuKnown: [
    { expected: 'ebp=0001fffc esp=0001fff4 ', qemu: 'ebp=0000fffc esp=0001fff4 ', why: 'QEMU 7.2 takes FrameTemp from SP, not ESP, on a 16-bit stack' },
    {
      expected: 'ebp=0001fffc esp=0001fff0 frame=0001fffc copied=cafef00d ',
      qemu: 'ebp=0000fffc esp=0001fff0 frame=0000fffc copied=cafef00d ',
      why: 'the same, for the frame pointer ENTER pushes with a nesting level',
    },
  ],
};
