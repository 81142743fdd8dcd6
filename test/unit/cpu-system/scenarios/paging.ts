import type { Scenario } from './types.ts';

/**
 * Page tables shared by the paging scenarios (built at run time):
 *   0-4 MiB      identity, 4 KiB pages, user read/write (code, stacks, tables of the prelude)
 *   4-8 MiB      identity, one 4 MiB supervisor page (the page tables themselves)
 *   0xC0000000   PT at PT_AREA + 0x2000: page n -> 0x500000 + n * 4 KiB with the flags in pte_flags
 *   0x80000000   one 4 MiB supervisor page -> 8 MiB
 * Physical page 0x500000 + n * 4 KiB starts with the marker 0x11110000 + n * 0x1000.
 */
const tables = `
PD       equ PT_AREA
PT_LOW   equ PT_AREA + 0x1000
PT_HIGH  equ PT_AREA + 0x2000
LIN      equ 0xc0000000
BIG      equ 0x80000000

; PTE index of LIN + n * 4 KiB
%define PTE(n) (PT_HIGH + (n) * 4)

build_tables:
  mov edi, PT_AREA
  mov ecx, 3 * 1024
  xor eax, eax
  rep stosd
  mov edi, PT_LOW
  mov eax, 7
.low:
  mov [edi], eax
  add edi, 4
  add eax, 0x1000
  cmp edi, PT_LOW + 4096
  jb .low
  mov dword [PD], PT_LOW | 7
  mov dword [PD + 4], 0x400000 | 0x83
  mov dword [PD + (LIN >> 22) * 4], PT_HIGH | 7
  mov dword [PD + (BIG >> 22) * 4], 0x800000 | 0x83
  xor ecx, ecx
.high:
  mov eax, ecx
  shl eax, 12
  add eax, 0x500000
  mov edx, eax
  add edx, 0x11110000 - 0x500000
  mov [eax], edx
  or eax, [pte_flags + ecx * 4]
  mov [PTE(ecx)], eax
  inc ecx
  cmp ecx, 8
  jb .high
  mov dword [0x800000], 0x88880000
  mov dword [0xc00000], 0xcccc0000
  ret

enable_paging:
  mov eax, PD
  mov cr3, eax
  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  ret

disable_paging:
  mov eax, cr0
  and eax, ~0x80010000
  mov cr0, eax
  ret

align 4
;               P|RW    P       P|U     P|RW|U  absent  P|RW    P|RW    P|RW
pte_flags: dd   3,      1,      5,      7,      0,      3,      3,      3
`;

/** 4 KiB and 4 MiB pages, A/D bits, U/S, R/W, CR0.WP, #PF error codes and CR2, INVLPG and CR3 loads. */
export const paging: Scenario = {
  name: 'paging',
  source: tables + `
%macro SHOW_LOW12 2
  mov eax, %2
  and eax, 0xfff
  SHOW %1, eax
%endmacro

main:
  call build_tables
  call enable_paging
  PRINTLN "accessed and dirty"
  SHOW_LOW12 "pte", [PTE(0)]
  SHOW_LOW12 "pde", [PD + (LIN >> 22) * 4]
  mov eax, [LIN]
  SHOW "read", eax
  SHOW_LOW12 "pte", [PTE(0)]
  SHOW_LOW12 "pde", [PD + (LIN >> 22) * 4]
  mov dword [LIN + 4], 1
  SHOW_LOW12 "pte", [PTE(0)]
  SHOW_LOW12 "pde", [PD + (LIN >> 22) * 4]
  NEWLINE
  PRINTLN "4 MiB page"
  SHOW_LOW12 "pde", [PD + (BIG >> 22) * 4]
  mov eax, [BIG]
  SHOW "read", eax
  SHOW_LOW12 "pde", [PD + (BIG >> 22) * 4]
  mov dword [BIG + 0x3ff000], 1
  SHOW_LOW12 "pde", [PD + (BIG >> 22) * 4]
  NEWLINE
  PRINTLN "supervisor writes and CR0.WP"
  mov dword [LIN + 0x1000 + 4], 2
  SHOW_LOW12 "pte", [PTE(1)]
  mov eax, cr0
  or eax, 0x10000
  mov cr0, eax
  EXPECT_EXC .wp
  mov dword [LIN + 0x1000 + 4], 3
.wp:
  mov eax, cr0
  and eax, ~0x10000
  mov cr0, eax
  NEWLINE
  PRINTLN "not present"
  EXPECT_EXC .np1
  mov eax, [LIN + 0x4000]
.np1:
  EXPECT_EXC .np2
  mov dword [LIN + 0x4000], 0
.np2:
  PRINTLN "access crossing into an absent page"
  mov dword [LIN + 0x3ffc], 0x12345678
  EXPECT_EXC .cross
  mov dword [LIN + 0x3ffe], 0xaaaaaaaa
.cross:
  HEX32 [LIN + 0x3ffc]
  NEWLINE
  PRINTLN "user accesses"
  ENTER_RING3 ring3_code
  PRINTLN "fault fixed by the handler"
  mov dword [exc_hook], fix_pte4
  EXPECT_EXC 1
  mov eax, [LIN + 0x4000]
  mov dword [exc_hook], 0
  SHOW "read", eax
  NEWLINE
  PRINTLN "invlpg"
  mov eax, [LIN]
  mov dword [PTE(0)], 0x506003
  invlpg [LIN]
  mov eax, [LIN]
  SHOW "new", eax
  mov dword [PTE(0)], 0x500003
  mov eax, cr3
  mov cr3, eax
  mov eax, [LIN]
  SHOW "cr3 reload", eax
  NEWLINE
  PRINTLN "invlpg in a 4 MiB page"
  mov eax, [BIG]
  mov dword [PD + (BIG >> 22) * 4], 0xc00083
  invlpg [BIG + 0x1000]
  mov eax, [BIG]
  SHOW "read", eax
  NEWLINE
  PRINTLN "CR4.PGE toggled"
  mov eax, cr4
  or eax, 0x80
  mov cr4, eax
  or dword [PTE(5)], 0x100
  mov eax, [LIN + 0x5000]
  mov dword [PTE(5)], 0x506103
  mov eax, cr4
  and eax, ~0x80
  mov cr4, eax
  mov eax, [LIN + 0x5000]
  SHOW "read", eax
  NEWLINE
  call disable_paging
  ret

fix_pte4:
  PRINTLN "hook"
  or dword [PTE(4)], 1
  ret

ring3_code:
  USER_SEGMENTS
  EXPECT_EXC .u1
  mov eax, [LIN]
.u1:
  EXPECT_EXC .u2
  mov dword [LIN], 0
.u2:
  mov eax, [LIN + 0x2000]
  SHOW "user ro", eax
  NEWLINE
  EXPECT_EXC .u3
  mov dword [LIN + 0x2000], 0
.u3:
  mov dword [LIN + 0x3000], 0x33
  mov eax, [LIN + 0x3000]
  SHOW "user rw", eax
  NEWLINE
  EXPECT_EXC .u4
  mov eax, [LIN + 0x4000]
.u4:
  EXPECT_EXC .u5
  mov dword [LIN + 0x4000], 0
.u5:
  EXPECT_EXC .u6
  mov eax, [BIG]
.u6:
  EXPECT_EXC .u7
  mov eax, [PD]
.u7:
  int 0x31
`,
  expected: `accessed and dirty
pte=00000003 pde=00000007 read=11110000 pte=00000023 pde=00000027 pte=00000063 pde=00000027 
4 MiB page
pde=00000083 read=88880000 pde=000000a3 pde=000000e3 
supervisor writes and CR0.WP
pte=00000061 EXC 0e 0003 cr2=c0001004

not present
EXC 0e 0000 cr2=c0004000
EXC 0e 0002 cr2=c0004000
access crossing into an absent page
EXC 0e 0002 cr2=c0004000
12345678
user accesses
EXC 0e 0005 cr2=c0000000
EXC 0e 0007 cr2=c0000000
user ro=11112000 
EXC 0e 0007 cr2=c0002000
user rw=00000033 
EXC 0e 0004 cr2=c0004000
EXC 0e 0006 cr2=c0004000
EXC 0e 0005 cr2=80000000
EXC 0e 0005 cr2=00400000
fault fixed by the handler
EXC 0e 0000 cr2=c0004000
hook
read=11114000 
invlpg
new=11116000 cr3 reload=11110000 
invlpg in a 4 MiB page
read=cccc0000 
CR4.PGE toggled
read=11116000 
DONE
`,
};

/** What the TLB keeps: a stale entry until INVLPG, and a global page across a CR3 load (the architecture allows but does not require either). */
export const tlbRetention: Scenario = {
  name: 'TLB retention',
  interpOnly: "stale and global TLB entries may be dropped at any time, so only this TLB's own choices are checked",
  source: tables + `
main:
  call build_tables
  call enable_paging
  mov eax, [LIN]
  mov dword [PTE(0)], 0x506003
  mov eax, [LIN]
  SHOW "stale", eax
  invlpg [LIN]
  mov eax, [LIN]
  SHOW "fresh", eax
  NEWLINE
  mov eax, cr4
  or eax, 0x80
  mov cr4, eax
  or dword [PTE(5)], 0x100
  mov eax, [LIN + 0x5000]
  mov eax, [LIN + 0x6000]
  mov dword [PTE(5)], 0x507103
  mov dword [PTE(6)], 0x507003
  mov eax, cr3
  mov cr3, eax
  mov eax, [LIN + 0x5000]
  SHOW "global", eax
  mov eax, [LIN + 0x6000]
  SHOW "not global", eax
  invlpg [LIN + 0x5000]
  mov eax, [LIN + 0x5000]
  SHOW "after invlpg", eax
  NEWLINE
  call disable_paging
  ret
`,
  expected: `stale=11110000 fresh=11116000 
global=11115000 not global=11117000 after invlpg=11117000 
DONE
`,
};
