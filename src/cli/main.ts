import { parseArgs } from 'node:util';
import { ConfigError, ENGINES, type EngineName, type MachineConfig } from '../machine/config.ts';
import { DEFAULT_APPEND, resolveMachineConfig, VERSION } from '../host/defaults.ts';
import { BootError } from '../boot/linux.ts';
import { readInput, startVm, VmStartError, type RestorePoint } from '../host/node-vm.ts';
import { configFromSnapshot, loadRestorePoint, SnapshotError } from '../host/snapshot-file.ts';
import { attachTerminal } from '../host/terminal.ts';
import { EXIT_CPU_STOPPED, EXIT_ERROR, EXIT_OK, EXIT_PANIC, EXIT_USAGE } from '../machine/machine.ts';

export { DEFAULT_APPEND, DEFAULT_INITRD, DEFAULT_KERNEL, VERSION } from '../host/defaults.ts';

/** A wrong command line: one line on stderr, a hint, exit status 2. */
export class UsageError extends Error {}

const HELP = `Usage: lilyvm run [options]
       lilyvm web [--port N]    (the same guest in a browser tab: lilyvm web --help)
       lilyvm --version

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
  --no-reboot          exit when the guest reboots, instead of booting it again
  --snapshot FILE      where Ctrl-A S and SIGUSR1 save a snapshot of the whole machine
                       (default: lilyvm.snapshot in the current directory)
  --restore FILE       resume a saved snapshot instead of booting (the snapshot's own
                       kernel, memory and disks are used; a disk changed since is refused)
  --trace FILE         write an instruction trace (address, bytes, registers) to FILE
  --trace-start N      first traced instruction (instructions retired before it; default 0)
  --trace-count N      number of instructions to trace (default 100000)
  -h, --help           show this help
  -V, --version        print the version

Console: the terminal is in raw mode; Ctrl-C goes to the guest.
  Ctrl-A X  quit          Ctrl-A S  save a snapshot (also: kill -USR1)
  Ctrl-A Ctrl-A  send Ctrl-A to the guest

Exit status:
  ${EXIT_OK}  the guest powered off (poweroff, ACPI S5), or rebooted with --no-reboot,
     or Ctrl-A X ended the run
  ${EXIT_ERROR}  LilyVM could not run the guest: a missing or bad file, an engine error
  ${EXIT_USAGE}  the command line is wrong
  ${EXIT_PANIC}  the guest kernel panicked (pvpanic)
  ${EXIT_CPU_STOPPED}  the guest CPU stopped for good without asking for power-off: HLT with
     interrupts disabled, or a triple fault
  A write of V to the debug-exit port 0x501 exits with (V << 1) | 1, as QEMU's isa-debug-exit.`;

/** node:util parseArgs errors, as one line without Node's wording about "<value>". */
function parseOptions(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: RUN_OPTIONS });
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    const msg = (e as Error).message;
    const option = /'(-[^' ]*)/.exec(msg)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/argument missing/.test(msg)) throw new UsageError(`option ${option} needs a value`);
      if (/ambiguous/.test(msg)) throw new UsageError(`option ${option} needs a value, and the next argument looks like an option (write ${option}=VALUE to pass it)`);
      throw new UsageError(`option ${option} takes no value`);
    }
    throw new UsageError(msg.split('\n')[0]);
  }
}

const RUN_OPTIONS = {
  kernel: { type: 'string' },
  initrd: { type: 'string' },
  append: { type: 'string' },
  disk: { type: 'string', multiple: true },
  memory: { type: 'string' },
  engine: { type: 'string' },
  trace: { type: 'string' },
  'trace-start': { type: 'string' },
  'trace-count': { type: 'string' },
  'no-reboot': { type: 'boolean' },
  snapshot: { type: 'string' },
  restore: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

export function parseRunArgs(argv: string[]): MachineConfig {
  const { values, positionals } = parseOptions(argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  try {
    return toConfig(values);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

function toConfig(values: ReturnType<typeof parseOptions>['values']): MachineConfig {
  const count = (name: string, text: string | undefined, dflt: number): number => {
    if (text === undefined) return dflt;
    if (!/^\d+$/.test(text)) throw new ConfigError(`--${name} "${text}" is not a whole number`);
    return Number(text);
  };
  return resolveMachineConfig({
    kernel: values.kernel,
    initrd: values.initrd,
    append: values.append,
    memory: values.memory,
    disks: values.disk,
    engine: values.engine as EngineName | undefined,
    noReboot: values['no-reboot'] ?? false,
    trace: values.trace
      ? { path: values.trace, start: count('trace-start', values['trace-start'], 0), count: count('trace-count', values['trace-count'], 100_000) }
      : undefined,
  });
}


const WEB_HELP = `Usage: lilyvm web [--port N] [--host ADDRESS]

Serves a page that boots the default guest in the browser (the machine runs in a Web
Worker, the console in xterm.js) and prints its address. Ctrl-C stops the server.

  --port N          TCP port (default 8086; 0 picks a free one)
  --host ADDRESS    address to listen on (default 127.0.0.1)`;

async function web(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    return usage((e as Error).message.split('\n')[0]);
  }
  if (values.help) {
    process.stdout.write(WEB_HELP + '\n');
    return EXIT_OK;
  }
  const port = Number(values.port ?? 8086);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return usage(`--port "${values.port}" is not a TCP port`);
  const { serveWeb } = await import('./web.ts');
  let served;
  try {
    served = await serveWeb(values.host ?? '127.0.0.1', port);
  } catch (e) {
    process.stderr.write(`lilyvm: ${(e as Error).message}\n`);
    return EXIT_ERROR;
  }
  process.stdout.write(`LilyVM web page: ${served.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  served.server.close();
  return EXIT_OK;
}

function usage(message: string): number {
  process.stderr.write(`lilyvm: ${message} (see lilyvm run --help)\n`);
  return EXIT_USAGE;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '-V' || command === '--version' || command === 'version') {
    process.stdout.write(`lilyvm ${VERSION}\n`);
    return EXIT_OK;
  }
  if (command === undefined) {
    process.stderr.write(HELP + '\n');
    return EXIT_USAGE;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(HELP + '\n');
    return EXIT_OK;
  }
  if (command === 'web') return web(rest);
  if (command !== 'run') return usage(`unknown command "${command}"`);
  try {
    const options = parseOptions(rest).values;
    if (options.help) {
      process.stdout.write(HELP + '\n');
      return EXIT_OK;
    }
    if (options.version) {
      process.stdout.write(`lilyvm ${VERSION}\n`);
      return EXIT_OK;
    }
    let config = parseRunArgs(rest);
    let restore: RestorePoint | undefined;
    if (options.restore !== undefined) {
      const others = Object.keys(options).filter((k) => !['restore', 'snapshot'].includes(k));
      if (others.length) throw new UsageError(`--restore takes the snapshot's own configuration: drop --${others.join(', --')}`);
      restore = loadRestorePoint(options.restore);
      config = configFromSnapshot(restore.header);
    }
    const kernel = readInput(config.kernelPath, 'Kernel image');
    const initrd = config.initrdPath ? readInput(config.initrdPath, 'Initrd') : undefined;
    const vm = startVm(config, { kernel, initrd, consoleOut: (b) => process.stdout.write(b) }, restore);
    const snapshotPath = options.snapshot ?? 'lilyvm.snapshot';
    let saving = false;
    const save = () => {
      if (saving) return;
      saving = true;
      vm.saveSnapshot(snapshotPath).then(
        (bytes) => process.stderr.write(`\r\nlilyvm: snapshot saved to ${snapshotPath} (${(bytes / 1048576).toFixed(1)} MiB)\r\n`),
        (e: unknown) => process.stderr.write(`\r\nlilyvm: ${(e as Error).message}\r\n`),
      ).finally(() => (saving = false));
    };
    process.on('SIGUSR1', save);
    const detach = attachTerminal({
      input: process.stdin,
      onData: (bytes) => vm.consoleIn(bytes),
      onQuit: () => vm.stop({ kind: 'quit', status: EXIT_OK }),
      onSnapshot: save,
      backlog: () => vm.machine.consoleBacklog(),
    });
    let reason;
    try {
      reason = await vm.run();
      while (saving) await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off('SIGUSR1', save);
      detach();
      vm.close();
    }
    if ('message' in reason) process.stderr.write(`\nlilyvm: ${reason.message}\n`);
    return reason.status;
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    if (e instanceof BootError || e instanceof VmStartError || e instanceof SnapshotError) {
      process.stderr.write(`lilyvm: ${e.message}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
}
