// The machine in a Web Worker: the same buildMachine as under Node, with browser host
// adapters (performance.now() clock, crypto.getRandomValues entropy, an in-memory disk),
// talking to the page by messages (protocol.ts).
import '../engines/index.ts';
import { buildMachine, type Machine } from '../machine/machine.ts';
import { systemClock } from '../machine/clock.ts';
import { MemoryBlockBackend } from '../host/memory-block-backend.ts';
import { checksumMismatch, decodeSnapshot, encodeSnapshot, splitSnapshot, SNAPSHOT_HASH_BYTES, type SnapshotHeader } from '../machine/snapshot-format.ts';
import type { FromWorker, RestoreMessage, StartMessage, ToWorker } from './protocol.ts';

const MEMORY_NAME = 'vda';
let config: { memoryMiB: number; cmdline: string } | undefined;

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
let machine: Machine | undefined;
let disk: MemoryBlockBackend | undefined;
/** Keys typed while the machine is still being built (a restore decodes its file first). */
let early: Uint8Array[] = [];
let earlyBytes = 0;
const EARLY_LIMIT = 64 * 1024;

function entropy(buf: Uint8Array): void {
  for (let i = 0; i < buf.length; i += 65536) crypto.getRandomValues(buf.subarray(i, Math.min(buf.length, i + 65536)));
}

async function sha256(parts: Uint8Array[]): Promise<Uint8Array> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
}

/** Capture the running machine into a snapshot file's bytes, its disk embedded. */
async function saveSnapshot(): Promise<ArrayBuffer> {
  if (!machine || !config) throw new Error('no machine is running');
  const snap = await machine.snapshot(() => undefined);
  const parts = encodeSnapshot({
    lilyvmVersion: 'web', createdAt: new Date().toISOString(), engine: 'interp', kernelPath: 'guest/bzImage', initrdPath: 'guest/initramfs.cpio',
    cmdline: config.cmdline, noReboot: false, disks: [],
  }, snap, disk ? [{ name: MEMORY_NAME, data: disk.bytes }] : []);
  const digest = await sha256(parts);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0) + SNAPSHOT_HASH_BYTES);
  let at = 0;
  for (const p of [...parts, digest]) {
    out.set(p, at);
    at += p.length;
  }
  return out.buffer;
}

/** Check and decode a snapshot file; throws SnapshotError before anything is built. */
async function readSnapshot(m: RestoreMessage): Promise<{ header: SnapshotHeader; ram: Uint8Array; embedded: Uint8Array[] }> {
  const { body, digest } = splitSnapshot(new Uint8Array(m.snapshot), m.name);
  const actual = new Uint8Array(await crypto.subtle.digest('SHA-256', body.slice()));
  if (actual.length !== digest.length || actual.some((b, i) => b !== digest[i])) throw checksumMismatch(m.name);
  const decoded = decodeSnapshot(body, m.name);
  if (decoded.header.disks.length) throw new Error(`snapshot ${m.name} names disk files (${decoded.header.disks.map((d) => d.path).join(', ')}): a page can only restore snapshots it saved`);
  return decoded;
}

async function start(m: StartMessage, restore?: { header: SnapshotHeader; ram: Uint8Array; embedded: Uint8Array[] }): Promise<void> {
  disk = m.disk ? new MemoryBlockBackend(new Uint8Array(m.disk)) : undefined;
  config = { memoryMiB: m.memoryMiB, cmdline: m.cmdline };
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
      if (restore) {
        machine.memory.u8.set(restore.ram);
        machine.applyState(restore.header.machine);
        restore = undefined;
        booted = true;
      }
      for (const bytes of early) machine.consoleIn(bytes);
      early = [];
      earlyBytes = 0;
      last = { t: performance.now(), n: machine.vcpu.instructionsRetired };
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
    case 'restore':
      readSnapshot(m).then((r) => {
        const vda = (r.header.embedded ?? []).findIndex((e) => e.name === MEMORY_NAME);
        post({ type: 'restored', hasDisk: vda >= 0 });
        const start0: StartMessage = {
          type: 'start', kernel: m.kernel, initrd: m.initrd, cmdline: r.header.cmdline, memoryMiB: r.header.machine.memoryBytes >> 20,
          disk: vda >= 0 ? r.embedded[vda].buffer as ArrayBuffer : undefined,
        };
        return start(start0, r);
      }).catch((e: unknown) => post({ type: 'stopped', kind: 'error', status: 1, message: e instanceof Error ? e.message : String(e) }));
      break;
    case 'save-snapshot':
      saveSnapshot().then(
        (bytes) => post({ type: 'snapshot', bytes }, [bytes]),
        (e: unknown) => post({ type: 'snapshot', bytes: null, error: e instanceof Error ? e.message : String(e) }),
      );
      break;
    case 'input':
      if (machine) machine.consoleIn(m.bytes);
      else if (earlyBytes + m.bytes.length <= EARLY_LIMIT) {
        early.push(m.bytes);
        earlyBytes += m.bytes.length;
      }
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
