import { test } from 'node:test';
import assert from 'node:assert/strict';
import { I8042 } from '../../../src/devices/i8042.ts';
import { FakeIrqLine } from './fake-irq-line.ts';

const OBF = 0x01;
const AUX_DATA = 0x20;
const TIMEOUT = 0x40;

function setup() {
  const irq1 = new FakeIrqLine();
  const irq12 = new FakeIrqLine();
  let resets = 0;
  const kbc = new I8042({ irqKeyboard: irq1, irqMouse: irq12, onReset: () => resets++ });
  const status = () => kbc.commandPort.read(0, 1);
  const command = (v: number) => kbc.commandPort.write(0, 1, v);
  const data = (v: number) => kbc.dataPort.write(0, 1, v);
  /** i8042_wait_read + i8042_read_data. */
  const read = () => {
    assert.ok(status() & OBF, 'output buffer full');
    return kbc.dataPort.read(0, 1);
  };
  const drain = () => {
    const bytes: number[] = [];
    while (status() & OBF) bytes.push(kbc.dataPort.read(0, 1));
    return bytes;
  };
  return { kbc, irq1, irq12, status, command, data, read, drain, resets: () => resets };
}

test("Linux i8042 probe: flush, self test, stable CTR, CTR write, keylock", () => {
  const { status, command, data, read, drain } = setup();
  assert.deepEqual(drain(), []);
  command(0xaa);
  assert.equal(read(), 0x55);
  command(0x20);
  const ctr0 = read();
  command(0x20);
  assert.equal(read(), ctr0);
  assert.equal(ctr0, 0x45, 'translated, system flag, keyboard interrupt');
  assert.ok(status() & 0x10, 'keylock off');
  assert.ok(status() & 0x04, 'system flag');
  command(0x60);
  data((ctr0 | 0x10) & ~0x01);
  command(0x20);
  assert.equal(read(), 0x54);
  command(0xab);
  assert.equal(read(), 0x00);
  command(0xa9);
  assert.equal(read(), 0x00);
});

test('Linux i8042_check_aux and mux detection: loopback echoes as aux data', () => {
  const { status, command, data, read, irq12 } = setup();
  command(0xd3);
  data(0x5a);
  assert.equal(status() & (OBF | AUX_DATA), OBF | AUX_DATA);
  assert.equal(read(), 0x5a);
  for (const v of [0xf0, 0x56, 0xa4]) {
    command(0xd3);
    data(v);
    assert.equal(read(), v, 'an exact echo of 0xA4 means no active multiplexing');
  }
  command(0xa7);
  command(0x20);
  assert.equal(read() & 0x20, 0x20);
  command(0xa8);
  command(0x20);
  assert.equal(read() & 0x20, 0);
  command(0x60);
  data(0x47);
  assert.equal(irq12.rises, 0);
  command(0xd3);
  data(0xa5);
  assert.equal(irq12.level, true, 'IRQ12 delivered for aux data');
  assert.equal(status() & AUX_DATA, AUX_DATA);
  assert.equal(read(), 0xa5);
  assert.equal(irq12.level, false);
});

test('no mouse: bytes for the aux device come back as 0xFE with the timeout bit', () => {
  const { status, command, data, read, irq12 } = setup();
  command(0x60);
  data(0x47);
  command(0xd4);
  data(0xf2);
  assert.equal(status() & (OBF | AUX_DATA | TIMEOUT), OBF | AUX_DATA | TIMEOUT);
  assert.equal(irq12.rises, 1);
  assert.equal(read(), 0xfe);
  assert.equal(status() & TIMEOUT, 0);
});

test('keyboard probe as atkbd does it, with IRQ1 for each byte', () => {
  const { data, read, drain, irq1 } = setup();
  data(0xff);
  assert.deepEqual(drain(), [0xfa, 0xaa], 'reset: ACK, BAT passed');
  data(0xf2);
  assert.equal(irq1.level, true);
  assert.equal(read(), 0xfa);
  assert.equal(read(), 0xab);
  assert.equal(read(), 0x41, 'ID 0xAB83, translated to 0xAB41');
  assert.equal(irq1.level, false);
  assert.equal(irq1.rises, 5, 'each byte raised IRQ1');
  data(0xf5);
  assert.deepEqual(drain(), [0xfa]);
  data(0xed);
  data(0x00);
  assert.deepEqual(drain(), [0xfa, 0xfa]);
  data(0xf3);
  data(0x00);
  assert.deepEqual(drain(), [0xfa, 0xfa]);
  data(0xf0);
  data(0x00);
  assert.deepEqual(drain(), [0xfa, 0xfa, 0x41], 'scancode set 2, as translated');
  data(0xf0);
  data(0x05);
  assert.deepEqual(drain(), [0xfa, 0xfe]);
  data(0xf4);
  data(0xee);
  data(0x01);
  assert.deepEqual(drain(), [0xfa, 0xee, 0xfe]);
  data(0xfe);
  assert.deepEqual(drain(), [0xfe], 'resend repeats the last reply');
});

test('untranslated keyboard ID', () => {
  const { command, data, drain } = setup();
  command(0x60);
  data(0x05);
  data(0xf2);
  assert.deepEqual(drain(), [0xfa, 0xab, 0x83]);
});

test('disabling the keyboard interface holds its bytes until it is enabled', () => {
  const { kbc, command, data, read, status } = setup();
  data(0xf2);
  assert.equal(read(), 0xfa);
  command(0xad);
  assert.equal(read(), 0xab, 'the byte already in the buffer stays readable');
  assert.equal(status() & OBF, 0);
  command(0xae);
  assert.equal(read(), 0x41);
  assert.equal(kbc.dataPort.read(0, 1), 0x41, 'an empty buffer reads the last byte again');
});

test('status bit 3 tells whether the last write went to 0x64', () => {
  const { status, command, data, drain } = setup();
  command(0xab);
  assert.equal(status() & 0x08, 0x08);
  drain();
  data(0xf4);
  assert.equal(status() & 0x08, 0);
});

test('reset pulse: command 0xFE, or the output port with bit 0 clear', () => {
  const { kbc, command, data, read, resets } = setup();
  command(0xff);
  assert.equal(resets(), 0);
  command(0xfe);
  assert.equal(resets(), 1);
  command(0xd0);
  assert.equal(read() & 0x03, 0x03);
  command(0xd1);
  data(0xdd);
  assert.equal(resets(), 1);
  assert.equal(kbc.a20Enabled, false);
  command(0xdf);
  assert.equal(kbc.a20Enabled, true);
  command(0xd1);
  data(0xde);
  assert.equal(resets(), 2);
});

test('state round-trip keeps pending output', () => {
  const a = setup();
  a.data(0xf2);
  a.read();
  const b = setup();
  b.kbc.restoreState(a.kbc.saveState());
  assert.equal(b.irq1.level, true);
  assert.deepEqual(b.drain(), [0xab, 0x41]);
});
