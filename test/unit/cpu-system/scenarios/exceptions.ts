import type { Scenario } from './types.ts';

/**
 * Shared by the scenarios below. FAULT_AT resume: the next instruction must fault
 * (or trap); the handler continues at resume. The hook prints where the pushed EIP
 * points, relative to that instruction: 0 for a fault, its length for a trap.
 */
const common = `
%macro FAULT_AT 1
  mov dword [mark], %%insn
  EXPECT_EXC %1
%%insn:
%endmacro

show_eip:
  mov eax, [ebp + FRAME_EIP]
  sub eax, [mark]
  SHOW "at", eax
  NEWLINE
  ret

align 4
mark: dd 0
`;

/**
 * Every exception this CPU can raise (#MC and #XM need machine checks and SSE,
 * which CPUID does not report), with its error code and whether the pushed EIP
 * is the instruction (fault) or the next one (trap). #DB, #DF, #NP, #SS, #GP, #PF
 * and #TS have their own scenarios as well.
 */
export const exceptionVectors: Scenario = {
  name: 'every exception with its error code',
  source: common + `
main:
  mov dword [exc_hook], show_eip
  PRINTLN "#DE"
  xor edx, edx
  mov eax, 1
  xor ecx, ecx
  FAULT_AT .de1
  div ecx
.de1:
  mov eax, 0x80000000
  cdq
  mov ecx, -1
  FAULT_AT .de2
  idiv ecx
.de2:
  mov eax, 0x1000
  mov cl, 2
  FAULT_AT .de3
  div cl
.de3:
  FAULT_AT .de4
  aam 0
.de4:
  SHOW "eax", eax
  SHOW "edx", edx
  NEWLINE

  PRINTLN "#BP and #OF"
  mov dword [mark], .bp1
  EXPECT_EXC 1
.bp1:
  int3
  mov dword [mark], .bp2
  EXPECT_EXC 1
.bp2:
  int 3
  mov al, 0x7f
  add al, 1
  mov dword [mark], .of1
  EXPECT_EXC 1
.of1:
  into
  xor eax, eax
  into
  PRINTLN "no overflow, no #OF"

  PRINTLN "#BR"
  mov eax, 5
  FAULT_AT .br1
  bound eax, [bounds32]
.br1:
  mov eax, 21
  FAULT_AT .br2
  bound eax, [bounds32]
.br2:
  mov eax, 10
  bound eax, [bounds32]
  mov eax, 20
  bound eax, [bounds32]
  mov ax, -3
  FAULT_AT .br3
  bound ax, [bounds16]
.br3:
  mov ax, -2
  bound ax, [bounds16]
  PRINTLN "in bounds"

  PRINTLN "#UD"
  FAULT_AT .ud1
  ud2
.ud1:
  FAULT_AT .ud2
  db 0x62, 0xc0               ; bound eax, eax
.ud2:
  FAULT_AT .ud3
  db 0xf0, 0x90               ; lock nop
.ud3:
  FAULT_AT .ud4
  db 0xf0, 0x01, 0xd8         ; lock add eax, ebx
.ud4:
  FAULT_AT .ud6
  db 0x0f, 0x22, 0xc8         ; mov cr1, eax
.ud6:
  FAULT_AT .ud7
  db 0x0f, 0xc7, 0xc8         ; cmpxchg8b eax
.ud7:
  FAULT_AT .ud8
  db 0x8d, 0xc0               ; lea eax, eax
.ud8:
  FAULT_AT .ud9
  db 0x0f, 0xaa               ; rsm
.ud9:

  PRINTLN "#NM"
  mov eax, cr0
  and eax, ~0x2e              ; MP, EM, TS, NE off
  or eax, 0x08                ; TS
  mov cr0, eax
  FAULT_AT .nm1
  fld1
.nm1:
  fwait                       ; TS without MP: no #NM
  mov eax, cr0
  or eax, 0x02                ; MP
  mov cr0, eax
  FAULT_AT .nm2
  fwait
.nm2:
  clts
  mov eax, cr0
  or eax, 0x04                ; EM
  mov cr0, eax
  FAULT_AT .nm3
  fninit
.nm3:
  fwait                       ; EM alone does not affect WAIT
  mov eax, cr0
  and eax, ~0x06
  mov cr0, eax
  PRINTLN "fwait ran"

  PRINTLN "#MF"
  mov eax, cr0
  or eax, 0x20                ; NE
  mov cr0, eax
  fninit
  fldcw [cw_zm]               ; all masked but zero-divide
  fld1
  fldz
  fdivp st1, st0              ; sets ZE and ES; the fault waits for the next WAIT
  fnstsw ax
  and eax, 0x0084
  SHOW "fsw", eax
  NEWLINE
  mov dword [exc_hook], fpu_clear
  FAULT_AT .mf1
  fwait
.mf1:
  fnstsw ax
  and eax, 0x0084
  SHOW "fsw after fnclex", eax
  NEWLINE
  mov dword [exc_hook], show_eip
  fninit
  mov eax, cr0
  and eax, ~0x20
  mov cr0, eax

  PRINTLN "#AC"
  mov eax, cr0
  or eax, 0x40000             ; AM
  mov cr0, eax
  ENTER_RING3 ring3_ac
  mov eax, cr0
  and eax, ~0x40000
  mov cr0, eax
  SHOW "faults", [ac_faults]
  NEWLINE

  PRINTLN "#GP for INT n at CPL 3 through a DPL 0 gate"
  ENTER_RING3 ring3_int
  mov dword [exc_hook], 0
  ret

fpu_clear:
  call show_eip
  fnclex
  ret

; CPL 3 with EFLAGS.AC: unaligned data accesses fault with #AC(0); aligned ones,
; or any access with AC clear, do not.
ring3_ac:
  USER_SEGMENTS
  pushfd
  or dword [esp], 0x40000
  popfd
  mov eax, [exc_count]
  mov [ac_base], eax
  FAULT_AT .a1
  mov eax, [scratch + 1]
.a1:
  FAULT_AT .a2
  mov word [scratch + 3], ax
.a2:
  mov eax, [scratch + 4]
  mov ax, [scratch + 2]
  mov al, [scratch + 3]
  pushfd
  and dword [esp], ~0x40000
  popfd
  mov eax, [scratch + 1]
  mov eax, [exc_count]
  sub eax, [ac_base]
  mov [ac_faults], eax
  int 0x31

ring3_int:
  USER_SEGMENTS
  FAULT_AT .i1
  int3
.i1:
  mov al, 0x7f
  add al, 1
  FAULT_AT .i2
  into
.i2:
  FAULT_AT .i3
  int 0x20
.i3:
  FAULT_AT .i4
  int 0xff
.i4:
  int 0x31

align 4
bounds32: dd 10, 20
bounds16: dw -2, 7
cw_zm: dw 0x037b
align 4
scratch: times 4 dd 0
ac_base: dd 0
ac_faults: dd 0
`,
  expected: `#DE
EXC 00
at=00000000 
EXC 00
at=00000000 
EXC 00
at=00000000 
EXC 00
at=00000000 
eax=00001000 edx=ffffffff 
#BP and #OF
EXC 03
at=00000001 
EXC 03
at=00000002 
EXC 04
at=00000001 
no overflow, no #OF
#BR
EXC 05
at=00000000 
EXC 05
at=00000000 
EXC 05
at=00000000 
in bounds
#UD
EXC 06
at=00000000 
EXC 06
at=00000000 
EXC 06
at=00000000 
EXC 06
at=00000000 
EXC 06
at=00000000 
EXC 06
at=00000000 
EXC 06
at=00000000 
EXC 06
at=00000000 
#NM
EXC 07
at=00000000 
EXC 07
at=00000000 
EXC 07
at=00000000 
fwait ran
#MF
fsw=00000084 
EXC 10
at=00000000 
fsw after fnclex=00000000 
#AC
EXC 11 0000
at=00000000 
EXC 11 0000
at=00000000 
faults=00000002 
#GP for INT n at CPL 3 through a DPL 0 gate
EXC 0d 001a
at=00000000 
EXC 0d 0022
at=00000000 
EXC 0d 0102
at=00000000 
EXC 0d 07fa
at=00000000 
DONE
`,
  qemuKnown: [{
    expected: 'EXC 11 0000\nat=00000000 \nEXC 11 0000\nat=00000000 \nfaults=00000002 ',
    qemu: 'faults=00000000 ',
    why: 'QEMU 7.2 TCG has no alignment check: CR0.AM and EFLAGS.AC never raise #AC',
  }],
};

/**
 * The I/O permission bitmap at CPL 3 with IOPL 0: byte, word and dword ports,
 * an access whose bits span two bitmap bytes, string I/O, a map base past the TSS
 * limit, the second bitmap byte that every check reads, and IOPL 3 bypassing the map.
 * Each access logs r (ran) or f (#GP) in a buffer that ring 0 prints, since
 * a short TSS closes the debug console port as well.
 */
export const ioBitmap: Scenario = {
  name: 'I/O permission bitmap',
  source: common + `
IOMAP_OFF equ tss_iomap - tss

%macro IO 1
  EXPECT_EXC %%faulted
  %1
  mov dword [exc_action], 0
  mov byte [edi], 'r'
  jmp %%next
%%faulted:
  mov byte [edi], 'f'
%%next:
  inc edi
%endmacro

; SET_TSS_LIMIT limit: rewrite the TSS descriptor's limit and reload TR.
%macro SET_TSS_LIMIT 1
  mov word [gdt + SEL_TSS], %1
  and byte [gdt + SEL_TSS + 5], ~2
  mov ax, SEL_TSS
  ltr ax
%endmacro

%macro RESULT 1
  PRINT {%1, ": "}
  mov byte [edi], 0
  mov esi, results
  call puts
  NEWLINE
  mov edi, results
%endmacro

main:
  mov edi, results
  ; Ports 0x80-0x8f: open 0x80, 0x81, 0x87; 0x82-0x86 and 0x88-0x8f stay closed.
  mov byte [tss_iomap + 0x10], 0xff & ~0x83
  PRINTLN "bitmap at CPL 3"
  ENTER_RING3 ring3_io
  RESULT "out al/ax/eax 80, ax 81, ax 87, in al 87, outsb 80, outsw 81, rep outsb 80"
  ENTER_RING3 ring3_io, 3
  RESULT "same with IOPL 3"
  PRINTLN "map base past the TSS limit"
  mov word [tss + 102], 0xffff
  ENTER_RING3 ring3_io
  mov word [tss + 102], IOMAP_OFF
  RESULT "all"
  PRINTLN "the second bitmap byte past the limit"
  SET_TSS_LIMIT IOMAP_OFF + 0x10
  ENTER_RING3 ring3_io
  SET_TSS_LIMIT IOMAP_OFF + 0x11
  ENTER_RING3 ring3_io
  SET_TSS_LIMIT tss_end - tss - 1
  RESULT "limit at 80's byte, then one more"
  ret

ring3_io:
  USER_SEGMENTS
  mov esi, out_bytes
  mov dx, 0x80
  IO {out 0x80, al}
  IO {out 0x80, ax}
  IO {out 0x80, eax}
  IO {out 0x81, ax}
  IO {out 0x87, ax}
  IO {in al, 0x87}
  mov dx, 0x80
  IO {outsb}
  mov dx, 0x81
  IO {outsw}
  mov dx, 0x80
  mov ecx, 2
  IO {rep outsb}
  int 0x31

align 4
out_bytes: times 16 db 0
results: times 64 db 0
`,
  expected: `bitmap at CPL 3
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
out al/ax/eax 80, ax 81, ax 87, in al 87, outsb 80, outsw 81, rep outsb 80: rrfffrrfr
same with IOPL 3: rrrrrrrrr
map base past the TSS limit
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
all: fffffffff
the second bitmap byte past the limit
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
EXC 0d 0000
limit at 80's byte, then one more: fffffffffrrfffrrfr
DONE
`,
};
