// Every guest-visible address, port and IRQ of the LilyVM PC, in one place.

/** Guest RAM limits. Without PAE or HIGHMEM a 32-bit kernel maps at most ~896 MiB directly. */
export const RAM_MIN_BYTES = 32 * 1024 * 1024;
export const RAM_MAX_BYTES = 2048 * 1024 * 1024;

/** Conventional memory ends here; 0xA0000..0x100000 is the legacy VGA/ROM hole (e820 reserved). */
export const LOW_RAM_END = 0x9fc00;
export const LEGACY_HOLE_START = 0xa0000;
export const HIGH_RAM_START = 0x100000;

/** ACPI tables, in the e820-reserved BIOS area where Linux scans for the RSDP (16-byte aligned). */
export const ACPI_RSDP_ADDR = 0xf0000;
export const ACPI_TABLES_ADDR = 0xf0040;
/** The sleep type that _S5 names (written to PM1a_CNT.SLP_TYP to power off), and the SCI's IRQ. */
export const ACPI_SLP_TYP_S5 = 5;
export const ACPI_SCI_IRQ = 9;

/** Linux boot protocol placement (Documentation/arch/x86/boot.rst). */
export const BOOT_PARAMS_ADDR = 0x7000; // struct boot_params ("zero page")
export const BOOT_CMDLINE_ADDR = 0x20000;
export const BOOT_CMDLINE_MAX_BYTES = 0x10000;
export const BOOT_GDT_ADDR = 0x6000; // flat GDT for the 32-bit entry
export const BOOT_STACK_TOP = 0x9000;
export const KERNEL_LOAD_ADDR = 0x100000; // protected-mode kernel (code32_start)

/** Window for PCI memory BARs, allocated bottom-up by the PCI host bridge. */
export const PCI_MMIO_BASE = 0xe000_0000;
export const PCI_MMIO_SIZE = 0x1000_0000;

/** Port I/O map. */
export const PORT_PIC_MASTER = 0x20; // 2 ports
export const PORT_PIC_SLAVE = 0xa0; // 2 ports
export const PORT_PIC_ELCR = 0x4d0; // 2 ports, edge/level control
export const PORT_PIT = 0x40; // 4 ports
export const PORT_SYSTEM_CONTROL_B = 0x61; // PIT channel 2 gate and output, speaker
export const PORT_I8042_DATA = 0x60;
export const PORT_I8042_COMMAND = 0x64;
export const PORT_RTC = 0x70; // 2 ports: index, data
export const PORT_POST = 0x80; // POST code / I/O delay, writes ignored
export const PORT_COM1 = 0x3f8;
export const PORT_COM2 = 0x2f8;
export const PORT_COM3 = 0x3e8;
export const PORT_COM4 = 0x2e8;
export const PORT_PCI_CONFIG_ADDRESS = 0xcf8; // 4 ports
export const PORT_PCI_CONFIG_DATA = 0xcfc; // 4 ports
export const PORT_RESET_CONTROL = 0xcf9; // write 0x06 or 0x0e: hard reset
/** Debug exit, as QEMU's isa-debug-exit: writing V ends the run with status (V << 1) | 1. */
export const PORT_DEBUG_EXIT = 0x501;
/** ACPI PM1a event (4 bytes), PM1a control (2) and PM timer (4) registers, as QEMU's PIIX4 places them. */
export const PORT_ACPI_PM = 0x600;
export const PORT_ACPI_PM1A_EVT = PORT_ACPI_PM;
export const PORT_ACPI_PM1A_CNT = PORT_ACPI_PM + 4;
export const PORT_ACPI_PM_TMR = PORT_ACPI_PM + 8;
/** Window for PCI I/O BARs. */
export const PCI_IO_BASE = 0xc000;
export const PCI_IO_SIZE = 0x1000;

/** ISA IRQ numbers on the 8259A pair. */
export const IRQ_PIT = 0;
export const IRQ_KEYBOARD = 1;
export const IRQ_COM2 = 3; // COM2 and COM4
export const IRQ_COM1 = 4; // COM1 and COM3
export const IRQ_RTC = 8;
export const IRQ_MOUSE = 12;
/** PCI INTx lines are routed to these IRQs (level-triggered, set in ELCR), by slot. */
export const PCI_IRQS = [10, 11, 5, 9] as const;

/** Serial ports: base port and IRQ. */
export const COM_PORTS = [
  { port: PORT_COM1, irq: IRQ_COM1 },
  { port: PORT_COM2, irq: IRQ_COM2 },
  { port: PORT_COM3, irq: IRQ_COM1 },
  { port: PORT_COM4, irq: IRQ_COM2 },
] as const;

/** Nominal TSC frequency reported to the guest: the TSC counts virtual time at this rate. */
export const TSC_HZ = 1_000_000_000;
