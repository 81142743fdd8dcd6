// A mixed double-precision loop (load, multiply-add, compare, store, integer conversion) for profiling.
import { X87 } from '../../../../src/cpu/fpu/x87.ts';
import { FakeHost } from '../fake-host.ts';
const h = new FakeHost(0x10000, 4096);
const f = new X87(h);
f.reset();
const dv = new DataView(h.mem.buffer);
dv.setFloat64(0, 1.1, true);
dv.setFloat64(8, 3.7, true);
dv.setInt32(16, 12345, true);
const m = (off: number) => { h.nextEa = 0x10000 + off; };
const N = Number(process.argv[2] ?? 300000);
const t = performance.now();
for (let i = 0; i < N; i++) {
  m(0); f.execute(0xdd, 0x03);       // fld qword [0]
  m(8); f.execute(0xdc, 0x0b);       // fmul qword [8]
  m(0); f.execute(0xdc, 0x03);       // fadd qword [0]
  m(8); f.execute(0xdc, 0x13);       // fcom qword [8]
  f.execute(0xdf, 0xe0);             // fnstsw ax
  m(16); f.execute(0xda, 0x03);      // fiadd dword [16]
  m(24); f.execute(0xdd, 0x1b);      // fstp qword [24]
}
const ns = ((performance.now() - t) / N / 7) * 1e6;
console.log(`${ns.toFixed(0)} ns per instruction (mix)`);
