import type { AccessSize, BusDevice } from '../../bus/device.ts';
import type { PciBarKind } from './config-space.ts';

/** A BAR a PCI function asks for; the host bridge assigns its address. */
export interface PciBarRequest {
  index: number; // 0..5
  kind: PciBarKind;
  sizeBytes: number; // power of two
  device: BusDevice; // the registers behind the BAR, addressed from offset 0
  name: string;
}

/**
 * A PCI function as the host bridge sees it: a 256-byte configuration space
 * (type 0 header) and the BARs it wants. The BAR registers themselves live in
 * configuration space (PciConfigSpace gives them sizing semantics); the host
 * bridge reads them back after every write and maps each BAR's device onto the
 * I/O or MMIO bus while the command register enables decoding.
 */
export interface PciFunction {
  readonly name: string;
  /** Reads from the function's configuration space (offset 0..255). */
  configRead(offset: number, size: AccessSize): number;
  configWrite(offset: number, size: AccessSize, value: number): void;
  readonly bars: readonly PciBarRequest[];
}
