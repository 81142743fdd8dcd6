// Messages between the page (main thread) and the machine's Web Worker.

export interface StartMessage {
  type: 'start';
  kernel: ArrayBuffer;
  initrd: ArrayBuffer;
  cmdline: string;
  memoryMiB: number;
  /** A disk image the user attached (the worker owns it from now on), or none. */
  disk?: ArrayBuffer;
}

/** Resume a snapshot file instead of booting (the kernel and initrd are for a later reboot). */
export interface RestoreMessage {
  type: 'restore';
  kernel: ArrayBuffer;
  initrd: ArrayBuffer;
  snapshot: ArrayBuffer;
  name: string;
}

export type ToWorker =
  | StartMessage
  | RestoreMessage
  | { type: 'save-snapshot' }
  | { type: 'input'; bytes: Uint8Array }
  | { type: 'stop' }
  /** Send the disk's current contents back (type 'disk'). */
  | { type: 'get-disk' };

export type FromWorker =
  | { type: 'output'; bytes: Uint8Array }
  /** Once a second while running: instructions per second over the last second. */
  | { type: 'status'; state: 'booting' | 'running'; ips: number; retired: number }
  | { type: 'stopped'; kind: string; status: number; message?: string }
  | { type: 'disk'; bytes: ArrayBuffer | null }
  /** A snapshot file's bytes (or why there is none). */
  | { type: 'snapshot'; bytes: ArrayBuffer | null; error?: string }
  /** The restored machine's disk, if its snapshot held one (the page can offer it for download). */
  | { type: 'restored'; hasDisk: boolean };
