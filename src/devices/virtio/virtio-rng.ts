// Virtio entropy device: Virtual I/O Device (VIRTIO) Version 1.2, section 5.4.
import { VIRTIO_ID_RNG, type VirtioContext, type VirtioDevice } from './virtio-device.ts';

/** Fills buf with random bytes. */
export type EntropySource = (buf: Uint8Array) => void;

const DEFAULT_QUEUE_SIZE = 64;
/** Upper bound on the bytes served per request, so one huge buffer cannot stall the host. */
const MAX_REQUEST_BYTES = 64 * 1024;

export class VirtioRng implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_RNG;
  readonly features = 0n;
  readonly queueMaxSizes = [DEFAULT_QUEUE_SIZE];
  readonly configSizeBytes = 0;
  private context: VirtioContext | undefined;

  constructor(private readonly entropy: EntropySource, options: { name?: string } = {}) {
    this.name = options.name ?? 'virtio-rng';
  }

  configRead(): number {
    return 0;
  }

  configWrite(): void {}

  activate(context: VirtioContext): void {
    this.context = context;
  }

  notify(queueIndex: number): void {
    const queue = this.context?.queue(queueIndex);
    if (!queue) return;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      let written = 0;
      for (const view of chain.writableViews(0, MAX_REQUEST_BYTES)) {
        this.entropy(view);
        written += view.length;
      }
      queue.push(chain, written);
    }
    queue.signalUsed();
  }

  reset(): void {
    this.context = undefined;
  }

  saveState(): unknown {
    return {};
  }

  restoreState(): void {}
}
