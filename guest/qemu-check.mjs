#!/usr/bin/env node
// Boots guest/out under qemu-system-i386 (TCG) and checks the default guest from a script.
//
//   node guest/qemu-check.mjs                 full check: shell, disks, rng, clock, net, power-off
//   node guest/qemu-check.mjs --time 5        boot to the banner 5 times, print the wall
//        times and QEMU's CPU time (the latter depends less on other load on the host)
//   node guest/qemu-check.mjs --time 1 --icount 1 --append "console=ttyS0 printk.time=1"
//        deterministic virtual time (1 ns per instruction, idle skipped): prints the guest
//        clock at "Run /init", a measure of work that does not depend on host load
//
// Options: --kernel FILE  --initrd FILE  --append "ARGS"  --cpu MODEL (default pentium2)
//          --qboot 1: firmware qboot instead of SeaBIOS and no local APIC, like LilyVM:
//          no $PIR table, no MP table, no BARs assigned; the kernel takes each device's IRQ
//          from its Interrupt Line register. qboot's Interrupt Line values agree with
//          QEMU's PIIX INTA routing only in odd slots, so the devices sit in 3, 5, 7, 9 and 0xb.
//          --trace-ports FILE (writes QEMU's memory_region_ops trace: port I/O and MMIO)  --log FILE (serial log)
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const guestDir = dirname(fileURLToPath(import.meta.url));
const workDir = join(guestDir, 'build', 'qemu-check');
const banner = 'LilyVM guest ready';
const prompt = '~ # ';
const defaultAppend = 'console=ttyS0 tsc=reliable';

function parseArgs(argv) {
  const opts = {
    kernel: join(guestDir, 'out', 'bzImage'),
    initrd: join(guestDir, 'out', 'initramfs.cpio'),
    append: defaultAppend,
    qboot: false,
    icount: false,
    cpu: 'pentium2',
    time: 0,
    tracePorts: null,
    log: join(workDir, 'serial.log'),
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    const value = argv[++i];
    if (name === 'time') opts.time = Number(value);
    else if (name === 'trace-ports') opts.tracePorts = value;
    else if (name === 'qboot') opts.qboot = value === '1';
    else if (name === 'icount') opts.icount = value === '1';
    else if (name in opts) opts[name] = value;
    else throw new Error(`unknown option --${name}`);
  }
  return opts;
}

class Guest {
  constructor(args) {
    this.output = '';
    this.consumed = 0;
    this.startMs = Date.now();
    this.proc = spawn('qemu-system-i386', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stdout.on('data', (chunk) => { this.output += chunk.toString('latin1'); this.poke?.(); });
    this.proc.stderr.on('data', (chunk) => { this.output += chunk.toString('latin1'); this.poke?.(); });
  }

  elapsedMs() { return Date.now() - this.startMs; }

  // Resolves with the text between the last match and this one (the match included).
  waitFor(pattern, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.poke = null;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; last output:\n${this.output.slice(-800)}`));
      }, timeoutMs);
      this.poke = () => {
        const rest = this.output.slice(this.consumed);
        const index = typeof pattern === 'string' ? rest.indexOf(pattern) : rest.search(pattern);
        if (index < 0) return;
        const length = typeof pattern === 'string' ? pattern.length : rest.match(pattern)[0].length;
        this.consumed += index + length;
        clearTimeout(timer);
        this.poke = null;
        resolve(rest.slice(0, index + length));
      };
      this.poke();
    });
  }

  type(text) { this.proc.stdin.write(text); }

  // Runs one shell command and returns its output and exit status. The markers are
  // joined by printf so that the terminal's echo of the command line never matches.
  async run(command, timeoutMs = 30000) {
    const tag = Math.random().toString(36).slice(2, 8);
    this.type(`printf '%s_%s\\n' begin ${tag}; ${command}; printf '%s_%s %s\\n' done ${tag} $?\n`);
    await this.waitFor(new RegExp(`begin_${tag}\\r?\\n`), timeoutMs);
    const text = await this.waitFor(new RegExp(`done_${tag} (\\d+)\\r?\\n`), timeoutMs);
    const status = Number(text.match(new RegExp(`done_${tag} (\\d+)`))[1]);
    await this.waitFor(prompt, timeoutMs);
    return { text: text.slice(0, text.lastIndexOf(`done_${tag}`)).replace(/\r/g, '').trim(), status };
  }

  kill() { this.proc.kill('SIGKILL'); return this.exited; }
}

function qemuArgs(opts, disks) {
  const slots = opts.qboot ? ['3', '5', '7', '9', 'b'] : ['3', '4', '5', '6', '7'];
  const at = () => `,addr=${slots.shift()}`;
  const args = [
    '-cpu', opts.qboot ? 'pentium2,-apic' : opts.cpu, '-m', '256', '-nographic', '-no-reboot',
    '-kernel', opts.kernel, '-initrd', opts.initrd, '-append', opts.append, '-net', 'none',
    '-device', `virtio-rng-pci,disable-legacy=on${at()}`,
  ];
  if (opts.qboot) args.push('-bios', '/usr/share/qemu/qboot.rom');
  if (opts.icount) args.push('-icount', 'shift=0,sleep=off');
  disks.forEach((file, n) => {
    args.push('-drive', `file=${file},if=none,id=d${n},format=raw`,
      '-device', `virtio-blk-pci,drive=d${n},disable-legacy=on${at()}`);
  });
  if (!opts.time) {
    args.push('-netdev', 'user,id=n0', '-device', `virtio-net-pci,netdev=n0,disable-legacy=on${at()}`);
    args.push('-device', `virtio-serial-pci,disable-legacy=on${at()}`,
      '-chardev', `file,id=c1,path=${join(workDir, 'hvc0.out')}`, '-device', 'virtconsole,chardev=c1');
  }
  if (opts.tracePorts) args.push('-trace', 'memory_region_ops_read', '-trace', 'memory_region_ops_write', '-D', opts.tracePorts);
  return args;
}

// User + system CPU time of a Linux process so far (/proc/PID/stat, in clock ticks of 10 ms).
function processCpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function timeBoots(opts) {
  const wallMs = [];
  const cpuMs = [];
  const guestInitSeconds = [];
  for (let i = 0; i < opts.time; i++) {
    const guest = new Guest(qemuArgs(opts, []));
    await guest.waitFor(banner, 120000);
    wallMs.push(guest.elapsedMs());
    cpuMs.push(processCpuMs(guest.proc.pid));
    const initLine = guest.output.match(/\[\s*(\d+\.\d+)\] Run \/init/);
    if (initLine) guestInitSeconds.push(Number(initLine[1]));
    await guest.kill();
  }
  const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
  console.log(JSON.stringify({
    append: opts.append, initrd: opts.initrd, qboot: opts.qboot, icount: opts.icount,
    bootToBannerMs: wallMs, medianMs: median(wallMs),
    qemuCpuMs: cpuMs, medianQemuCpuMs: median(cpuMs),
    ...(guestInitSeconds.length ? { guestSecondsAtRunInit: guestInitSeconds } : {}),
  }));
}

function check(results, name, ok, detail) {
  results.push({ name, ok });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
}

async function fullCheck(opts) {
  const blank = join(workDir, 'blank.img');
  const ext4 = join(workDir, 'ext4.img');
  const seed = join(workDir, 'seed');
  rmSync(blank, { force: true });
  rmSync(ext4, { force: true });
  writeFileSync(blank, '');
  execFileSync('truncate', ['-s', '64M', blank]);
  mkdirSync(seed, { recursive: true });
  writeFileSync(join(seed, 'hello.txt'), 'written by the host\n');
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', seed, ext4, '32M']);

  const results = [];
  const guest = new Guest(qemuArgs(opts, [blank, ext4]));
  try {
    await guest.waitFor(banner, 120000);
    const bannerMs = guest.elapsedMs();
    check(results, 'banner', true, `${bannerMs} ms after QEMU start`);
    await guest.waitFor(prompt, 20000);
    check(results, 'prompt', true, JSON.stringify(prompt));

    const uname = await guest.run('uname -a');
    check(results, 'uname -a', uname.status === 0 && /Linux lilyvm .*i686/.test(uname.text), uname.text);

    const hostSeconds = Math.floor(Date.now() / 1000);
    const date = await guest.run('date -u +%s');
    const skew = Number(date.text.split('\n').pop()) - hostSeconds;
    check(results, 'date matches the host clock', Math.abs(skew) <= 5, `guest - host = ${skew} s`);

    const devices = await guest.run('ls -l /dev/vda /dev/vdb /dev/hwrng /dev/hvc0 && cat /sys/class/misc/hw_random/rng_current');
    check(results, '/dev/vda, /dev/vdb, /dev/hwrng, /dev/hvc0', devices.status === 0 && /virtio_rng/.test(devices.text), devices.text.replace(/\n/g, ' | '));

    const rng = await guest.run('head -c 16 /dev/hwrng | od -An -tx1');
    check(results, 'read /dev/hwrng', rng.status === 0 && /[0-9a-f]{2}( [0-9a-f]{2}){15}/.test(rng.text), rng.text);

    const mkfs = await guest.run('mke2fs -q /dev/vda && mount -t ext2 /dev/vda /mnt && echo guest-data > /mnt/f && umount /mnt && mount /dev/vda /mnt && cat /mnt/f && grep vda /proc/mounts && umount /mnt', 60000);
    check(results, 'mke2fs + mount ext2 on /dev/vda', mkfs.status === 0 && /guest-data/.test(mkfs.text), mkfs.text.replace(/\n/g, ' | '));

    const ext4Mount = await guest.run('mount /dev/vdb /mnt && cat /mnt/hello.txt && grep vdb /proc/mounts && echo more >> /mnt/hello.txt && umount /mnt');
    check(results, 'mount host-made ext4 on /dev/vdb', ext4Mount.status === 0 && /written by the host/.test(ext4Mount.text) && /ext4/.test(ext4Mount.text), ext4Mount.text.replace(/\n/g, ' | '));

    const hvc = await guest.run('echo via-virtio-console > /dev/hvc0');
    check(results, 'write to /dev/hvc0', hvc.status === 0);

    const net = await guest.run('udhcpc -q -n -i eth0 >/dev/null 2>&1; ip -4 addr show eth0 | grep inet; ip route', 30000);
    check(results, 'virtio-net + DHCP (QEMU user net)', /inet 10\.0\.2\.15/.test(net.text), net.text.replace(/\n/g, ' | '));

    guest.type('sleep 30\n');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const ctrlCSentMs = guest.elapsedMs();
    guest.type('\x03');
    await guest.waitFor(prompt, 5000);
    check(results, 'Ctrl-C interrupts a foreground job', true, `${guest.elapsedMs() - ctrlCSentMs} ms`);

    const info = await guest.run('cat /proc/cmdline; cat /proc/interrupts; cat /proc/bus/pci/devices | cut -f1-3; cat /sys/devices/system/clocksource/clocksource0/current_clocksource; grep -E "^(model name|flags)" /proc/cpuinfo');
    console.log(info.text);
    const dmesg = await guest.run('dmesg');
    writeFileSync(join(workDir, 'dmesg.txt'), dmesg.text + '\n');

    guest.type('exit\n');
    await guest.waitFor('reboot: System halted', 20000);
    check(results, 'shell exit powers off (kernel halts)', true);
    const hvcOut = readFileSync(join(workDir, 'hvc0.out'), 'latin1');
    check(results, 'virtio console output reached the host', hvcOut.includes('via-virtio-console'));
  } catch (error) {
    check(results, 'run', false, error.message);
  } finally {
    writeFileSync(opts.log, guest.output);
    await guest.kill();
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(failed ? `${failed} check(s) failed` : 'all checks passed');
  process.exitCode = failed ? 1 : 0;
}

const opts = parseArgs(process.argv.slice(2));
mkdirSync(workDir, { recursive: true });
await (opts.time ? timeBoots(opts) : fullCheck(opts));
