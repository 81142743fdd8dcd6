import '../engines/index.ts';
import { openSync, writeSync, closeSync, existsSync, readFileSync, statSync } from 'node:fs';
import { buildMachine, type Machine, type StopReason } from '../machine/machine.ts';
import type { MachineConfig } from '../machine/config.ts';
import { systemClock } from '../machine/clock.ts';
import { FileBlockBackend, DiskImageError } from './file-block-backend.ts';
import { hostEntropy } from './entropy.ts';
import { diskIdentity, SnapshotError, writeSnapshotFile, type SnapshotHeader } from './snapshot-file.ts';
import { VERSION } from './defaults.ts';

export class VmStartError extends Error {}

/** Read a kernel or initrd image; what names it in messages ("Kernel image", "Initrd"). */
export function readInput(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new VmStartError(`${what} ${path} does not exist`);
  const st = statSync(path);
  if (!st.isFile()) throw new VmStartError(`${what} ${path} is not a regular file`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new VmStartError(`${what} ${path} cannot be read: ${(e as Error).message}`);
  }
}


export interface NodeVmInputs {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  consoleOut(bytes: Uint8Array): void;
}

export interface NodeVm {
  /** The running machine; a guest reset replaces it with a new one that boots again. */
  readonly machine: Machine;
  /** Run until the guest stops for good (a reset boots it again unless config.noReboot). */
  run(): Promise<StopReason>;
  /** Host input for the guest's serial console. */
  consoleIn(bytes: Uint8Array): void;
  /** Stop from the host (Ctrl-A X, Vm.stop()). */
  stop(reason: StopReason): void;
  /** Save the whole machine to `path` at the next instruction boundary; the guest runs on. Resolves with the file size. */
  saveSnapshot(path: string): Promise<number>;
  /** Flush and close disks and the trace file. */
  close(): void;
}

/** A snapshot to start from instead of booting (read and checked by readSnapshotFile). */
export interface RestorePoint {
  header: SnapshotHeader;
  ram: Uint8Array;
}

/** Build a machine for Node.js: files as disks, the host clock, crypto entropy. */
export function startVm(config: MachineConfig, inputs: NodeVmInputs, restore?: RestorePoint): NodeVm {
  const disks: FileBlockBackend[] = [];
  let traceFd: number | undefined;
  const closeAll = () => {
    for (const d of disks) d.close();
    if (traceFd !== undefined) closeSync(traceFd);
    traceFd = undefined;
  };
  const build = (): Machine =>
    buildMachine(
      {
        memoryBytes: config.memoryBytes,
        engine: config.engine,
        disks,
        images: {
          kernel: inputs.kernel,
          kernelName: config.kernelPath,
          initrd: inputs.initrd,
          initrdName: config.initrdPath,
          cmdline: config.cmdline,
        },
      },
      {
        clock: systemClock,
        realtime: true,
        consoleOut: inputs.consoleOut,
        entropy: hostEntropy,
        warn: (msg) => process.stderr.write(`lilyvm: warning: ${msg}\n`),
      },
    );
  let machine: Machine;
  try {
    for (const d of config.disks) disks.push(FileBlockBackend.open(d.path, { readOnly: d.readOnly }));
    machine = build();
    if (restore) {
      try {
        machine.memory.u8.set(restore.ram);
        machine.applyState(restore.header.machine);
      } catch (e) {
        throw new SnapshotError(`the snapshot does not fit this machine: ${(e as Error).message}`);
      }
    }
    if (config.trace) {
      try {
        traceFd = openSync(config.trace.path, 'w');
      } catch (e) {
        throw new VmStartError(`Trace file ${config.trace.path} cannot be written: ${(e as Error).message}`);
      }
      const fd = traceFd;
      machine.setTrace({ start: config.trace.start, count: config.trace.count, write: (line) => writeSync(fd, line + '\n') });
    }
  } catch (e) {
    closeAll();
    if (e instanceof DiskImageError || e instanceof SnapshotError) throw new VmStartError(e.message);
    throw e;
  }
  let hostStop: StopReason | undefined;
  return {
    get machine() {
      return machine;
    },
    async run() {
      for (;;) {
        const reason = await machine.run();
        if (reason.kind !== 'reset' || config.noReboot || hostStop) return hostStop ?? reason;
        // A reset: as on a PC, everything but the disks starts again from power-on.
        for (const d of disks) d.flush();
        machine = build();
      }
    },
    consoleIn: (bytes) => machine.consoleIn(bytes),
    async saveSnapshot(path) {
      const snap = await machine.snapshot(() => {
        for (const d of disks) d.flush();
        return config.disks.map(diskIdentity);
      });
      return writeSnapshotFile(path, {
        lilyvmVersion: VERSION,
        createdAt: new Date().toISOString(),
        engine: config.engine,
        kernelPath: config.kernelPath,
        initrdPath: config.initrdPath,
        cmdline: config.cmdline,
        noReboot: config.noReboot ?? false,
        disks: snap.extra,
      }, snap);
    },
    stop(reason) {
      hostStop ??= reason;
      machine.stop(reason);
    },
    close: closeAll,
  };
}
