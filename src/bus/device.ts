/** Access width in bytes. */
export type AccessSize = 1 | 2 | 4;

/**
 * A device window on a bus. Offsets are relative to the start of the window the
 * device was registered at; the device never knows its absolute address.
 */
export interface BusDevice {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

/** A level-sensitive interrupt line. Edge-triggered devices pulse it (true, then false). */
export interface IrqLine {
  set(level: boolean): void;
}

/** An IRQ line that does nothing, for devices whose interrupt is not wired. */
export const NO_IRQ: IrqLine = { set() {} };
