// docs/handover.md's two state tables and the code's (OLD_STATES, NEW_STATES)
// are one contract: the same states, in the same order, with the same `next`
// edges. Change one, and this fails until the other says the same.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NEW_STATES, OLD_STATES } from 'fdlab';

const DOC = path.resolve(__dirname, '..', '..', '..', 'docs', 'handover.md');

interface Row {
  state: string;
  next: string[];
  test: string;
}

/** The rows of the table under `heading`: state (first column), next (second), test (last). */
function table(markdown: string, heading: string): Row[] {
  const start = markdown.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/handover.md has no '${heading}'`);
  const rest = markdown.slice(start + heading.length + 2);
  const end = rest.search(/\n## /);
  const lines = (end >= 0 ? rest.slice(0, end) : rest).split('\n').filter((line) => line.startsWith('|'));
  const [header, , ...rows] = lines;
  assert.match(header, /^\| state \| next \|/, `${heading}: the table's first columns are state and next`);
  return rows.map((line) => {
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    const names = (cell: string) => [...cell.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]);
    return { state: names(cells[0])[0] ?? cells[0], next: names(cells[1]), test: cells[cells.length - 1] };
  });
}

const markdown = fs.readFileSync(DOC, 'utf8');

for (const [heading, code] of [['## The old side', OLD_STATES], ['## The new side', NEW_STATES]] as const) {
  describe(`docs/handover.md '${heading.slice(3)}' against the code`, function () {
    const rows = table(markdown, heading);
    const states = code as Record<string, { next: readonly string[]; does: string }>;

    it('names the same states, in the same order', function () {
      assert.deepEqual(rows.map((row) => row.state), Object.keys(states));
    });

    it('gives each state the same next states', function () {
      for (const row of rows) assert.deepEqual(row.next, [...(states[row.state]?.next ?? [])], `'${row.state}'`);
    });

    it('says what each state does, and names a test column', function () {
      for (const row of rows) {
        assert.ok(states[row.state].does.length > 10, `'${row.state}': OLD/NEW_STATES say what it does`);
        assert.ok(row.test.length > 0, `'${row.state}': the doc's row has a test column`);
      }
    });

    it('has every edge lead to a state of the same table', function () {
      for (const [state, { next }] of Object.entries(states)) {
        for (const to of next) assert.ok(to in states, `${state} -> ${to}`);
      }
    });
  });
}
