// The ACPI tables of the LilyVM PC (ACPI 6.4 chapter 5), as firmware leaves them in
// the BIOS area: RSDP -> RSDT -> FADT -> FACS and DSDT. They describe one thing, the
// power-off path (PM1a registers at PORT_ACPI_PM, src/devices/acpi-pm.ts, and an _S5
// object giving the sleep type that powers off) and the PCI host bridge, which an ACPI
// OS finds only through the DSDT. No MADT: the PIC is the interrupt controller.
import type { GuestMemory } from '../memory/guest-memory.ts';
import { PCI_SLOT_COUNT, PciHostBridge } from '../devices/pci/host-bridge.ts';
import {
  ACPI_RSDP_ADDR, ACPI_SCI_IRQ, ACPI_SLP_TYP_S5, ACPI_TABLES_ADDR, PCI_MMIO_BASE, PCI_MMIO_SIZE, PORT_ACPI_PM1A_CNT, PORT_ACPI_PM1A_EVT,
  PORT_ACPI_PM_TMR,
} from '../machine/layout.ts';

const OEM_ID = 'LILYVM';
const OEM_TABLE_ID = 'LILYVMPC';

/** FADT flags (ACPI 6.4 table 5.10). */
const FADT_WBINVD = 1 << 0;
const FADT_PROC_C1 = 1 << 2;
const FADT_PWR_BUTTON = 1 << 4; // no fixed power button
const FADT_SLP_BUTTON = 1 << 5; // no fixed sleep button

// ---- AML (ACPI 6.4 chapter 20), just the terms the DSDT needs

/** PkgLength: the length of what follows, counting the PkgLength bytes themselves. */
function withPkgLength(body: number[]): number[] {
  for (let extra = 0; extra < 4; extra++) {
    const length = body.length + 1 + extra;
    if (extra === 0 && length < 0x40) return [length, ...body];
    if (extra > 0 && length < 1 << (4 + 8 * extra)) {
      const bytes = [(extra << 6) | (length & 0x0f)];
      for (let i = 0; i < extra; i++) bytes.push((length >> (4 + 8 * i)) & 0xff);
      return [...bytes, ...body];
    }
  }
  throw new RangeError('AML package too long');
}

function amlInteger(v: number): number[] {
  if (v === 0) return [0x00];
  if (v === 1) return [0x01];
  if (v < 0x100) return [0x0a, v];
  if (v < 0x10000) return [0x0b, v & 0xff, v >> 8];
  return [0x0c, ...le32(v)];
}

const amlName = (name: string, value: number[]): number[] => [0x08, ...ascii(name), ...value];
const amlPackage = (elements: number[][]): number[] => [0x12, ...withPkgLength([elements.length, ...elements.flat()])];
const amlBuffer = (bytes: number[]): number[] => [0x11, ...withPkgLength([...amlInteger(bytes.length), ...bytes])];
const amlScope = (path: number[], body: number[]): number[] => [0x10, ...withPkgLength([...path, ...body])];
const amlDevice = (name: string, body: number[]): number[] => [0x5b, 0x82, ...withPkgLength([...ascii(name), ...body])];

function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** Word address space descriptor (bus numbers or I/O ports), fixed min and max. */
function wordSpace(type: 1 | 2, min: number, max: number): number[] {
  const typeFlags = type === 1 ? 0x03 : 0x00; // I/O: ISA and non-ISA ranges
  return [0x88, 0x0d, 0x00, type, 0x0c, typeFlags, ...le16(0), ...le16(min), ...le16(max), ...le16(0), ...le16(max - min + 1)];
}

/** DWord memory descriptor: read-write, fixed min and max. */
function dwordMemory(min: number, max: number): number[] {
  return [0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, ...le32(0), ...le32(min), ...le32(max), ...le32(0), ...le32(max - min + 1)];
}

/**
 * The DSDT's code: \_S5 (the sleep type that powers off), and \_SB.PCI0, the PCI host
 * bridge with its windows (_CRS: bus 0, the I/O ports but the configuration ones, the BAR
 * window) and its interrupt routing (_PRT: INTA of each slot to its ISA IRQ, as the host
 * bridge wires it).
 */
export function dsdtAml(): number[] {
  const s5 = amlName('_S5_', amlPackage([amlInteger(ACPI_SLP_TYP_S5), amlInteger(ACPI_SLP_TYP_S5), amlInteger(0), amlInteger(0)]));
  const crs = [
    ...wordSpace(2, 0, 0),
    ...wordSpace(1, 0x0000, 0x0cf7),
    ...wordSpace(1, 0x0d00, 0xffff),
    ...dwordMemory(PCI_MMIO_BASE, PCI_MMIO_BASE + PCI_MMIO_SIZE - 1),
    0x79, 0x00, // end tag
  ];
  const routes: number[][] = [];
  for (let slot = 1; slot < PCI_SLOT_COUNT; slot++) {
    routes.push(amlPackage([amlInteger(((slot << 16) | 0xffff) >>> 0), amlInteger(0), amlInteger(0), amlInteger(PciHostBridge.irqForSlot(slot))]));
  }
  const pci0 = amlDevice('PCI0', [
    ...amlName('_HID', amlInteger(EISA_PNP0A03)),
    ...amlName('_UID', amlInteger(0)),
    ...amlName('_CRS', amlBuffer(crs)),
    ...amlName('_PRT', amlPackage(routes)),
  ]);
  return [...s5, ...amlScope([0x5c, ...ascii('_SB_')], pci0)];
}

/** EisaId ("PNP0A03"), the PCI host bridge. */
const EISA_PNP0A03 = 0x030ad041;

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

class Table {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
  }

  /** The 36-byte system description header; the checksum is set by finish(). */
  header(signature: string, revision: number): this {
    this.bytes.set(ascii(signature), 0);
    this.view.setUint32(4, this.bytes.length, true);
    this.bytes[8] = revision;
    this.bytes.set(ascii(OEM_ID), 10);
    this.bytes.set(ascii(OEM_TABLE_ID), 16);
    this.view.setUint32(24, 1, true);
    this.bytes.set(ascii('LILY'), 28);
    this.view.setUint32(32, 1, true);
    return this;
  }

  /** Sets the byte at checksumAt so that bytes [0, length) sum to 0. */
  finish(checksumAt = 9, length = this.bytes.length): Uint8Array {
    this.bytes[checksumAt] = 0;
    let sum = 0;
    for (let i = 0; i < length; i++) sum += this.bytes[i];
    this.bytes[checksumAt] = (0x100 - (sum & 0xff)) & 0xff;
    return this.bytes;
  }
}

/** Build the tables; returns each with its guest-physical address. */
export function buildAcpiTables(): { addr: number; bytes: Uint8Array }[] {
  const facsAddr = ACPI_TABLES_ADDR; // 64-byte aligned
  const dsdtAddr = facsAddr + 64;
  const aml = dsdtAml();
  const dsdt = new Table(36 + aml.length).header('DSDT', 1);
  dsdt.bytes.set(aml, 36);
  const fadtAddr = align(dsdtAddr + dsdt.bytes.length, 16);
  const fadt = new Table(116).header('FACP', 1);
  const v = fadt.view;
  v.setUint32(36, facsAddr, true);
  v.setUint32(40, dsdtAddr, true);
  v.setUint16(46, ACPI_SCI_IRQ, true);
  // SMI_CMD 0: the machine is always in ACPI mode (SCI_EN reads 1).
  v.setUint32(56, PORT_ACPI_PM1A_EVT, true);
  v.setUint32(64, PORT_ACPI_PM1A_CNT, true);
  v.setUint32(76, PORT_ACPI_PM_TMR, true);
  fadt.bytes[88] = 4; // PM1_EVT_LEN
  fadt.bytes[89] = 2; // PM1_CNT_LEN
  fadt.bytes[91] = 4; // PM_TMR_LEN
  v.setUint16(96, 0x0fff, true); // P_LVL2_LAT > 100: no C2
  v.setUint16(98, 0x0fff, true); // P_LVL3_LAT > 1000: no C3
  fadt.bytes[108] = 0x32; // CENTURY: the CMOS register of the century
  v.setUint32(112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON, true);
  const rsdtAddr = align(fadtAddr + fadt.bytes.length, 16);
  const rsdt = new Table(36 + 4).header('RSDT', 1);
  rsdt.view.setUint32(36, fadtAddr, true);
  const facs = new Table(64);
  facs.bytes.set(ascii('FACS'), 0);
  facs.view.setUint32(4, 64, true);
  facs.bytes[32] = 1; // version
  const rsdp = new Table(20);
  rsdp.bytes.set(ascii('RSD PTR '), 0);
  rsdp.bytes.set(ascii(OEM_ID), 9);
  rsdp.bytes[15] = 0; // revision 0: ACPI 1.0 RSDP, 20 bytes
  rsdp.view.setUint32(16, rsdtAddr, true);
  return [
    { addr: facsAddr, bytes: facs.bytes },
    { addr: dsdtAddr, bytes: dsdt.finish() },
    { addr: fadtAddr, bytes: fadt.finish() },
    { addr: rsdtAddr, bytes: rsdt.finish() },
    { addr: ACPI_RSDP_ADDR, bytes: rsdp.finish(8, 20) },
  ];
}

/** Write the tables where a BIOS would (the e820-reserved area below 1 MiB, found by Linux's RSDP scan). */
export function writeAcpiTables(mem: GuestMemory): void {
  for (const t of buildAcpiTables()) mem.writeBytes(t.addr, t.bytes);
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
