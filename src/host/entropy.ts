import { randomFillSync } from 'node:crypto';
import type { EntropySource } from '../devices/virtio/virtio-rng.ts';

/** The host's cryptographic random number generator. */
export const hostEntropy: EntropySource = (buf) => {
  randomFillSync(buf);
};
