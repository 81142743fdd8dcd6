/**
 * Where a differential test case lives, the same on the host CPU (a 32-bit Linux
 * process) and in the interpreter (ring 3 under our page tables).
 */
export const CODE_BASE = 0x10000000;
export const CODE_SIZE = 0x2000;
/** The instruction under test starts here; every other byte of the code pages is INT3. */
export const CODE_ENTRY = CODE_BASE + 0x800;
export const DATA_BASE = 0x20000000;
export const DATA_SIZE = 0x4000;
/** A low window reachable by 16-bit addressing (offsets are below 0x10000). */
export const LOW_BASE = 0x4000;
export const LOW_SIZE = 0x2000;

/** Linux i386 user selectors (GDT_ENTRY_DEFAULT_USER_CS/DS). */
export const USER_CS = 0x23;
export const USER_DS = 0x2b;

export const INT3 = 0xcc;

/**
 * Both sides fill the data window and then the low window from one xorshift32
 * stream seeded by the case (seed 0: zeros), one 32-bit word at a time.
 */
export function fillWindows(data: Uint8Array, low: Uint8Array, seed: number): void {
  let x = seed >>> 0;
  for (const out of [data, low]) {
    const words = new Int32Array(out.buffer, out.byteOffset, out.length >> 2);
    if (x === 0) {
      out.fill(0);
      continue;
    }
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      words[i] = x;
    }
  }
}
