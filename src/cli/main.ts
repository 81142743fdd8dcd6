import { parseArgs } from 'node:util';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ConfigError, ENGINES, parseDisk, parseMemorySize, type EngineName, type MachineConfig } from '../machine/config.ts';
import { BootError } from '../boot/linux.ts';
import { startVm, VmStartError } from '../host/node-vm.ts';
import { attachTerminal } from '../host/terminal.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_KERNEL = join(REPO_ROOT, 'guest', 'out', 'bzImage');
export const DEFAULT_INITRD = join(REPO_ROOT, 'guest', 'out', 'initramfs.cpio');
export const DEFAULT_APPEND = 'console=ttyS0 tsc=reliable panic=-1';

const HELP = `Usage: lilyvm run [options]

Boots an x86 Linux guest with its serial console on this terminal.
With no options it boots the default guest (guest/out/) to a shell.

Options:
  --kernel FILE        bzImage to boot (default: the bundled guest kernel)
  --initrd FILE        initramfs/initrd to load (default: the bundled busybox initramfs
                       when --kernel is not given)
  --append TEXT        kernel command line (default: "${DEFAULT_APPEND}")
  --disk FILE[,ro]     attach a raw disk image as a virtio block device (repeatable;
                       ",ro" attaches it read-only)
  --memory SIZE        guest RAM, e.g. 256M or 1G (default: 256M; 32M..2048M)
  --engine NAME        CPU engine: ${ENGINES.join(', ')} (default: interp)
  --trace FILE         write an instruction trace (address, bytes, registers) to FILE
  --trace-start N      first traced instruction (instructions retired before it; default 0)
  --trace-count N      number of instructions to trace (default 100000)
  -h, --help           show this help

Console: the terminal is in raw mode; Ctrl-C goes to the guest.
  Ctrl-A X  quit          Ctrl-A Ctrl-A  send Ctrl-A to the guest

Exit status: 0 when the guest powers off or reboots, the guest's value for a
debug-exit port (0x501) write, 1 on errors.`;

export function parseRunArgs(argv: string[]): MachineConfig {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kernel: { type: 'string' },
      initrd: { type: 'string' },
      append: { type: 'string' },
      disk: { type: 'string', multiple: true },
      memory: { type: 'string' },
      engine: { type: 'string' },
      trace: { type: 'string' },
      'trace-start': { type: 'string' },
      'trace-count': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 0) throw new ConfigError(`Unexpected argument "${positionals[0]}": see lilyvm run --help`);
  const engine = (values.engine ?? 'interp') as EngineName;
  if (!ENGINES.includes(engine)) throw new ConfigError(`Engine "${values.engine}" is not available: choose one of ${ENGINES.join(', ')}`);
  const kernelPath = values.kernel ?? DEFAULT_KERNEL;
  const initrdPath = values.initrd ?? (values.kernel ? undefined : DEFAULT_INITRD);
  const count = (name: string, text: string | undefined, dflt: number): number => {
    if (text === undefined) return dflt;
    if (!/^\d+$/.test(text)) throw new ConfigError(`--${name} "${text}" is not a whole number`);
    return Number(text);
  };
  return {
    kernelPath,
    initrdPath,
    cmdline: values.append ?? DEFAULT_APPEND,
    memoryBytes: parseMemorySize(values.memory ?? '256M'),
    disks: (values.disk ?? []).map(parseDisk),
    engine,
    trace: values.trace
      ? { path: values.trace, start: count('trace-start', values['trace-start'], 0), count: count('trace-count', values['trace-count'], 100_000) }
      : undefined,
  };
}

function readInput(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new ConfigError(`${what} ${path} does not exist`);
  const st = statSync(path);
  if (!st.isFile()) throw new ConfigError(`${what} ${path} is not a regular file`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`${what} ${path} cannot be read: ${(e as Error).message}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(HELP + '\n');
    return command === undefined ? 1 : 0;
  }
  if (command !== 'run') {
    process.stderr.write(`lilyvm: unknown command "${command}": try lilyvm run --help\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  try {
    const config = parseRunArgs(rest);
    const kernel = readInput(config.kernelPath, 'Kernel image');
    const initrd = config.initrdPath ? readInput(config.initrdPath, 'Initrd') : undefined;
    const vm = startVm(config, { kernel, initrd, consoleOut: (b) => process.stdout.write(b) });
    const detach = attachTerminal({
      input: process.stdin,
      onData: (bytes) => vm.machine.consoleIn(bytes),
      onQuit: () => vm.machine.stop({ kind: 'quit', status: 0 }),
    });
    let reason;
    try {
      reason = await vm.run();
    } finally {
      detach();
      vm.close();
    }
    if (reason.kind === 'error' || reason.kind === 'triple-fault') process.stderr.write(`\nlilyvm: ${reason.message}\n`);
    return reason.status;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof BootError || e instanceof VmStartError) {
      process.stderr.write(`lilyvm: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
