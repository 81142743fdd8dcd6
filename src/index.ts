// The Node library: boot, drive and stop guests from code (README "From code").
export {
  Vm, VmError, WaitTimeoutError, GuestStoppedError, InputOverflowError, AbortError, BootError, ConfigError, SnapshotError, VmStartError,
  type VmOptions, type WaitOptions, type CommandResult,
} from './vm.ts';
export { DiskImageError } from './host/file-block-backend.ts';
export type { StopReason } from './machine/machine.ts';
export { EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PANIC, EXIT_CPU_STOPPED } from './machine/machine.ts';
export type { DiskConfig, EngineName } from './machine/config.ts';
export { DEFAULT_APPEND, DEFAULT_INITRD, DEFAULT_KERNEL, DEFAULT_MEMORY, VERSION } from './host/defaults.ts';
