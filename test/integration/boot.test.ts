import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootToShell, noGuest as skip, shell, stoppedWithin } from './guest-session.ts';

test('boots the default guest, runs uname, keeps a file on a virtio disk across boots', { skip, timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lilyvm-disk-'));
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, Buffer.alloc(8 * 1024 * 1024));
  const roDisk = join(dir, 'ro.img');
  const roContents = Buffer.alloc(1024 * 1024, 0x5a);
  writeFileSync(roDisk, roContents);

  const vm = await bootToShell([disk, `${roDisk},ro`]);
  const uname = await shell(vm, 'uname -a');
  assert.match(uname, /^Linux \S+ 6\.1\.\S+ .* i[3-6]86/);
  // The read-only disk: the guest sees it read-only, reads it, and cannot write it.
  assert.match(await shell(vm, 'cat /sys/block/vdb/ro'), /^1$/m);
  assert.match(await shell(vm, 'od -An -tx1 -N4 /dev/vdb'), /5a 5a 5a 5a/);
  assert.match(await shell(vm, 'echo x | dd of=/dev/vdb 2>&1; echo rc=$?'), /rc=1/);
  // Entropy from virtio-rng.
  assert.match(await shell(vm, 'dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | wc -w'), /^16$/m);
  const mk = await shell(vm, 'mke2fs /dev/vda >/dev/null && mount /dev/vda /mnt && echo lilyvm-$((6*7)) > /mnt/hello && umount /mnt && echo written');
  assert.match(mk, /written/);
  vm.type('poweroff -f\n');
  const stop = await stoppedWithin(vm);
  assert.equal(stop.kind, 'poweroff');

  const again = await bootToShell([disk]);
  const read = await shell(again, 'mount /dev/vda /mnt && cat /mnt/hello');
  assert.match(read, /lilyvm-42/);
  again.type('poweroff -f\n');
  assert.equal((await stoppedWithin(again)).kind, 'poweroff');
  assert.deepEqual(readFileSync(roDisk), roContents, 'the read-only image is untouched');
});

test('a shell loop of 200 fork+exec runs to the end', { skip, timeout: 900_000 }, async () => {
  const vm = await bootToShell();
  const out = await shell(vm, 'i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done; echo loops=$i', 600_000);
  assert.match(out, /loops=200/);
  vm.type('poweroff -f\n');
  assert.equal((await stoppedWithin(vm)).kind, 'poweroff');
});

test('guest time of day stays within a second of the host over 30 s', { skip, timeout: 900_000 }, async () => {
  const vm = await bootToShell();
  const skew = async () => {
    const before = Date.now() / 1000;
    const out = await shell(vm, 'date +%s');
    const after = Date.now() / 1000;
    const guest = Number(/(\d{9,})/.exec(out)![1]);
    // date +%s truncates: the guest second is in [guest, guest + 1).
    if (guest + 1 < before) return before - (guest + 1);
    if (guest > after) return guest - after;
    return 0;
  };
  assert.ok((await skew()) <= 1, 'in step at the start');
  await new Promise((r) => setTimeout(r, 30_000));
  const late = await skew();
  assert.ok(late <= 1, `guest clock is ${late.toFixed(2)} s off the host after 30 s`);
  vm.type('poweroff -f\n');
  assert.equal((await stoppedWithin(vm)).kind, 'poweroff');
});
