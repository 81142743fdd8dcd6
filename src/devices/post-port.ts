// Port 0x80, the POST diagnostic port. Nothing decodes reads; Linux writes it as an I/O delay (io_delay.c).
import type { AccessSize, BusDevice } from '../bus/device.ts';

export class PostPort implements BusDevice {
  read(_offset: number, size: AccessSize): number {
    return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
  }

  write(): void {}
}
