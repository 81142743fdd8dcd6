import type { Scenario } from './types.ts';

/** SYSENTER MSRs, the time stamp counter, SYSENTER/SYSEXIT. */
export const msrsAndSysenter: Scenario = {
  name: 'MSRs and SYSENTER',
  source: `
%macro WRMSR 3                 ; msr, edx, eax
  mov ecx, %1
  mov edx, %2
  mov eax, %3
  wrmsr
%endmacro
%macro SHOW_MSR 1
  mov ecx, %1
  rdmsr
  SHOW "hi", edx
  SHOW "lo", eax
%endmacro

main:
  PRINTLN "msr"
  WRMSR 0x174, 0, SEL_CODE0
  WRMSR 0x175, 0, TSS_ESP0
  WRMSR 0x176, 0, sysenter_entry
  SHOW_MSR 0x174
  SHOW_MSR 0x175
  SHOW_MSR 0x17
  mov ecx, 0x176
  rdmsr
  sub eax, sysenter_entry
  SHOW "eip", eax
  NEWLINE
  PRINTLN "tsc"
  rdtsc
  mov esi, eax
  mov edi, edx
  rdtsc
  sub eax, esi
  sbb edx, edi
  or edx, edx
  setz bl
  test eax, eax
  setnz bh
  and bl, bh
  movzx ebx, bl
  SHOW "increasing", ebx
  NEWLINE
  PRINTLN "sysenter"
  ENTER_RING3 ring3_code
  PRINTLN "sysenter without SYSENTER_CS"
  WRMSR 0x174, 0, 0
  EXPECT_EXC .s1
  sysenter
.s1:
  WRMSR 0x174, 0, SEL_CODE0
  PRINTLN "sysexit at CPL 3"
  ENTER_RING3 ring3_sysexit
  ret

ring3_code:
  USER_SEGMENTS
  mov ecx, esp
  mov edx, .back
  mov ebp, 0x1234
  sysenter
.back:
  mov eax, cs
  SHOW "cs", eax
  mov eax, ss
  SHOW "ss", eax
  mov eax, USTACK_TOP
  sub eax, esp
  SHOW "esp", eax
  SHOW "ebp", ebp
  NEWLINE
  int 0x31

sysenter_entry:
  mov eax, cs
  SHOW "cs", eax
  mov eax, ss
  SHOW "ss", eax
  mov eax, esp
  SHOW "esp", eax
  pushfd
  pop eax
  and eax, 0x200
  SHOW "if", eax
  NEWLINE
  sysexit

ring3_sysexit:
  USER_SEGMENTS
  EXPECT_EXC .after
  sysexit
.after:
  int 0x31

`,
  expected: `msr
hi=00000000 lo=00000008 hi=00000000 lo=00088000 hi=00000000 lo=00000000 eip=00000000 
tsc
increasing=00000001 
sysenter
cs=00000008 ss=00000010 esp=00088000 if=00000000 
cs=0000001b ss=00000023 esp=00000000 ebp=00001234 
sysenter without SYSENTER_CS
EXC 0d 0000
sysexit at CPL 3
EXC 0d 0000
DONE
`,
};

/** LAR, LSL, VERR, VERW, ARPL, LLDT/SLDT, LTR/STR. */
export const descriptorInstructions: Scenario = {
  name: 'descriptor instructions',
  source: `
%macro TEST_GDT 0
  SEGDESC 0, 0xfff, 0x92, 0          ; 40 data DPL 0, limit 0xfff
  SEGDESC 0, 0xfffff, 0xfa, 0xc      ; 48 code DPL 3, readable, 4 GiB
  SEGDESC 0, 0x17, 0x82, 0           ; 50 LDT (base set at run time)
  SEGDESC 0, 0x67, 0x89, 0           ; 58 TSS, available (base set at run time)
  dq 0                               ; 60 call gate DPL 3 -> SEL_CODE0:0
  dq 0                               ; 68 interrupt gate (not valid in the GDT for LAR)
  SEGDESC 0, 0xfffff, 0x9c, 0xc      ; 70 code, execute-only, conforming, DPL 0
  SEGDESC 0, 0xfffff, 0x72, 0xc      ; 78 data DPL 3, not present
%endmacro

%macro PROBE 2                       ; instruction, selector
  mov eax, 0xeeeeeeee
  mov bx, %2
  %1 eax, bx
  jnz %%no
  HEX32 eax
  PRINT " "
  jmp %%done
%%no:
  PRINT "- "
%%done:
%endmacro

%macro VERIFY 2
  mov bx, %2
  %1 bx
  setz al
  movzx eax, al
  HEX8 al
  PRINT " "
%endmacro

main:
  SET_DESC_BASE 0x50, ldt_table
  SET_DESC_BASE 0x58, tss2
  SET_CALL_GATE 0x60, 0, SEL_CODE0, 0xec, 0
  SET_CALL_GATE 0x68, 0, SEL_CODE0, 0x8e, 0
  mov dword [0x1000], 0x5a5a5a5a
  PRINTLN "lar"
  PROBE lar, 0x40
  PROBE lar, 0x48
  PROBE lar, 0x50
  PROBE lar, 0x58
  PROBE lar, 0x60
  PROBE lar, 0x68
  PROBE lar, 0x70
  PROBE lar, 0x78
  PROBE lar, 0
  PROBE lar, 0x1000
  PROBE lar, 0x43
  NEWLINE
  PRINTLN "lsl"
  PROBE lsl, 0x40
  PROBE lsl, 0x48
  PROBE lsl, 0x50
  PROBE lsl, 0x58
  PROBE lsl, 0x60
  PROBE lsl, 0x78
  NEWLINE
  PRINTLN "verr verw"
  VERIFY verr, 0x40
  VERIFY verw, 0x40
  VERIFY verr, 0x48
  VERIFY verw, 0x48
  VERIFY verr, 0x70
  VERIFY verw, 0x70
  VERIFY verr, 0x50
  VERIFY verw, 0x78
  VERIFY verr, 0x43
  VERIFY verr, 0
  NEWLINE
  PRINTLN "arpl"
  mov ax, 0x40
  mov bx, 0x1b
  arpl ax, bx
  setz cl
  HEX16 ax
  PRINT " "
  HEX8 cl
  PRINT " "
  arpl ax, bx
  setz cl
  HEX8 cl
  PRINT " "
  mov word [SCRATCH], 0x10
  arpl [SCRATCH], bx
  HEX16 [SCRATCH]
  NEWLINE
  PRINTLN "ldt"
  mov ax, 0x50
  lldt ax
  mov eax, 0xffffffff
  sldt eax
  HEX32 eax
  PRINT " "
  mov eax, 0xffffffff
  sldt ax
  HEX32 eax
  PRINT " "
  PROBE lar, 0x07
  mov ax, 0x07
  mov fs, ax
  HEX32 [fs:0]
  NEWLINE
  EXPECT_EXC .l1
  mov ax, 0x40
  lldt ax
.l1:
  EXPECT_EXC .l2
  mov ax, 0x54
  lldt ax
.l2:
  xor eax, eax
  lldt ax
  EXPECT_EXC .l3
  mov ax, 0x07
  mov gs, ax
.l3:
  PRINTLN "tr"
  str eax
  HEX32 eax
  PRINT " "
  HEX8 [gdt + 0x58 + 5]
  mov ax, 0x58
  ltr ax
  PRINT " "
  HEX8 [gdt + 0x58 + 5]
  PRINT " "
  str ax
  HEX16 ax
  NEWLINE
  EXPECT_EXC .t1
  mov ax, SEL_TSS
  ltr ax
.t1:
  EXPECT_EXC .t2
  mov ax, 0x40
  ltr ax
.t2:
  and byte [gdt + SEL_TSS + 5], ~2
  mov ax, SEL_TSS
  ltr ax
  PRINTLN "ring 3"
  ENTER_RING3 ring3_code
  ret

ring3_code:
  USER_SEGMENTS
  PROBE lar, 0x40
  PROBE lar, 0x48
  PROBE lar, 0x4b
  PROBE lar, 0x70
  PROBE lsl, 0x58
  VERIFY verr, 0x4b
  VERIFY verr, 0x40
  VERIFY verr, 0x73
  NEWLINE
  EXPECT_EXC .r1
  mov ax, 0x50
  lldt ax
.r1:
  EXPECT_EXC .r2
  mov ax, SEL_TSS
  ltr ax
.r2:
  str ax
  HEX16 ax
  NEWLINE
  int 0x31

align 8
ldt_table:
  SEGDESC 0x1000, 0xff, 0xf2, 0      ; LDT 0: data DPL 3 at 0x1000
  SEGDESC 0, 0xfffff, 0xfa, 0xc
  SEGDESC 0, 0xfffff, 0xf2, 0xc
align 16
tss2:
  times 104 db 0
`,
  expected: `lar
00009200 00c0fa00 00008200 00008900 0000ec00 - 00c09c00 00c07200 - - - 
lsl
00000fff ffffffff 00000017 00000067 - ffffffff 
verr verw
01 01 01 00 00 00 00 01 00 00 
arpl
0043 01 00 0013
ldt
00000050 ffff0050 0000f200 5a5a5a5a
EXC 0d 0040
EXC 0d 0054
EXC 0d 0004
tr
00000028 89 8b 0058
EXC 0d 0028
EXC 0d 0040
ring 3
- 00c0fa00 00c0fa00 00c09c00 - 01 00 00 
EXC 0d 0000
EXC 0d 0000
0028
DONE
`,
};

/** FXSAVE/FXRSTOR: #NM on CR0.TS and CR0.EM (P6), #GP on a misaligned operand, the control word round trip. */
export const fxsaveChecks: Scenario = {
  name: 'FXSAVE and FXRSTOR',
  source: `
main:
  mov eax, cr4
  or eax, 0x200
  mov cr4, eax
  fninit
  mov edi, SCRATCH
  EXPECT_EXC .a
  fxsave [edi + 8]
.a:
  mov eax, cr0
  or eax, 8
  mov cr0, eax
  EXPECT_EXC .b
  fxsave [edi]
.b:
  clts
  mov eax, cr0
  or eax, 4
  mov cr0, eax
  EXPECT_EXC .c
  fxrstor [edi]
.c:
  mov eax, cr0
  and eax, ~4
  mov cr0, eax
  fxsave [edi]
  HEX16 [edi]
  PRINT " "
  mov word [edi], 0x027f
  fxrstor [edi]
  fnstcw [edi + 600]
  HEX16 [edi + 600]
  NEWLINE
  fninit
  ret
`,
  expected: `EXC 0d 0000
EXC 07
EXC 07
037f 027f
DONE
`,
};

/** CPUID as docs/cpu-system.md lists it; RDPMC. */
export const cpuidValues: Scenario = {
  name: 'CPUID',
  interpOnly: "reports this CPU model, not QEMU's",
  source: `
%macro LEAF 1
  mov eax, %1
  cpuid
  HEX32 eax
  PRINT " "
  HEX32 ebx
  PRINT " "
  HEX32 ecx
  PRINT " "
  HEX32 edx
  NEWLINE
%endmacro

main:
  LEAF 0
  LEAF 1
  LEAF 2
  LEAF 3
  LEAF 0x80000000
  LEAF 0x80000001
  LEAF 0x80000005
  mov edi, SCRATCH
  mov esi, 0x80000002
.brand:
  mov eax, esi
  cpuid
  mov [edi], eax
  mov [edi + 4], ebx
  mov [edi + 8], ecx
  mov [edi + 12], edx
  add edi, 16
  inc esi
  cmp esi, 0x80000005
  jb .brand
  mov esi, SCRATCH
  call puts
  NEWLINE
  xor ecx, ecx
  rdpmc
  HEX32 eax
  NEWLINE
  EXPECT_EXC .p
  mov ecx, 2
  rdpmc
.p:
  ret
`,
  expected: `00000002 756e6547 6c65746e 49656e69
00000652 00000000 00000000 0100a93d
03020101 00000000 00000000 0c040843
03020101 00000000 00000000 0c040843
80000004 00000000 00000000 00000000
00000000 00000000 00000000 00000000
03020101 00000000 00000000 0c040843
LilyVM IA-32 interpreter
00000000
EXC 0d 0000
DONE
`,
};

/** Architectural behaviour QEMU 7.2's TCG does not reproduce. */
export const qemuDivergences: Scenario = {
  name: 'unknown MSRs, TSC writes, ICEBP, LTR with a null selector',
  interpOnly: 'QEMU 7.2 TCG ignores unknown MSRs, does not apply TSC writes for this model, treats ICEBP as a debugger exit and accepts LTR 0',
  source: `
%macro WRMSR 3
  mov ecx, %1
  mov edx, %2
  mov eax, %3
  wrmsr
%endmacro

main:
  PRINTLN "unknown msr"
  EXPECT_EXC .m1
  mov ecx, 0x1234
  rdmsr
.m1:
  EXPECT_EXC .m2
  WRMSR 0x1234, 0, 0
.m2:
  EXPECT_EXC .m3
  mov ecx, 0x1b
  rdmsr
.m3:
  PRINTLN "tsc write"
  WRMSR 0x10, 5, 0
  rdtsc
  SHOW "hi", edx
  cmp eax, 0x1000000
  setb bl
  movzx ebx, bl
  SHOW "small lo", ebx
  mov ecx, 0x10
  rdmsr
  SHOW "msr hi", edx
  NEWLINE
  PRINTLN "microcode revision"
  WRMSR 0x8b, 0, 0
  mov eax, 1
  cpuid
  mov ecx, 0x8b
  rdmsr
  SHOW "rev", edx
  NEWLINE
  PRINTLN "icebp"
  ENTER_RING3 ring3_icebp
  PRINTLN "ltr 0"
  EXPECT_EXC .t
  xor ax, ax
  ltr ax
.t:
  ret

ring3_icebp:
  USER_SEGMENTS
  EXPECT_EXC 1
  int1
  PRINTLN "back"
  int 0x31
`,
  expected: `unknown msr
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
tsc write
hi=00000005 small lo=00000001 msr hi=00000005 
microcode revision
rev=00000000 
icebp
EXC 01
back
ltr 0
EXC 0d 0000
DONE
`,
};
