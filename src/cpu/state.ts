/** The CPU's architectural state as plain data (snapshot format, engine independent). */
export interface CpuState {
  version: 1;
  /** EAX..EDI as signed int32. */
  regs: number[];
  eip: number;
  eflags: number;
  /** ES, CS, SS, DS, FS, GS: selector and hidden descriptor cache (limit in bytes - 1, access as in segAccess). */
  segments: { selector: number; base: number; limit: number; access: number }[];
  gdt: { base: number; limit: number };
  idt: { base: number; limit: number };
  ldt: { selector: number; base: number; limit: number };
  tr: { selector: number; base: number; limit: number; access: number };
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  dr: number[];
  cpl: number;
  msr: { sysenterCs: number; sysenterEsp: number; sysenterEip: number; tscOffset: number };
  halted: boolean;
  irqInhibit: number;
  instructionsRetired: number;
  fpu: unknown;
}
