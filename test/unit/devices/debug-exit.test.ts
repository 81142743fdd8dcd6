import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugExit } from '../../../src/devices/debug-exit.ts';
import { PostPort } from '../../../src/devices/post-port.ts';

test('debug-exit maps a written value V to exit status (V << 1) | 1', () => {
  const statuses: number[] = [];
  const dev = new DebugExit((s) => statuses.push(s));
  dev.write(0, 1, 0);
  dev.write(0, 1, 0x10);
  dev.write(0, 1, 0x1ff);
  dev.write(0, 2, 0x1234);
  dev.write(0, 4, 0xffffffff);
  assert.deepEqual(statuses, [1, 0x21, 0x1ff, 0x2469, 0x1ffffffff]);
  assert.equal(dev.read(), 0);
});

test('the POST port reads all ones and swallows writes', () => {
  const post = new PostPort();
  post.write();
  assert.equal(post.read(0, 1), 0xff);
  assert.equal(post.read(0, 2), 0xffff);
  assert.equal(post.read(0, 4), 0xffffffff);
});
