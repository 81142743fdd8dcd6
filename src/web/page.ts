// The LilyVM web page: loads the default guest with a progress bar, runs the machine in a
// Web Worker (worker.ts) and shows its serial console in xterm.js.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import type { FromWorker, ToWorker } from './protocol.ts';

const GUEST = { kernel: 'guest/bzImage', initrd: 'guest/initramfs.cpio' };
const CMDLINE = 'console=ttyS0 tsc=reliable panic=-1';
const MEMORY_MIB = 256;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const stopButton = $<HTMLButtonElement>('stop');
const restartButton = $<HTMLButtonElement>('restart');
const downloadButton = $<HTMLButtonElement>('download');
const diskInput = $<HTMLInputElement>('disk');
const saveButton = $<HTMLButtonElement>('save');
const restoreInput = $<HTMLInputElement>('restore');

const term = new Terminal({ convertEol: false, scrollback: 5000, fontSize: 14 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open($('terminal'));
fit.fit();
term.focus();
window.addEventListener('resize', () => fit.fit());

let worker: Worker | undefined;
let images: { kernel: ArrayBuffer; initrd: ArrayBuffer } | undefined;
let disk: { name: string; bytes: ArrayBuffer } | undefined;
let state = 'loading';
let retired = 0;
/** Machines started in this page: each boot, restart and restore starts one. */
let starts = 0;

function setStatus(text: string): void {
  state = text;
  status.textContent = text;
  document.body.dataset.state = text.split(' ')[0];
}

/** Fetch with progress over all the guest files. */
async function loadGuest(): Promise<{ kernel: ArrayBuffer; initrd: ArrayBuffer }> {
  const bar = $('bar');
  const text = $('progress-text');
  const responses = await Promise.all([GUEST.kernel, GUEST.initrd].map(async (url) => {
    const r = await fetch(url);
    if (!r.ok || !r.body) throw new Error(`${url}: HTTP ${r.status}`);
    return r;
  }));
  const total = responses.reduce((n, r) => n + Number(r.headers.get('content-length') ?? 0), 0);
  let loaded = 0;
  const parts = await Promise.all(responses.map(async (r) => {
    const reader = r.body!.getReader();
    const chunks: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      bar.style.width = total ? `${(100 * loaded) / total}%` : '50%';
      text.textContent = `loading the guest: ${(loaded / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MiB`;
    }
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out.buffer;
  }));
  $('progress').hidden = true;
  return { kernel: parts[0], initrd: parts[1] };
}

function saveFile(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function send(m: ToWorker, transfer: Transferable[] = []): void {
  worker?.postMessage(m, transfer);
}

/** A fresh worker: the machine boots (or, with a snapshot file, resumes) in it. */
function start(snapshot?: { name: string; bytes: ArrayBuffer }): void {
  worker?.terminate();
  starts++;
  term.reset();
  worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (ev: MessageEvent<FromWorker>) => {
    const m = ev.data;
    switch (m.type) {
      case 'output':
        term.write(m.bytes);
        break;
      case 'status':
        retired = m.retired;
        setStatus(`${m.state} · ${(m.ips / 1e6).toFixed(1)} M instructions/s`);
        break;
      case 'stopped':
        setStatus(`stopped (${m.kind}${m.message ? `: ${m.message}` : ''})`);
        stopButton.disabled = true;
        break;
      case 'snapshot':
        if (m.bytes) saveFile(new Blob([m.bytes]), 'lilyvm.snapshot');
        else setStatus(`no snapshot: ${m.error}`);
        break;
      case 'restored':
        // The restored guest's disk lives in the worker; Restart boots without it.
        $('disk-note').hidden = !m.hasDisk;
        downloadButton.disabled = !m.hasDisk;
        break;
      case 'disk':
        if (m.bytes) saveFile(new Blob([m.bytes]), disk?.name ?? 'disk.img');
        break;
    }
  };
  const { kernel, initrd } = images!;
  // The worker gets copies: a restart needs the originals again.
  const k = kernel.slice(0);
  const i = initrd.slice(0);
  if (snapshot) {
    send({ type: 'restore', kernel: k, initrd: i, snapshot: snapshot.bytes, name: snapshot.name }, [k, i, snapshot.bytes]);
    setStatus('restoring');
  } else {
    const d = disk ? disk.bytes.slice(0) : undefined;
    send({ type: 'start', kernel: k, initrd: i, cmdline: CMDLINE, memoryMiB: MEMORY_MIB, disk: d }, d ? [k, i, d] : [k, i]);
    setStatus('booting');
  }
  stopButton.disabled = false;
  restartButton.disabled = false;
  saveButton.disabled = false;
  downloadButton.disabled = !disk;
}

term.onData((text) => send({ type: 'input', bytes: new TextEncoder().encode(text) }));
stopButton.onclick = () => send({ type: 'stop' });
restartButton.onclick = () => start();
downloadButton.onclick = () => send({ type: 'get-disk' });
saveButton.onclick = () => send({ type: 'save-snapshot' });
restoreInput.onchange = async () => {
  const file = restoreInput.files?.[0];
  if (!file || !images) return;
  setStatus('restoring');
  disk = undefined;
  $('disk-note').hidden = true;
  start({ name: file.name, bytes: await file.arrayBuffer() });
  restoreInput.value = '';
};
diskInput.onchange = async () => {
  const file = diskInput.files?.[0];
  if (!file) return;
  if (file.size % 512 !== 0) {
    setStatus(`${file.name} is ${file.size} bytes, not whole 512-byte sectors: not attached`);
    return;
  }
  disk = { name: file.name, bytes: await file.arrayBuffer() };
  $('disk-note').hidden = false;
  start(); // the guest boots again with the disk as /dev/vda
};

loadGuest().then((loaded) => {
  images = loaded;
  start();
}, (e: unknown) => setStatus(`cannot load the guest: ${(e as Error).message}`));

// For tests and the curious: the terminal's text and the state.
(window as unknown as { lilyvm: object }).lilyvm = {
  screen: () => {
    const b = term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < b.length; y++) lines.push(b.getLine(y)?.translateToString(true) ?? '');
    return lines.join('\n');
  },
  state: () => state,
  /** How many machines this page has started (boot, restart, disk attach, restore). */
  starts: () => starts,
  size: () => ({ cols: term.cols, rows: term.rows }),
  /** Instructions the guest's CPU has retired (as of the last status message, at most 0.5 s old). */
  retired: () => retired,
};
