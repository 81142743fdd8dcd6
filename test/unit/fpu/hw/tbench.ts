import { transcendental } from '../../../../src/cpu/fpu/transcendental.ts';
import { ctx, v } from '../helpers.ts';
const x = v(0x3ffd, 0x9999999999999800n);
const y = v(0x4000, 0xecccccccccccd000n);
for (const [name, modrm] of [['f2xm1', 0xf0], ['fsin', 0xfe], ['fyl2x', 0xf1], ['fpatan', 0xf3], ['fptan', 0xf2], ['fyl2xp1', 0xf9]] as const) {
  for (let i = 0; i < 2000; i++) transcendental(ctx(), modrm, x, y);
  const t = performance.now();
  for (let i = 0; i < 20000; i++) transcendental(ctx(), modrm, x, y);
  console.log(name, ((performance.now() - t) / 20000 * 1000).toFixed(2), 'us');
}
