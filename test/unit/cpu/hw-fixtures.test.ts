// Replays integer-instruction cases recorded on a real CPU (test/unit/cpu/hw/record.ts)
// against the interpreter: registers, arithmetic flags and DF, faults, and memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generateCases } from './hw/cases.ts';
import { decodeRow, diffResults, emulateCase } from './hw/emulate.ts';
import { TestMachine } from './run-code.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/hw-integer.json', import.meta.url), 'utf8')) as { seed: number; rows: (string | number)[][] };
const cases = generateCases(fixture.seed);

test('the recorded cases are the ones the generator makes', () => {
  assert.equal(fixture.rows.length, cases.length);
  fixture.rows.forEach((row, i) => {
    const { name, code } = decodeRow(row);
    assert.equal(`${name} ${code}`, `${cases[i].name} ${cases[i].code}`);
  });
});

const groups = new Map<string, number[]>();
cases.forEach((c, i) => {
  const g = c.name.split('/')[0];
  (groups.get(g) ?? groups.set(g, []).get(g)!).push(i);
});

const m = new TestMachine();
for (const [group, indexes] of groups) {
  test(`hardware cases: ${group} (${indexes.length})`, () => {
    const failures: string[] = [];
    for (const i of indexes) {
      const c = cases[i];
      const d = diffResults(decodeRow(fixture.rows[i]).result, emulateCase(m, c));
      if (d) failures.push(`${c.name} ${c.code} regs=${c.regs.map((v) => (v >>> 0).toString(16)).join(',')} eflags=${c.eflags.toString(16)}: ${d}`);
    }
    assert.deepEqual(failures.slice(0, 10), []);
  });
}
