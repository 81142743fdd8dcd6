// IA-32 architectural constants (Intel SDM Vol. 3A).

export const FLAG_CF = 0x1;
export const FLAG_FIXED = 0x2; // bit 1 always reads 1
export const FLAG_PF = 0x4;
export const FLAG_AF = 0x10;
export const FLAG_ZF = 0x40;
export const FLAG_SF = 0x80;
export const FLAG_TF = 0x100;
export const FLAG_IF = 0x200;
export const FLAG_DF = 0x400;
export const FLAG_OF = 0x800;
export const FLAG_IOPL = 0x3000;
export const FLAG_NT = 0x4000;
export const FLAG_RF = 0x10000;
export const FLAG_VM = 0x20000;
export const FLAG_AC = 0x40000;
export const FLAG_VIF = 0x80000;
export const FLAG_VIP = 0x100000;
export const FLAG_ID = 0x200000;
/** The six arithmetic status flags. */
export const FLAGS_ARITH = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;
/** Flags this CPU implements (a P6 without VME: VIF/VIP stay clear). */
export const FLAGS_SUPPORTED =
  FLAGS_ARITH | FLAG_TF | FLAG_IF | FLAG_DF | FLAG_IOPL | FLAG_NT | FLAG_RF | FLAG_VM | FLAG_AC | FLAG_ID;

export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;

export const CR4_VME = 1 << 0;
export const CR4_PVI = 1 << 1;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_MCE = 1 << 6;
export const CR4_PGE = 1 << 7;
export const CR4_PCE = 1 << 8;
export const CR4_OSFXSR = 1 << 9;
export const CR4_OSXMMEXCPT = 1 << 10;
/** CR4 bits a guest may set on this CPU; others raise #GP. */
export const CR4_SUPPORTED = CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_PCE | CR4_OSFXSR;

/** Segment register numbers, in ModRM.reg / instruction encoding order. */
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;

/** General registers in encoding order. */
export const EAX = 0;
export const ECX = 1;
export const EDX = 2;
export const EBX = 3;
export const ESP = 4;
export const EBP = 5;
export const ESI = 6;
export const EDI = 7;
export const REG32_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** Exception vectors. */
export const EXC_DE = 0;
export const EXC_DB = 1;
export const EXC_NMI = 2;
export const EXC_BP = 3;
export const EXC_OF = 4;
export const EXC_BR = 5;
export const EXC_UD = 6;
export const EXC_NM = 7;
export const EXC_DF = 8;
export const EXC_TS = 10;
export const EXC_NP = 11;
export const EXC_SS = 12;
export const EXC_GP = 13;
export const EXC_PF = 14;
export const EXC_MF = 16;
export const EXC_AC = 17;
export const EXC_MC = 18;
export const EXC_XM = 19;

/** Page-fault error code bits. */
export const PF_P = 1;
export const PF_W = 2;
export const PF_U = 4;
export const PF_RSVD = 8;

/** Descriptor access byte (bits 40..47) in bits 0..7 and the flags nibble (bits 52..55) in bits 12..15, as one number. */
export const DESC_A = 0x01; // accessed (code/data)
export const DESC_RW = 0x02; // data: writable; code: readable
export const DESC_DC = 0x04; // data: expand-down; code: conforming
export const DESC_CODE = 0x08;
export const DESC_S = 0x10; // code/data (1) vs system (0)
export const DESC_DPL_SHIFT = 5;
export const DESC_P = 0x80;
export const DESC_AVL = 0x1000;
export const DESC_DB = 0x4000; // default operation size / big
export const DESC_G = 0x8000; // granularity 4 KiB

/** System descriptor types (access & 0x1f with S clear). */
export const SYS_TSS16_AVAIL = 0x01;
export const SYS_LDT = 0x02;
export const SYS_TSS16_BUSY = 0x03;
export const SYS_CALL_GATE16 = 0x04;
export const SYS_TASK_GATE = 0x05;
export const SYS_INT_GATE16 = 0x06;
export const SYS_TRAP_GATE16 = 0x07;
export const SYS_TSS32_AVAIL = 0x09;
export const SYS_TSS32_BUSY = 0x0b;
export const SYS_CALL_GATE32 = 0x0c;
export const SYS_INT_GATE32 = 0x0e;
export const SYS_TRAP_GATE32 = 0x0f;

/** MSRs this CPU implements. */
export const MSR_TSC = 0x10;
export const MSR_APIC_BASE = 0x1b;
export const MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176;
