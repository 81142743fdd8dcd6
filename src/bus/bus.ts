import type { AccessSize, BusDevice } from './device.ts';

interface Mapping {
  base: number;
  length: number;
  device: BusDevice;
  name: string;
}

export class BusOverlapError extends Error {}

/**
 * An address space of device windows: the port-I/O bus (64 KiB) or the MMIO bus
 * (32-bit physical). Registration refuses overlaps. An unclaimed read returns all
 * ones and an unclaimed write is dropped, as on a PC.
 */
export class Bus {
  private readonly mappings: Mapping[] = [];
  private lastHit: Mapping | undefined;

  constructor(readonly name: string) {}

  register(base: number, length: number, device: BusDevice, name: string): void {
    if (length <= 0) throw new RangeError(`${this.name}: ${name} has an empty window`);
    for (const m of this.mappings) {
      if (base < m.base + m.length && m.base < base + length) {
        throw new BusOverlapError(
          `${this.name}: ${name} at ${hex(base)}+${hex(length)} overlaps ${m.name} at ${hex(m.base)}+${hex(m.length)}`,
        );
      }
    }
    this.mappings.push({ base, length, device, name });
    this.mappings.sort((a, b) => a.base - b.base);
  }

  unregister(device: BusDevice): void {
    for (let i = this.mappings.length - 1; i >= 0; i--) {
      if (this.mappings[i].device === device) this.mappings.splice(i, 1);
    }
    this.lastHit = undefined;
  }

  /** The mapping that contains addr, or undefined. */
  find(addr: number): Mapping | undefined {
    const hit = this.lastHit;
    if (hit && addr >= hit.base && addr < hit.base + hit.length) return hit;
    for (const m of this.mappings) {
      if (addr >= m.base && addr < m.base + m.length) {
        this.lastHit = m;
        return m;
      }
    }
    return undefined;
  }

  isClaimed(addr: number): boolean {
    return this.find(addr) !== undefined;
  }

  read(addr: number, size: AccessSize): number {
    const m = this.find(addr);
    if (!m) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    return m.device.read(addr - m.base, size);
  }

  write(addr: number, size: AccessSize, value: number): void {
    const m = this.find(addr);
    if (m) m.device.write(addr - m.base, size, value);
  }
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}
