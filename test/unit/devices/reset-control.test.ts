import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResetControl } from '../../../src/devices/reset-control.ts';

test('0xCF9: writing 0x06 or 0x0E resets; other values are stored', () => {
  let resets = 0;
  const rcr = new ResetControl(() => resets++);
  rcr.write(0, 1, 0x02);
  assert.equal(resets, 0);
  assert.equal(rcr.read(), 0x02);
  rcr.write(0, 1, 0x06);
  assert.equal(resets, 1);
  rcr.write(0, 1, 0x0e);
  assert.equal(resets, 2);
  assert.equal(rcr.read(), 0x0a);
  rcr.write(0, 1, 0x00);
  assert.equal(resets, 2);
  assert.equal(rcr.read(), 0);
});

test('reset control state round-trips', () => {
  const a = new ResetControl(() => {});
  a.write(0, 1, 0x08);
  const b = new ResetControl(() => {});
  b.restoreState(a.saveState());
  assert.equal(b.read(), 0x08);
});
