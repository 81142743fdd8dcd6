// CPUID as this CPU answers it (Intel SDM Vol. 2 CPUID; AP-485). Reports only what the interpreter implements.

/** Leaf 1 EDX feature bits. */
export const CPUID_FPU = 1 << 0;
export const CPUID_VME = 1 << 1;
export const CPUID_DE = 1 << 2;
export const CPUID_PSE = 1 << 3;
export const CPUID_TSC = 1 << 4;
export const CPUID_MSR = 1 << 5;
export const CPUID_PAE = 1 << 6;
export const CPUID_MCE = 1 << 7;
export const CPUID_CX8 = 1 << 8;
export const CPUID_APIC = 1 << 9;
export const CPUID_SEP = 1 << 11;
export const CPUID_MTRR = 1 << 12;
export const CPUID_PGE = 1 << 13;
export const CPUID_MCA = 1 << 14;
export const CPUID_CMOV = 1 << 15;
export const CPUID_PAT = 1 << 16;
export const CPUID_PSE36 = 1 << 17;
export const CPUID_MMX = 1 << 23;
export const CPUID_FXSR = 1 << 24;
export const CPUID_SSE = 1 << 25;

export const CPUID_VENDOR = 'GenuineIntel';
/** Family 6, model 5, stepping 2: a Pentium II (Deschutes), the first P6 with FXSAVE. */
export const CPUID_SIGNATURE = 0x652;
export const CPUID_MAX_BASIC_LEAF = 2;
export const CPUID_MAX_EXTENDED_LEAF = 0x80000004;
export const CPUID_FEATURES_EDX =
  CPUID_FPU | CPUID_DE | CPUID_PSE | CPUID_TSC | CPUID_MSR | CPUID_CX8 | CPUID_SEP | CPUID_PGE | CPUID_CMOV | CPUID_FXSR;
/**
 * Leaf 2 cache and TLB descriptors of a Pentium II: 01 ITLB 4K/32, 02 ITLB 4M/2,
 * 03 DTLB 4K/64, 43 L2 512K, 08 L1I 16K, 04 DTLB 4M/8, 0C L1D 16K.
 */
export const CPUID_LEAF2 = [0x03020101, 0, 0, 0x0c040843] as const;
export const CPUID_BRAND = 'LilyVM IA-32 interpreter';

function ascii4(s: string, at: number): number {
  let v = 0;
  for (let i = 0; i < 4; i++) v |= (s.charCodeAt(at + i) || 0) << (8 * i);
  return v | 0;
}

/** The four result registers [EAX, EBX, ECX, EDX] (signed int32) for CPUID leaf (EAX). */
export function cpuid(leaf: number): [number, number, number, number] {
  leaf >>>= 0;
  // Above the maximum basic or extended leaf, Intel CPUs answer the highest basic leaf.
  if ((leaf > CPUID_MAX_BASIC_LEAF && leaf < 0x80000000) || leaf > CPUID_MAX_EXTENDED_LEAF) leaf = CPUID_MAX_BASIC_LEAF;
  switch (leaf) {
    case 0:
      return [CPUID_MAX_BASIC_LEAF, ascii4(CPUID_VENDOR, 0), ascii4(CPUID_VENDOR, 8), ascii4(CPUID_VENDOR, 4)];
    case 1:
      return [CPUID_SIGNATURE, 0, 0, CPUID_FEATURES_EDX];
    case 2:
      return [...CPUID_LEAF2];
    case 0x80000000:
      return [CPUID_MAX_EXTENDED_LEAF | 0, 0, 0, 0];
    case 0x80000001:
      return [0, 0, 0, 0];
    default: {
      const brand = CPUID_BRAND.padEnd(48, '\0');
      const at = (leaf - 0x80000002) * 16;
      return [ascii4(brand, at), ascii4(brand, at + 4), ascii4(brand, at + 8), ascii4(brand, at + 12)];
    }
  }
}
