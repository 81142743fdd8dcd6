// QEMU isa-debug-exit (hw/misc/debugexit.c): a write of V ends the run with exit status (V << 1) | 1.
import type { AccessSize, BusDevice } from '../bus/device.ts';

export class DebugExit implements BusDevice {
  constructor(private readonly onExit: (status: number) => void) {}

  read(): number {
    return 0;
  }

  write(_offset: number, size: AccessSize, value: number): void {
    const v = size === 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
    this.onExit(v * 2 + 1);
  }
}
