// The transport-independent side of a virtio 1.x device (Virtual I/O Device
// (VIRTIO) Version 1.2, chapters 2, 3 and 5). Transports (PCI now, MMIO later)
// drive a VirtioDevice; the device never knows which transport it sits on.
import type { AccessSize } from '../../bus/device.ts';
import type { GuestMemory } from '../../memory/guest-memory.ts';
import type { Virtqueue } from './virtqueue.ts';

/** Device IDs (section 5). */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;
export const VIRTIO_ID_9P = 9;

/** Device status field (section 2.1). */
export const VIRTIO_STATUS_ACKNOWLEDGE = 0x01;
export const VIRTIO_STATUS_DRIVER = 0x02;
export const VIRTIO_STATUS_DRIVER_OK = 0x04;
export const VIRTIO_STATUS_FEATURES_OK = 0x08;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 0x40;
export const VIRTIO_STATUS_FAILED = 0x80;

/** Reserved (transport and ring) feature bits (section 6). */
export const VIRTIO_F_INDIRECT_DESC = 1n << 28n;
export const VIRTIO_F_EVENT_IDX = 1n << 29n;
export const VIRTIO_F_VERSION_1 = 1n << 32n;

/** What a device can reach once the driver has set DRIVER_OK. */
export interface VirtioContext {
  readonly memory: GuestMemory;
  /** The features the driver accepted. */
  readonly features: bigint;
  /** Queue `index`, or undefined when the driver did not enable it. */
  queue(index: number): Virtqueue | undefined;
  /** The device changed its configuration space: bump the generation and notify the driver. */
  configChanged(): void;
}

export interface VirtioDevice {
  readonly name: string;
  readonly deviceType: number;
  /** Device-specific feature bits (0..23) offered; the transport adds the ring and version bits. */
  readonly features: bigint;
  /** One entry per virtqueue: its maximum size (a power of two). */
  readonly queueMaxSizes: readonly number[];
  readonly configSizeBytes: number;
  configRead(offset: number, size: AccessSize): number;
  configWrite(offset: number, size: AccessSize, value: number): void;
  /** DRIVER_OK: features are negotiated and the queues are set up. */
  activate(context: VirtioContext): void;
  /** The driver notified queue `queueIndex` (only after activate). */
  notify(queueIndex: number): void;
  /** Device reset: forget the context and any in-flight work. */
  reset(): void;
  saveState(): unknown;
  restoreState(state: unknown): void;
}

/** Little-endian read of `size` bytes at offset of a device config image; bytes past the end read 0. */
export function readConfigBytes(bytes: Uint8Array, offset: number, size: AccessSize): number {
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = (value << 8) | (bytes[offset + i] ?? 0);
  return value >>> 0;
}
