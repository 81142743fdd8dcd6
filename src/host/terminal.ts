/**
 * The host terminal as the guest's serial console: raw mode on a TTY (plain pipes
 * work too), with QEMU's escape: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A.
 */
const CTRL_A = 0x01;

export interface TerminalOptions {
  input: NodeJS.ReadStream;
  onData(bytes: Uint8Array): void;
  onQuit(): void;
}

/** Translate host keystrokes: returns the bytes for the guest and whether Ctrl-A X was typed. */
export class EscapeFilter {
  private pendingEscape = false;

  filter(chunk: Uint8Array): { bytes: Uint8Array; quit: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.pendingEscape) {
        this.pendingEscape = false;
        if (b === 0x78 || b === 0x58) return { bytes: Uint8Array.from(out), quit: true };
        if (b === CTRL_A) out.push(CTRL_A);
        continue;
      }
      if (b === CTRL_A) this.pendingEscape = true;
      else out.push(b);
    }
    return { bytes: Uint8Array.from(out), quit: false };
  }
}

/** Start forwarding input; returns a function that restores the terminal. */
export function attachTerminal(opts: TerminalOptions): () => void {
  const { input } = opts;
  const isTty = input.isTTY === true;
  if (isTty) input.setRawMode(true);
  const escape = new EscapeFilter();
  const onData = (chunk: Buffer) => {
    const { bytes, quit } = escape.filter(chunk);
    if (bytes.length) opts.onData(bytes);
    if (quit) opts.onQuit();
  };
  input.on('data', onData);
  input.resume();
  return () => {
    input.off('data', onData);
    if (isTty) input.setRawMode(false);
    input.pause();
  };
}
