// The machine in a Web Worker: the same buildMachine as under Node, with browser host
// adapters (performance.now() clock, crypto.getRandomValues entropy, an in-memory disk),
// talking to the page by messages (protocol.ts).
import { buildMachine, type Machine } from '../machine/machine.ts';
import { systemClock } from '../machine/clock.ts';
import { MemoryBlockBackend } from './memory-disk.ts';
import type { FromWorker, StartMessage, ToWorker } from './protocol.ts';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
let machine: Machine | undefined;
let disk: MemoryBlockBackend | undefined;

function entropy(buf: Uint8Array): void {
  for (let i = 0; i < buf.length; i += 65536) crypto.getRandomValues(buf.subarray(i, Math.min(buf.length, i + 65536)));
}

async function start(m: StartMessage): Promise<void> {
  disk = m.disk ? new MemoryBlockBackend(new Uint8Array(m.disk)) : undefined;
  const build = () => buildMachine(
    {
      memoryBytes: m.memoryMiB << 20,
      engine: 'interp',
      disks: disk ? [disk] : [],
      images: { kernel: new Uint8Array(m.kernel), kernelName: 'bzImage', initrd: new Uint8Array(m.initrd), initrdName: 'initramfs', cmdline: m.cmdline },
    },
    {
      clock: systemClock,
      realtime: true,
      consoleOut: (bytes) => {
        if (!booted) {
          tail = (tail + String.fromCharCode(...bytes)).slice(-64);
          if (tail.includes('LilyVM guest ready')) {
            booted = true;
            queueMicrotask(report);
          }
        }
        post({ type: 'output', bytes }, [bytes.buffer as ArrayBuffer]);
      },
      entropy,
      warn: (msg) => console.warn(`lilyvm: ${msg}`),
    },
  );
  let booted = false;
  let tail = '';
  let last = { t: performance.now(), n: 0 };
  // Twice a second, so the page's figures are fresh, and at once when the guest is up.
  const report = () => {
    if (!machine) return;
    const n = machine.vcpu.instructionsRetired;
    const t = performance.now();
    if (t - last.t < 1) return;
    post({ type: 'status', state: booted ? 'running' : 'booting', ips: Math.max(0, ((n - last.n) * 1000) / (t - last.t)), retired: n });
    last = { t, n };
  };
  const timer = setInterval(report, 500);
  try {
    for (;;) {
      booted = false;
      machine = build();
      last = { t: performance.now(), n: 0 };
      const reason = await machine.run();
      if (reason.kind === 'reset') continue; // a reboot boots again, as under Node
      post({ type: 'stopped', kind: reason.kind, status: reason.status, message: 'message' in reason ? reason.message : undefined });
      return;
    }
  } catch (e) {
    post({ type: 'stopped', kind: 'error', status: 1, message: e instanceof Error ? e.message : String(e) });
  } finally {
    clearInterval(timer);
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'start':
      void start(m);
      break;
    case 'input':
      machine?.consoleIn(m.bytes);
      break;
    case 'stop':
      machine?.stop({ kind: 'quit', status: 0 });
      break;
    case 'get-disk': {
      const copy = disk ? disk.bytes.slice().buffer : null;
      post({ type: 'disk', bytes: copy }, copy ? [copy] : []);
      break;
    }
  }
};
