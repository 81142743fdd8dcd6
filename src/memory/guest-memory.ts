/** WebAssembly's page size: a Memory grows in these. */
const WASM_PAGE_BYTES = 65536;

/** What is used here of a WebAssembly.Memory (lib ES2022 declares no WebAssembly types). */
export interface LinearMemory {
  readonly buffer: ArrayBuffer;
}

const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => LinearMemory } }).WebAssembly.Memory;

/**
 * Guest physical RAM: one contiguous block from physical address 0. Devices use
 * the bounds-checked helpers (DMA); the CPU engines use the typed-array views.
 * It lives in a WebAssembly.Memory of fixed size, so that code an engine generates
 * can address guest RAM directly, sharing the bytes with the interpreter and devices.
 */
export class GuestMemory {
  /** The linear memory that holds guest RAM at offset 0 (never grown: views stay valid). */
  readonly wasm: LinearMemory;
  /** Byte offset of the engine area that follows RAM (the CPU state and TLB, src/cpu/layout.ts). */
  readonly engineAreaOffset: number;
  readonly u8: Uint8Array;
  readonly view: DataView;

  private readonly writeListeners: ((addr: number, length: number) => void)[] = [];

  /** engineAreaBytes: room after RAM, in the same linear memory, for an engine's own state. */
  constructor(readonly sizeBytes: number, readonly engineAreaBytes = 0) {
    if (sizeBytes % 4096 !== 0) throw new RangeError('guest RAM size must be a multiple of 4 KiB');
    this.engineAreaOffset = sizeBytes;
    const pages = Math.ceil((sizeBytes + engineAreaBytes) / WASM_PAGE_BYTES);
    this.wasm = new WasmMemory({ initial: pages, maximum: pages });
    this.u8 = new Uint8Array(this.wasm.buffer, 0, sizeBytes);
    this.view = new DataView(this.wasm.buffer, 0, sizeBytes);
  }

  contains(guestPhysAddr: number, length: number): boolean {
    return guestPhysAddr >= 0 && length >= 0 && guestPhysAddr + length <= this.sizeBytes;
  }

  private check(guestPhysAddr: number, length: number): void {
    if (!this.contains(guestPhysAddr, length)) {
      throw new GuestMemoryError(
        `guest physical range 0x${guestPhysAddr.toString(16)}+0x${length.toString(16)} is outside RAM`,
      );
    }
  }

  /** A view of guest RAM (no copy). */
  slice(guestPhysAddr: number, length: number): Uint8Array {
    this.check(guestPhysAddr, length);
    return this.u8.subarray(guestPhysAddr, guestPhysAddr + length);
  }

  read8(a: number): number { this.check(a, 1); return this.u8[a]; }
  read16(a: number): number { this.check(a, 2); return this.view.getUint16(a, true); }
  read32(a: number): number { this.check(a, 4); return this.view.getUint32(a, true); }
  read64(a: number): bigint { this.check(a, 8); return this.view.getBigUint64(a, true); }
  write8(a: number, v: number): void { this.check(a, 1); this.wrote(a, 1); this.u8[a] = v; }
  write16(a: number, v: number): void { this.check(a, 2); this.wrote(a, 2); this.view.setUint16(a, v, true); }
  write32(a: number, v: number): void { this.check(a, 4); this.wrote(a, 4); this.view.setUint32(a, v >>> 0, true); }
  write64(a: number, v: bigint): void { this.check(a, 8); this.wrote(a, 8); this.view.setBigUint64(a, v, true); }

  writeBytes(guestPhysAddr: number, data: Uint8Array): void {
    this.check(guestPhysAddr, data.length);
    this.wrote(guestPhysAddr, data.length);
    this.u8.set(data, guestPhysAddr);
  }

  /** A view of guest RAM (no copy) that the caller is about to write into (DMA). */
  writableSlice(guestPhysAddr: number, length: number): Uint8Array {
    this.check(guestPhysAddr, length);
    this.wrote(guestPhysAddr, length);
    return this.u8.subarray(guestPhysAddr, guestPhysAddr + length);
  }

  /** Be told about every write made through this object (the vCPU's own stores do not come here). */
  onWrite(listener: (addr: number, length: number) => void): void {
    this.writeListeners.push(listener);
  }

  private wrote(addr: number, length: number): void {
    for (const f of this.writeListeners) f(addr, length);
  }
}

/** A device or loader touched guest memory outside RAM. */
export class GuestMemoryError extends Error {}
