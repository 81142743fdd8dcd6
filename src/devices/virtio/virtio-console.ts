// Virtio console, one port and no multiport: Virtual I/O Device (VIRTIO) Version 1.2, section 5.3.
import type { AccessSize } from '../../bus/device.ts';
import { VIRTIO_ID_CONSOLE, readConfigBytes, type VirtioContext, type VirtioDevice } from './virtio-device.ts';

/** Feature bits (5.3.3). */
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 1n << 2n;

/** struct virtio_console_config offsets (5.3.4): cols, rows, max_nr_ports, emerg_wr. */
export const VIRTIO_CONSOLE_CONFIG_EMERG_WR = 8;
const CONFIG_SIZE = 12;

export const VIRTIO_CONSOLE_RECEIVEQ = 0;
export const VIRTIO_CONSOLE_TRANSMITQ = 1;
const QUEUE_SIZE = 64;
/** Host input held while the guest has no receive buffers; beyond this it is dropped. */
const MAX_PENDING_INPUT_BYTES = 64 * 1024;

/** Receives what the guest writes to the console. */
export type ConsoleSink = (data: Uint8Array) => void;

export class VirtioConsole implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_CONSOLE;
  readonly features = VIRTIO_CONSOLE_F_EMERG_WRITE;
  readonly queueMaxSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly configSizeBytes = CONFIG_SIZE;
  private readonly config = new Uint8Array(CONFIG_SIZE);
  private context: VirtioContext | undefined;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly output: ConsoleSink, options: { name?: string } = {}) {
    this.name = options.name ?? 'virtio-console';
  }

  /** Queues host input (keystrokes) for the guest. */
  input(data: Uint8Array): void {
    const room = MAX_PENDING_INPUT_BYTES - this.pendingBytes;
    if (room <= 0 || data.length === 0) return;
    const kept = data.slice(0, room);
    this.pending.push(kept);
    this.pendingBytes += kept.length;
    this.deliver();
  }

  configRead(offset: number, size: AccessSize): number {
    return readConfigBytes(this.config, offset, size);
  }

  configWrite(offset: number, _size: AccessSize, value: number): void {
    if (offset === VIRTIO_CONSOLE_CONFIG_EMERG_WR) this.output(Uint8Array.of(value & 0xff));
  }

  activate(context: VirtioContext): void {
    this.context = context;
  }

  notify(queueIndex: number): void {
    if (queueIndex === VIRTIO_CONSOLE_RECEIVEQ) this.deliver();
    else if (queueIndex === VIRTIO_CONSOLE_TRANSMITQ) this.transmit();
  }

  reset(): void {
    this.context = undefined;
  }

  saveState(): unknown {
    return { pending: this.pending.flatMap((chunk) => Array.from(chunk)) };
  }

  restoreState(state: unknown): void {
    const pending = (state as { pending: number[] }).pending;
    this.pending = pending.length ? [Uint8Array.from(pending)] : [];
    this.pendingBytes = pending.length;
  }

  private transmit(): void {
    const queue = this.context?.queue(VIRTIO_CONSOLE_TRANSMITQ);
    if (!queue) return;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      for (const view of chain.readableViews(0, chain.readableBytes)) this.output(view.slice());
      queue.push(chain, 0);
    }
    queue.signalUsed();
  }

  private deliver(): void {
    const queue = this.context?.queue(VIRTIO_CONSOLE_RECEIVEQ);
    if (!queue) return;
    while (this.pendingBytes > 0) {
      const chain = queue.pop();
      if (!chain) break;
      let written = 0;
      while (this.pending.length && written < chain.writableBytes) {
        const chunk = this.pending[0];
        const n = chain.write(written, chunk);
        written += n;
        this.pendingBytes -= n;
        if (n === chunk.length) this.pending.shift();
        else this.pending[0] = chunk.subarray(n);
      }
      queue.push(chain, written);
    }
    queue.signalUsed();
  }
}
