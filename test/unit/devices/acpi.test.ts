import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PciHostBridge } from '../../../src/devices/pci/host-bridge.ts';
import { buildAcpiTables } from '../../../src/boot/acpi.ts';
import { AcpiPm, PM1_CNT, PM1_EN, PM1_STS, PM_TMR } from '../../../src/devices/acpi-pm.ts';
import { PvPanic, PVPANIC_CRASH_LOADED, PVPANIC_PANICKED } from '../../../src/devices/pci/pvpanic.ts';
import { ACPI_RSDP_ADDR, ACPI_SLP_TYP_S5, PORT_ACPI_PM1A_CNT, PORT_ACPI_PM1A_EVT, PORT_ACPI_PM_TMR } from '../../../src/machine/layout.ts';

/** The tables laid out in a 1 MiB buffer, as the guest sees them. */
function lowMemory(): { mem: Uint8Array; view: DataView } {
  const mem = new Uint8Array(1 << 20);
  for (const t of buildAcpiTables()) mem.set(t.bytes, t.addr);
  return { mem, view: new DataView(mem.buffer) };
}

function sum(mem: Uint8Array, at: number, length: number): number {
  let s = 0;
  for (let i = 0; i < length; i++) s += mem[at + i];
  return s & 0xff;
}

const text = (mem: Uint8Array, at: number, n: number) => String.fromCharCode(...mem.subarray(at, at + n));

test('ACPI tables: RSDP -> RSDT -> FADT -> DSDT and FACS, each with a valid checksum', () => {
  const { mem, view } = lowMemory();
  assert.equal(ACPI_RSDP_ADDR % 16, 0);
  assert.ok(ACPI_RSDP_ADDR >= 0xe0000 && ACPI_RSDP_ADDR < 0x100000, 'where Linux scans for the RSDP');
  assert.equal(text(mem, ACPI_RSDP_ADDR, 8), 'RSD PTR ');
  assert.equal(sum(mem, ACPI_RSDP_ADDR, 20), 0);
  const rsdt = view.getUint32(ACPI_RSDP_ADDR + 16, true);
  assert.equal(text(mem, rsdt, 4), 'RSDT');
  assert.equal(sum(mem, rsdt, view.getUint32(rsdt + 4, true)), 0);
  const fadt = view.getUint32(rsdt + 36, true);
  assert.equal(text(mem, fadt, 4), 'FACP');
  assert.equal(view.getUint32(fadt + 4, true), 116);
  assert.equal(sum(mem, fadt, 116), 0);
  assert.equal(view.getUint32(fadt + 48, true), 0, 'no SMI_CMD: always in ACPI mode');
  assert.equal(view.getUint32(fadt + 56, true), PORT_ACPI_PM1A_EVT);
  assert.equal(view.getUint32(fadt + 64, true), PORT_ACPI_PM1A_CNT);
  assert.equal(view.getUint32(fadt + 76, true), PORT_ACPI_PM_TMR);
  const facs = view.getUint32(fadt + 36, true);
  assert.equal(facs % 64, 0);
  assert.equal(text(mem, facs, 4), 'FACS');
  const dsdt = view.getUint32(fadt + 40, true);
  assert.equal(text(mem, dsdt, 4), 'DSDT');
  const dsdtLength = view.getUint32(dsdt + 4, true);
  assert.equal(sum(mem, dsdt, dsdtLength), 0);
  // It starts with Name (_S5_, Package (4) { 5, 5, 0, 0 }).
  assert.deepEqual([...mem.subarray(dsdt + 36, dsdt + 50)], [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, ACPI_SLP_TYP_S5, 0x0a, ACPI_SLP_TYP_S5, 0, 0]);
});

/** ACPICA's disassembler (Debian acpica-tools), an independent reading of the tables. */
const iasl = spawnSync('iasl', ['-v'], { stdio: 'ignore' }).status === 0;

test('ACPICA\'s iasl disassembles the DSDT and FADT without complaint, and reads back what they mean', { skip: !iasl && 'iasl not installed (Debian acpica-tools)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-acpi-'));
  const [, dsdt, fadt] = buildAcpiTables();
  writeFileSync(join(dir, 'dsdt.dat'), dsdt.bytes);
  writeFileSync(join(dir, 'facp.dat'), fadt.bytes);
  for (const name of ['dsdt', 'facp']) {
    const r = spawnSync('iasl', ['-d', `${name}.dat`], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /error|warning/i);
  }
  const asl = readFileSync(join(dir, 'dsdt.dsl'), 'utf8');
  assert.match(asl, /Name \(_S5, Package \(0x04\)[^}]*0x05,\s*0x05,\s*Zero,\s*Zero/);
  assert.match(asl, /Device \(PCI0\)[\s\S]*EisaId \("PNP0A03"\)/);
  assert.match(asl, /WordIO \([^)]*\)\s*\{?[\s\S]*?0x0D00,\s*\/\/ Range Minimum/);
  assert.match(asl, /0xE0000000,\s*\/\/ Range Minimum\s*0xEFFFFFFF,\s*\/\/ Range Maximum/);
  for (let slot = 1; slot < 32; slot++) {
    const addr = `0x${slot.toString(16).toUpperCase().padStart(4, '0')}FFFF`;
    assert.match(asl, new RegExp(`${addr},\\s*Zero,\\s*Zero,\\s*0x${PciHostBridge.irqForSlot(slot).toString(16).toUpperCase().padStart(2, '0')}`), `slot ${slot}`);
  }
  const fadtText = readFileSync(join(dir, 'facp.dsl'), 'utf8');
  assert.match(fadtText, /PM1A Event Block Address : 00000600/);
  assert.match(fadtText, /PM1A Control Block Address : 00000604/);
  assert.match(fadtText, /PM Timer Block Address : 00000608/);
  assert.match(fadtText, /SCI Interrupt : 0009/);
});

test('ACPI PM: SCI_EN reads set, SLP_EN with a sleep type reports it, the enables read back, status bits clear by writing 1', () => {
  let now = 0;
  const sleeps: number[] = [];
  const pm = new AcpiPm(() => now, (t) => sleeps.push(t));
  assert.equal(pm.read(PM1_CNT, 2) & 1, 1);
  pm.write(PM1_CNT, 2, (2 << 10) | 1);
  assert.deepEqual(sleeps, [], 'SLP_TYP alone does nothing');
  pm.write(PM1_CNT, 2, (ACPI_SLP_TYP_S5 << 10) | (1 << 13));
  assert.deepEqual(sleeps, [ACPI_SLP_TYP_S5]);
  assert.equal(pm.read(PM1_CNT, 2) & (1 << 13), 0, 'SLP_EN is write-only');
  pm.write(PM1_EN, 2, 0x0521);
  assert.equal(pm.read(PM1_EN, 2), 0x0521);
  assert.equal(pm.read(PM1_STS, 4) >>> 16, 0x0521, 'a dword at PM1_STS covers PM1_EN');
  pm.write(PM1_STS, 2, 0xffff);
  assert.equal(pm.read(PM1_STS, 2), 0);
  now = 1e9;
  assert.equal(pm.read(PM_TMR, 4), 3_579_545, 'the PM timer counts at 3.579545 MHz');
  now = 10e9;
  assert.equal(pm.read(PM_TMR, 4), 35_795_450 & 0xffffff, '24 bits');
  const saved = pm.saveState();
  const other = new AcpiPm(() => 0, () => {});
  other.restoreState(saved);
  assert.equal(other.read(PM1_EN, 2), 0x0521);
});

test('pvpanic: BAR 0 offers PANICKED and CRASH_LOADED; a write reports the events', () => {
  const events: number[] = [];
  const dev = new PvPanic((e) => events.push(e));
  assert.equal(dev.configRead(0, 2), 0x1b36);
  assert.equal(dev.configRead(2, 2), 0x0011);
  const bar = dev.bars[0];
  assert.equal(bar.kind, 'memory');
  assert.equal(bar.device.read(0, 1), PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
  bar.device.write(0, 1, 0);
  assert.deepEqual(events, []);
  bar.device.write(0, 1, PVPANIC_PANICKED);
  assert.deepEqual(events, [PVPANIC_PANICKED]);
});
