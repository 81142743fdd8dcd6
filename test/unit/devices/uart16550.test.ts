import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Uart16550 } from '../../../src/devices/uart16550.ts';
import { FakeTimerHost } from './fake-timer-host.ts';
import { FakeIrqLine } from './fake-irq-line.ts';

const RBR = 0;
const THR = 0;
const DLL = 0;
const IER = 1;
const DLM = 1;
const IIR = 2;
const FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

/** 4 character times of 10 bits at 115200 baud. */
const TIMEOUT_115200_NS = Math.ceil((10 * 1e9) / 115200) * 4;

function setup() {
  const timers = new FakeTimerHost();
  const irq = new FakeIrqLine();
  const out: number[] = [];
  const uart = new Uart16550(timers, irq, (b) => out.push(b));
  const r = (reg: number) => uart.read(reg, 1);
  const w = (reg: number, v: number) => uart.write(reg, 1, v);
  return { timers, irq, out, uart, r, w };
}

/**
 * What serial8250_startup and set_termios leave for 115200 8N1: FIFOs with an 8-byte trigger
 * (the 16550A default), and DTR, RTS and OUT2 (which PC cards need to pass the IRQ) set.
 */
function configure115200(w: (reg: number, v: number) => void): void {
  w(LCR, 0x83);
  w(DLL, 1);
  w(DLM, 0);
  w(LCR, 0x03);
  w(FCR, 0x81);
  w(MCR, 0x0b);
}

test('Linux 8250 autoconfig identifies a 16550A', () => {
  const { r, w } = setup();
  w(IER, 0);
  assert.equal(r(IER) & 0x0f, 0);
  w(IER, 0x0f);
  assert.equal(r(IER) & 0x0f, 0x0f);
  w(IER, 0);
  w(MCR, 0x10 | 0x0a);
  assert.equal(r(MSR) & 0xf0, 0x90, 'loopback: RTS->CTS, OUT2->DCD');
  w(MCR, 0);
  w(LCR, 0xbf);
  w(2, 0);
  w(LCR, 0);
  w(FCR, 0x01);
  assert.equal(r(IIR) >> 6, 3, 'FIFOs enabled');
  w(FCR, 0x21);
  assert.equal(r(IIR) & 0xe0, 0xc0, 'no 64-byte FIFO (not a 16750)');
  w(IER, 0x40);
  assert.equal(r(IER) & 0x40, 0, 'no UUE bit (not an XScale)');
  w(SCR, 0xa5);
  assert.equal(r(SCR), 0xa5);
  assert.notEqual(r(LSR), 0xff);
});

test('divisor latch is reached through DLAB and does not disturb IER or THR', () => {
  const { r, w, out } = setup();
  w(IER, 0x05);
  w(LCR, 0x80);
  w(DLL, 0x34);
  w(DLM, 0x12);
  assert.equal(r(DLL), 0x34);
  assert.equal(r(DLM), 0x12);
  w(LCR, 0x03);
  assert.equal(r(IER), 0x05);
  assert.equal(r(LCR), 0x03);
  w(THR, 0x41);
  assert.deepEqual(out, [0x41]);
});

test('THR writes go to the sink; THRE and TEMT stay set', () => {
  const { r, w, out } = setup();
  for (const c of 'hi\n') {
    assert.equal(r(LSR) & 0x60, 0x60);
    w(THR, c.charCodeAt(0));
  }
  assert.equal(Buffer.from(out).toString(), 'hi\n');
});

test('THRE interrupt: raised on enable, cleared by IIR read, raised again by THR write', () => {
  const { r, w, irq } = setup();
  configure115200(w);
  // serial8250_do_startup's UART_BUG_THRE test
  w(IER, 0x02);
  assert.equal(irq.level, true);
  const iir1 = r(IIR);
  w(IER, 0);
  w(IER, 0x02);
  const iir2 = r(IIR);
  w(IER, 0);
  assert.equal(iir1, 0xc2);
  assert.equal(iir2, 0xc2, 'THRE is reasserted when ETBEI is enabled again');
  assert.equal(irq.level, false);

  w(IER, 0x02);
  assert.equal(r(IIR), 0xc2);
  assert.equal(irq.level, false, 'reading IIR acknowledged THRE');
  assert.equal(r(IIR), 0xc1);
  const rises = irq.rises;
  w(THR, 0x2e);
  assert.equal(irq.level, true);
  assert.equal(irq.rises, rises + 1);
  w(IER, 0);
  assert.equal(irq.level, false);
});

test('RX: below the trigger level the character timeout interrupts after 4 character times', () => {
  const { r, w, irq, timers, uart } = setup();
  configure115200(w);
  w(IER, 0x01);
  uart.receive([0x61, 0x62, 0x63]);
  assert.equal(irq.level, false);
  assert.equal(r(IIR), 0xc1);
  assert.equal(r(LSR) & 0x01, 0x01);
  timers.advanceBy(TIMEOUT_115200_NS - 1);
  assert.equal(irq.level, false);
  timers.advanceBy(1);
  assert.equal(irq.level, true);
  assert.equal(r(IIR), 0xcc);
  assert.equal(r(RBR), 0x61);
  assert.equal(irq.level, false, 'reading RBR clears the timeout');
  timers.advanceBy(TIMEOUT_115200_NS);
  assert.equal(r(IIR), 0xcc, 'and it comes back while data remains');
  assert.equal(r(RBR), 0x62);
  assert.equal(r(RBR), 0x63);
  assert.equal(r(LSR) & 0x01, 0);
  timers.advanceBy(10 * TIMEOUT_115200_NS);
  assert.equal(irq.level, false);
});

test('RX: reaching the trigger level interrupts at once', () => {
  const { r, w, irq, uart } = setup();
  configure115200(w);
  w(IER, 0x01);
  uart.receive(Buffer.from('1234567'));
  assert.equal(irq.level, false);
  uart.receive(Buffer.from('8'));
  assert.equal(irq.level, true);
  assert.equal(r(IIR), 0xc4);
  r(RBR);
  assert.equal(r(IIR), 0xc1);
});

test('RX without FIFOs: one byte is enough for the data-available interrupt', () => {
  const { r, w, irq, uart } = setup();
  w(MCR, 0x0b);
  w(IER, 0x01);
  uart.receive([0x7a, 0x7b]);
  assert.equal(irq.level, true);
  assert.equal(r(IIR), 0x04);
  assert.equal(r(RBR), 0x7a);
  assert.equal(r(IIR), 0x04);
  assert.equal(r(RBR), 0x7b);
  assert.equal(r(IIR), 0x01);
  assert.equal(irq.level, false);
});

test('host input beyond the FIFO waits and flows in as the guest reads, without overrun', () => {
  const { r, w, uart } = setup();
  configure115200(w);
  const text = Buffer.from('x'.repeat(50) + 'the quick brown fox jumps over the lazy dog'.repeat(20));
  uart.receive(text);
  assert.equal(uart.queuedInputBytes, text.length - 16);
  const got: number[] = [];
  for (;;) {
    const lsr = r(LSR);
    assert.equal(lsr & 0x02, 0, 'no overrun');
    if (!(lsr & 0x01)) break;
    got.push(r(RBR));
  }
  assert.deepEqual(Buffer.from(got), text);
  assert.equal(uart.queuedInputBytes, 0);
});

test('IIR priorities: line status, RX data, THRE, modem status', () => {
  const { r, w, irq } = setup();
  w(MCR, 0x10);
  w(IER, 0x0f);
  w(THR, 0x31);
  w(THR, 0x32); // no FIFO: the holding register overruns
  assert.equal(irq.level, false, 'loopback forces OUT2 off, so the IRQ is not driven');
  assert.equal(r(IIR), 0x06);
  assert.equal(r(LSR) & 0x03, 0x03, 'OE and DR');
  assert.equal(r(LSR) & 0x02, 0, 'reading LSR clears OE');
  assert.equal(r(IIR), 0x04);
  assert.equal(r(RBR), 0x31);
  assert.equal(r(IIR), 0x02);
  assert.equal(r(IIR), 0x00, 'modem status: entering loopback changed the lines');
  assert.equal(r(MSR) & 0x0f, 0x0b, 'DCTS, DDSR, DDCD');
  assert.equal(r(IIR), 0x01);
});

test('the IRQ is driven only while OUT2 is set', () => {
  const { r, w, irq } = setup();
  w(IER, 0x02);
  assert.equal(irq.level, false);
  assert.equal(r(IIR), 0x02, 'the interrupt is pending inside the UART');
  w(IER, 0);
  w(MCR, 0x08);
  w(IER, 0x02);
  assert.equal(irq.level, true);
  w(MCR, 0x00);
  assert.equal(irq.level, false);
  w(MCR, 0x08);
  assert.equal(irq.level, true);
});

test('loopback: THR comes back on RBR, modem outputs drive the inputs, host input waits', () => {
  const { r, w, out, uart } = setup();
  w(FCR, 0x01);
  w(MCR, 0x10);
  r(MSR);
  uart.receive([0x55]);
  w(THR, 0x41);
  w(THR, 0x42);
  assert.deepEqual(out, []);
  assert.equal(r(RBR), 0x41);
  assert.equal(r(RBR), 0x42);
  assert.equal(r(LSR) & 0x01, 0, 'host input does not enter in loopback');
  w(MCR, 0x10 | 0x05);
  assert.equal(r(MSR), 0x60 | 0x02, 'DTR->DSR, OUT1->RI, DDSR');
  w(MCR, 0x10);
  assert.equal(r(MSR), 0x02 | 0x04, 'DSR dropped; RI trailing edge sets TERI');
  w(MCR, 0x03);
  assert.equal(r(RBR), 0x55, 'leaving loopback lets host input in');
  assert.equal(r(MSR) & 0xf0, 0xb0, 'outside loopback the other end is connected');
});

test('clearing the RX FIFO drops its contents; queued host input follows a character time later', () => {
  const { r, w, timers, uart } = setup();
  configure115200(w);
  uart.receive(Array.from({ length: 20 }, (_, i) => i));
  w(FCR, 0x83);
  w(FCR, 0x87);
  assert.equal(r(LSR) & 0x01, 0);
  timers.advanceBy(TIMEOUT_115200_NS / 4);
  const got: number[] = [];
  while (r(LSR) & 0x01) got.push(r(RBR));
  assert.deepEqual(got, [16, 17, 18, 19]);
});

test('state round-trip keeps FIFO, queue and timers', () => {
  const a = setup();
  configure115200(a.w);
  a.w(IER, 0x01);
  a.uart.receive(Array.from({ length: 20 }, (_, i) => 0x40 + i));
  a.r(RBR);
  a.r(RBR);
  a.r(RBR);
  a.r(RBR);
  a.r(RBR);
  const b = setup();
  b.uart.restoreState(structuredClone(a.uart.saveState()));
  assert.equal(b.irq.level, true, 'restore drives the line to the saved level');
  assert.equal(b.timers.deadlineOf('uart-rx-timeout'), a.timers.deadlineOf('uart-rx-timeout'));
  const got: number[] = [];
  while (b.r(LSR) & 0x01) got.push(b.r(RBR));
  assert.deepEqual(got, Array.from({ length: 15 }, (_, i) => 0x45 + i));
});

test('host input waits until the guest raises RTS, so a FIFO clear at driver start loses nothing', () => {
  const { r, w, uart, timers } = setup();
  uart.receive([0x61, 0x62]);
  assert.equal(r(LSR) & 0x01, 0, 'nothing received while RTS is low');
  w(FCR, 0x07);
  w(MCR, 0x0b);
  timers.advanceBy(1_000_000);
  assert.equal(r(LSR) & 0x01, 0x01);
  assert.equal(r(RBR), 0x61);
  assert.equal(r(RBR), 0x62);
});
