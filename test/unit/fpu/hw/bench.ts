import { X87 } from '../../../../src/cpu/fpu/x87.ts';
import { FakeHost } from '../fake-host.ts';
const h = new FakeHost(0x10000, 4096);
const f = new X87(h);
f.reset();
const dv = new DataView(h.mem.buffer);
dv.setFloat64(0, 1.1, true);
dv.setFloat64(24, 0.3, true);
dv.setFloat64(8, 3.7, true);
function run(name: string, n: number, body: () => void) {
  for (let i = 0; i < n / 4; i++) body();
  let dt = Infinity;
  for (let r = 0; r < 3; r++) {
    // CPU time, not wall time: the development machines are shared.
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) body();
    const u = process.cpuUsage(t);
    dt = Math.min(dt, (u.user + u.system) / 1000);
  }
  console.log(name.padEnd(28), ((dt / n) * 1e6).toFixed(0), 'ns/iter');
}
const N = 200000;
run('fld m64; fstp m64', N, () => { h.nextEa = 0x10000; f.execute(0xdd, 0x03); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
run('fld;fmul m64;fstp', N, () => { h.nextEa = 0x10000; f.execute(0xdd, 0x03); h.nextEa = 0x10008; f.execute(0xdc, 0x0b); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
run('fld;fadd m64;fstp', N, () => { h.nextEa = 0x10000; f.execute(0xdd, 0x03); h.nextEa = 0x10008; f.execute(0xdc, 0x03); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
run('fld;fdiv m64;fstp', N, () => { h.nextEa = 0x10000; f.execute(0xdd, 0x03); h.nextEa = 0x10008; f.execute(0xdc, 0x33); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
run('fld;fsqrt;fstp', N, () => { h.nextEa = 0x10000; f.execute(0xdd, 0x03); f.execute(0xd9, 0xfa); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
run('fild m32; fistp m32', N, () => { h.nextEa = 0x10000; f.execute(0xdb, 0x03); h.nextEa = 0x10010; f.execute(0xdb, 0x1b); });
run('fld;fsin;fstp', 20000, () => { h.nextEa = 0x10000; f.execute(0xdd, 0x03); f.execute(0xd9, 0xfe); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
run('fld;fld;fyl2x;fstp', 20000, () => { h.nextEa = 0x10000; f.execute(0xdd, 0x03); h.nextEa = 0x10008; f.execute(0xdd, 0x03); f.execute(0xd9, 0xf1); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
run('fld;f2xm1;fstp', 20000, () => { h.nextEa = 0x10018; f.execute(0xdd, 0x03); f.execute(0xd9, 0xf0); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); });
