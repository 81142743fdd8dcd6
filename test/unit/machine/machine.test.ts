import '../../../src/engines/index.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMachine } from '../../../src/machine/machine.ts';
import type { BusDevice } from '../../../src/bus/device.ts';

/** A tiny bzImage whose 32-bit entry runs `code` (the boot protocol only needs the header). */
function bzImageRunning(code: number[]): Uint8Array {
  const img = new Uint8Array(5 * 512 + 4096);
  const v = new DataView(img.buffer);
  img[0x1f1] = 4;
  v.setUint32(0x1f4, 4096 / 16, true);
  img[0x201] = 0x6a;
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, 0x020f, true);
  img[0x211] = 0x01;
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x238, 255, true);
  img.set(code, 5 * 512);
  return img;
}

const frozenClock = { wallTimeMs: () => 1_700_000_000_000, monotonicNs: () => 0 };

function machineFor(code: number[]) {
  const out: number[] = [];
  const m = buildMachine(
    { memoryBytes: 32 * 1024 * 1024, engine: 'interp', disks: [], images: { kernel: bzImageRunning(code), kernelName: 'test', cmdline: '' } },
    { clock: frozenClock, realtime: false, consoleOut: (b) => out.push(...b), entropy: (b) => b.fill(4), warn: () => {} },
  );
  return { m, out };
}

test('a guest that writes to COM1 and then the debug-exit port ends the run with its status', async () => {
  // mov dx,0x3f8; mov al,'K'; out dx,al; mov dx,0x501; mov al,3; out dx,al
  const { m, out } = machineFor([0x66, 0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0x66, 0xba, 0x01, 0x05, 0xb0, 0x03, 0xee, 0xf4]);
  const reason = await m.run();
  assert.deepEqual(reason, { kind: 'debug-exit', status: 7 });
  assert.deepEqual(out, [0x4b]);
});

test('CLI then HLT stops the machine for good (status 4, with the address); a keyboard-controller reset ends the run', async () => {
  const halted = await machineFor([0xfa, 0xf4]).m.run();
  assert.equal(halted.kind, 'halted');
  assert.equal(halted.status, 4);
  assert.match('message' in halted ? halted.message : '', /halted with interrupts disabled at cs:eip [0-9a-f]{4}:[0-9a-f]{8}, without asking for power-off/);
  // mov al,0xfe; out 0x64,al
  assert.deepEqual(await machineFor([0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe]).m.run(), { kind: 'reset', status: 0 });
});

test('CLI then HLT stops the machine even when no timer is due to wake it again', async () => {
  // Mask both PICs; PIT channel 0 one-shot (mode 0) with a count of 1, left to expire, so no
  // timer is due; then cli; hlt.
  const run = machineFor([
    0xb0, 0xff, 0xe6, 0x21, 0xe6, 0xa1, // mov al,0xff; out 0x21,al; out 0xa1,al
    0xb0, 0x30, 0xe6, 0x43, 0xb0, 0x01, 0xe6, 0x40, 0xb0, 0x00, 0xe6, 0x40, // mode 0, count 1
    0xb9, 0x00, 0x10, 0x00, 0x00, 0xe2, 0xfe, // mov ecx,0x1000; loop $
    0xfa, 0xf4, // cli; hlt
  ]).m.run();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve('still running after 5 s'), 5000); });
  const r = await Promise.race([run, late]);
  clearTimeout(timer);
  assert.equal((r as { kind?: string }).kind, 'halted', String(r));
});

test('a device that throws ends the run with an error report instead of crashing the host', async () => {
  const { m } = machineFor([0xe4, 0x99, 0xf4]); // in al, 0x99
  const broken: BusDevice = { read: () => { throw new Error('device bug'); }, write: () => {} };
  m.ioBus.register(0x99, 1, broken, 'broken');
  const reason = await m.run();
  assert.equal(reason.kind, 'error');
  assert.match(reason.kind === 'error' ? reason.message : '', /internal error while running the guest: Error: device bug/);
});

test('virtual time in a deterministic run advances only with instructions and halts', async () => {
  // 1000 NOPs, then the debug exit.
  const code = [...new Array(1000).fill(0x90), 0x66, 0xba, 0x01, 0x05, 0xb0, 0x00, 0xee];
  const { m } = machineFor(code);
  await m.run();
  assert.equal(m.nowNs(), m.vcpu.instructionsRetired * 10);
});

test('writing SLP_EN with the _S5 sleep type to PM1a_CNT powers the machine off (status 0)', async () => {
  // mov dx, 0x604; mov ax, (5 << 10) | (1 << 13); out dx, ax; jmp $
  const r = await machineFor([0x66, 0xba, 0x04, 0x06, 0x66, 0xb8, 0x00, 0x34, 0x66, 0xef, 0xeb, 0xfe]).m.run();
  assert.deepEqual(r, { kind: 'poweroff', status: 0 });
});

test('rewind() takes a machine back to a checkpoint: the same slices then end in the same state, and the jit keeps its code', () => {
  // mov ebx,0x200000; l: inc dword [ebx]; add eax,[ebx]; jmp l
  const code = [0xbb, 0x00, 0x00, 0x20, 0x00, 0xff, 0x03, 0x03, 0x03, 0xeb, 0xfa];
  for (const engine of ['interp', 'jit'] as const) {
    const m = buildMachine(
      { memoryBytes: 32 * 1024 * 1024, engine, engineOptions: { threshold: 1, compile: 'sync' }, disks: [], images: { kernel: bzImageRunning(code), kernelName: 'test', cmdline: '' } },
      { clock: frozenClock, realtime: false, consoleOut: () => {}, entropy: (b) => b.fill(4), warn: () => {} },
    );
    const slices = () => {
      for (let i = 0; i < 5; i++) m.runSlice(1000);
      return JSON.stringify({ cpu: m.vcpu.saveState(), word: m.memory.u8.subarray(0x200000, 0x200004).join(), now: m.nowNs() });
    };
    slices();
    const point = m.checkpoint();
    const first = slices();
    const translated = m.vcpu.stats?.translated;
    m.rewind(point);
    assert.equal(JSON.stringify(m.vcpu.saveState()), JSON.stringify(point.state.cpu));
    assert.equal(slices(), first, engine);
    assert.equal(m.vcpu.stats?.translated, translated, 'no block was translated again');
    if (engine === 'jit') assert.ok(m.vcpu.stats!.nativeInstructions > 5000, 'the code ran natively');
  }
});
