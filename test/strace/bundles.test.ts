// What timeline.html draws, read from real captures (test/fixtures/strace/captures):
// one bundle per message that carried fds, with the sendmsg's count; runs of like
// calls that never swallow the calls a lab's story rests on; every call drawn once.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { buildTimeline, parseCapture, readCaptures, type Timeline } from '../../src/strace';
import { MIN_RUN, planRows } from '../../src/strace/bundles';
import { projectPath } from '../../src/project';

const CAPTURES = projectPath('test', 'fixtures', 'strace', 'captures');
const load = (name: string): Timeline => buildTimeline(readCaptures(path.join(CAPTURES, name)));
const drawable = (t: Timeline) => t.events.filter((e) => !e.noise && e.lane >= 0);

describe('timeline.html rows and bundles (real captures)', () => {
  it('lab 5: one bundle per sendmsg with fds, its count the sendmsg\'s, named by what it carried', () => {
    const t = load('lab5');
    const { bundles } = planRows(t, drawable(t));
    const sent = readCaptures(path.join(CAPTURES, 'lab5')).filter((c) => c.role === 'server-v1').flatMap((c) => parseCapture(c.text)).filter((e) => e.syscall === 'sendmsg' && e.fdCount > 0);
    assert.deepEqual(bundles.map((b) => b.count), sent.map((e) => e.fdCount));
    assert.deepEqual(bundles.map((b) => b.label), sent.map((e) => (e.fdCount === 1 ? '1 fd: listener' : `${e.fdCount} fds: ${e.fdCount} connections`)));
    assert.equal(bundles.reduce((n, b) => n + b.handovers.length, 0), t.handovers.length, 'every handed-over fd in one bundle');
    for (const b of bundles) assert.ok(b.handovers.every((h) => t.handovers[h].from === b.from && t.handovers[h].to === b.to));
  });

  it('lab 5: the accept4 calls before the handover are one run; fd passing, bind, listen and SIGUSR2 are rows of their own', () => {
    const t = load('lab5');
    const drawn = drawable(t);
    const { rows, runs } = planRows(t, drawn);
    const accepts = drawn.filter((e) => e.syscall === 'accept4' && e.micros < t.events[t.handovers[0].from!].micros);
    assert.ok(accepts.length >= MIN_RUN);
    const first = runs.find((r) => r.events.includes(accepts[0].id))!;
    assert.ok(first, 'the first accept4 is in a run');
    assert.match(first.lanes[0].summary, /^accept4 ×\d+ on fd \d+ → fd \d+…\d+/);
    for (const run of runs) {
      for (const id of run.events) {
        const e = t.events[id];
        assert.ok(e.fds === undefined && !['bind', 'listen', 'connect', 'execve', 'kill', 'exit', 'openat'].includes(e.syscall), `${e.summary} is not folded`);
        if (e.syscall === 'signal') assert.match(e.summary, /SIG(?:WINCH|CHLD)/);
      }
    }
    // Every call drawn is on exactly one row, in time order.
    const shown = rows.flatMap((r) => (r.kind === 'event' ? [r.event] : []));
    assert.deepEqual(shown, drawn.map((e) => e.id));
  });

  it('lab 1: nothing folded (no four like calls in a row), one bundle: the file', () => {
    const t = load('lab1');
    const { rows, runs, bundles } = planRows(t, drawable(t));
    assert.deepEqual(runs, []);
    assert.equal(rows.filter((r) => r.kind === 'event').length, drawable(t).length);
    assert.deepEqual(bundles.map((b) => b.label), ['1 fd: file tmp.txt']);
  });
});
