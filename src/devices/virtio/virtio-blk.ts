// Virtio block device: Virtual I/O Device (VIRTIO) Version 1.2, section 5.2.
import type { AccessSize } from '../../bus/device.ts';
import { VIRTIO_ID_BLOCK, readConfigBytes, type VirtioContext, type VirtioDevice } from './virtio-device.ts';
import type { DescriptorChain, Virtqueue } from './virtqueue.ts';

/** A disk image as the block device sees it; sizes and offsets in bytes. */
export interface BlockBackend {
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /** Fills buf from offset; throws on a host I/O error. */
  read(offset: number, buf: Uint8Array): void;
  write(offset: number, buf: Uint8Array): void;
  flush(): void;
}

export const VIRTIO_BLK_SECTOR_SIZE = 512;

/** Feature bits (5.2.3). */
export const VIRTIO_BLK_F_SEG_MAX = 1n << 2n;
export const VIRTIO_BLK_F_RO = 1n << 5n;
export const VIRTIO_BLK_F_BLK_SIZE = 1n << 6n;
export const VIRTIO_BLK_F_FLUSH = 1n << 9n;

/** struct virtio_blk_config offsets (5.2.4). */
export const VIRTIO_BLK_CONFIG_CAPACITY = 0x00;
export const VIRTIO_BLK_CONFIG_SEG_MAX = 0x0c;
export const VIRTIO_BLK_CONFIG_BLK_SIZE = 0x14;
/** Up to and including num_queues; the fields of features not offered read 0. */
const CONFIG_SIZE = 0x24;

/** struct virtio_blk_req type (5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
/** Request status byte. */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** type (le32), reserved (le32), sector (le64). */
const REQUEST_HEADER_SIZE = 16;
export const VIRTIO_BLK_ID_BYTES = 20;
const DEFAULT_QUEUE_SIZE = 256;

export interface VirtioBlkOptions {
  name?: string;
  /** Returned by GET_ID (at most 20 ASCII bytes); Linux shows it as /sys/block/vdX/serial. */
  serial?: string;
  queueSize?: number;
}

export class VirtioBlk implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSizeBytes = CONFIG_SIZE;
  private readonly configBytes = new Uint8Array(CONFIG_SIZE);
  private readonly id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
  private context: VirtioContext | undefined;

  constructor(private readonly backend: BlockBackend, options: VirtioBlkOptions = {}) {
    this.name = options.name ?? 'virtio-blk';
    const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    this.queueMaxSizes = [queueSize];
    this.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | (backend.readOnly ? VIRTIO_BLK_F_RO : 0n);
    const view = new DataView(this.configBytes.buffer);
    view.setBigUint64(VIRTIO_BLK_CONFIG_CAPACITY, BigInt(Math.floor(backend.sizeBytes / VIRTIO_BLK_SECTOR_SIZE)), true);
    // A chain holds the header and the status byte besides the data segments.
    view.setUint32(VIRTIO_BLK_CONFIG_SEG_MAX, queueSize - 2, true);
    view.setUint32(VIRTIO_BLK_CONFIG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE, true);
    this.id.set(new TextEncoder().encode(options.serial ?? '').subarray(0, VIRTIO_BLK_ID_BYTES));
  }

  configRead(offset: number, size: AccessSize): number {
    return readConfigBytes(this.configBytes, offset, size);
  }

  configWrite(): void {}

  activate(context: VirtioContext): void {
    this.context = context;
  }

  notify(queueIndex: number): void {
    const queue = this.context?.queue(queueIndex);
    if (!queue) return;
    for (let chain = queue.pop(); chain; chain = queue.pop()) {
      const written = this.handle(queue, chain);
      if (written === undefined) return;
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

  /** Serves one request; returns the bytes written into the chain, or undefined if the chain is malformed. */
  private handle(queue: Virtqueue, chain: DescriptorChain): number | undefined {
    if (chain.readableBytes < REQUEST_HEADER_SIZE || chain.writableBytes < 1) {
      queue.fail(`request ${chain.head} has no header or no status byte`);
      return undefined;
    }
    const header = new DataView(chain.read(0, REQUEST_HEADER_SIZE).buffer);
    const type = header.getUint32(0, true);
    const sector = header.getBigUint64(8, true);
    const statusOffset = chain.writableBytes - 1;
    let status: number;
    let written = 0;
    switch (type) {
      case VIRTIO_BLK_T_IN:
        status = this.transfer(sector, statusOffset, chain.writableViews(0, statusOffset), false);
        written = statusOffset;
        break;
      case VIRTIO_BLK_T_OUT: {
        const length = chain.readableBytes - REQUEST_HEADER_SIZE;
        status = this.backend.readOnly
          ? VIRTIO_BLK_S_IOERR
          : this.transfer(sector, length, chain.readableViews(REQUEST_HEADER_SIZE, length), true);
        break;
      }
      case VIRTIO_BLK_T_FLUSH:
        status = this.attempt(() => this.backend.flush());
        break;
      case VIRTIO_BLK_T_GET_ID:
        written = chain.write(0, this.id.subarray(0, Math.min(VIRTIO_BLK_ID_BYTES, statusOffset)));
        status = VIRTIO_BLK_S_OK;
        break;
      default:
        status = VIRTIO_BLK_S_UNSUPP;
    }
    chain.write(statusOffset, Uint8Array.of(status));
    return written + 1;
  }

  private transfer(sector: bigint, lengthBytes: number, views: Uint8Array[], isWrite: boolean): number {
    const startBytes = sector * BigInt(VIRTIO_BLK_SECTOR_SIZE);
    if (lengthBytes % VIRTIO_BLK_SECTOR_SIZE !== 0) return VIRTIO_BLK_S_IOERR;
    if (startBytes + BigInt(lengthBytes) > BigInt(this.backend.sizeBytes)) return VIRTIO_BLK_S_IOERR;
    return this.attempt(() => {
      let offset = Number(startBytes);
      for (const view of views) {
        if (isWrite) this.backend.write(offset, view);
        else this.backend.read(offset, view);
        offset += view.length;
      }
    });
  }

  // A host I/O error is the guest's IOERR, never an exception out of the device.
  private attempt(io: () => void): number {
    try {
      io();
      return VIRTIO_BLK_S_OK;
    } catch {
      return VIRTIO_BLK_S_IOERR;
    }
  }
}
