/**
 * The host terminal as the guest's serial console: raw mode on a TTY (plain pipes
 * work too), with QEMU's escape: Ctrl-A X quits, Ctrl-A S saves a snapshot, Ctrl-A Ctrl-A
 * sends Ctrl-A.
 */
const CTRL_A = 0x01;

export interface TerminalOptions {
  input: NodeJS.ReadStream;
  onData(bytes: Uint8Array): void;
  onQuit(): void;
  /** Ctrl-A S. */
  onSnapshot?(): void;
  /** Input bytes the guest has not read yet: above INPUT_HIGH_WATER the input is paused until it drains. */
  backlog?(): number;
}

/** Console input kept waiting for the guest at most (plus one read chunk): then stdin pauses. */
export const INPUT_HIGH_WATER = 16 * 1024;
const INPUT_LOW_WATER = 4 * 1024;
const DRAIN_POLL_MS = 20;

/** Translate host keystrokes: returns the bytes for the guest and whether Ctrl-A X was typed. */
export class EscapeFilter {
  private pendingEscape = false;

  filter(chunk: Uint8Array): { bytes: Uint8Array; quit: boolean; snapshot: boolean } {
    const out: number[] = [];
    let snapshot = false;
    for (const b of chunk) {
      if (this.pendingEscape) {
        this.pendingEscape = false;
        if (b === 0x78 || b === 0x58) return { bytes: Uint8Array.from(out), quit: true, snapshot };
        if (b === 0x73 || b === 0x53) snapshot = true;
        if (b === CTRL_A) out.push(CTRL_A);
        continue;
      }
      if (b === CTRL_A) this.pendingEscape = true;
      else out.push(b);
    }
    return { bytes: Uint8Array.from(out), quit: false, snapshot };
  }
}

/** Start forwarding input; returns a function that restores the terminal. */
export function attachTerminal(opts: TerminalOptions): () => void {
  const { input } = opts;
  const isTty = input.isTTY === true;
  if (isTty) input.setRawMode(true);
  const escape = new EscapeFilter();
  let drain: NodeJS.Timeout | undefined;
  const onData = (chunk: Buffer) => {
    const { bytes, quit, snapshot } = escape.filter(chunk);
    if (bytes.length) opts.onData(bytes);
    if (snapshot) opts.onSnapshot?.();
    if (quit) opts.onQuit();
    // Backpressure: the guest reads slowly (a 16550 at its baud rate); stop reading the
    // host's input until it has caught up, so that a large paste or pipe stays bounded.
    if (opts.backlog && drain === undefined && opts.backlog() > INPUT_HIGH_WATER) {
      input.pause();
      drain = setInterval(() => {
        if (opts.backlog!() > INPUT_LOW_WATER) return;
        clearInterval(drain);
        drain = undefined;
        input.resume();
      }, DRAIN_POLL_MS);
    }
  };
  input.on('data', onData);
  input.resume();
  return () => {
    if (drain !== undefined) clearInterval(drain);
    input.off('data', onData);
    if (isTty) input.setRawMode(false);
    input.pause();
  };
}
