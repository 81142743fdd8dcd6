import { X87 } from '../../../../src/cpu/fpu/x87.ts';
import { FakeHost } from '../fake-host.ts';
const h = new FakeHost(0x10000, 4096);
const f = new X87(h);
f.reset();
const dv = new DataView(h.mem.buffer);
dv.setFloat64(0, 1.1, true);
dv.setFloat64(8, 3.7, true);
const modrm = Number(process.argv[2] ?? 3);
let best = Infinity;
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  for (let i = 0; i < 200000; i++) { h.nextEa = 0x10000; f.execute(0xdd, 0x03); h.nextEa = 0x10008; (modrm === 0xfa ? f.execute(0xd9, 0xfa) : f.execute(0xdc, modrm)); h.nextEa = 0x10010; f.execute(0xdd, 0x1b); }
  best = Math.min(best, performance.now() - t);
}
console.log(modrm, (best / 200000 * 1e6).toFixed(0), 'ns');
