// What every lab test asserts of the lab's own captures (issue 22): its
// terminal timeline never lies. No lane uses an fd before the call that made
// it is shown or after it was closed, an inherited fd is said to be one, no
// line is wider than 100 columns, a handed-over fd's close by its sender and
// every host pid in the lane headers are on a line, and every call the lab's lesson rests on
// (its key calls) is on a line. Reads what the run left: no run of its own.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LABS } from '../../lab';
import { fdStoryProblems, readCaptures, textTimelines } from '../../src/strace';
import { fdLivesOf } from '../../src/strace/timeline-text';
import { readRolePids } from '../../src/labs/role-pids';
import { readFdTables } from '../../src/labs/fd-snapshot';

export const WIDTH = 100;

/** Asserts the truth of lab `n`'s timelines in `capturesDir`; returns the lines (for a message). */
export function assertTimelineTruth(n: number, capturesDir: string): string[] {
  const lab = LABS.get(n)!;
  const pids = readRolePids(capturesDir);
  const { lines, parts } = textTimelines(readCaptures(capturesDir), { width: WIDTH }, { ...lab.timeline, pids });
  const text = lines.join('\n');
  assert.ok(parts.length >= 1 && parts.every((p) => p.timeline.lanes.length > 0), `lab ${n}: a timeline with lanes:\n${text}`);
  if (lab.timeline?.parts) assert.equal(parts.length, lab.timeline.parts.length, `lab ${n}: one timeline per part:\n${text}`);
  for (const part of parts) assert.deepEqual(fdStoryProblems(part.timeline, part.rows), [], `lab ${n} ${part.title}:\n${text}`);
  const wide = lines.filter((l) => l.length > WIDTH);
  assert.deepEqual(wide, [], `lab ${n}: lines wider than ${WIDTH} columns`);
  for (const part of parts) {
    const shown = new Set(part.rows.flatMap((r) => r.events));
    // The sender's close of an fd it handed over is on a line (lab 2's lesson: it lets go of its copy).
    const { lifeOf } = fdLivesOf(part.timeline);
    for (const h of part.timeline.handovers.filter((h) => h.from !== null && h.fromFd !== null)) {
      const closer = lifeOf.get(`${h.from}|${h.fromFd}`)?.closer;
      if (closer !== null && closer !== undefined) assert.ok(shown.has(closer), `lab ${n}: the close of fd ${h.fromFd} after it was handed over is on no line:\n${text}`);
    }
    // The lane headers name each host pid whole (on a second header line when the lanes are narrow).
    for (const lane of part.timeline.lanes.filter((l) => l.hostPid)) {
      assert.ok(part.rows.slice(0, 2).some((r) => r.text.includes(`pid ${lane.pid} (host ${lane.hostPid})`)), `lab ${n}: ${lane.role}'s header:\n${text}`);
    }
    for (const { key, events } of part.keys) {
      assert.ok(events.some((id) => shown.has(id)), `lab ${n}: key call "${key.what}" (${key.syscall}) is on no line (${events.length} matched):\n${text}`);
    }
  }
  const declared = lab.timeline?.keyCalls ?? [];
  assert.equal(parts.reduce((k, p) => k + p.keys.length, 0), declared.length, `lab ${n}: every key call concerns a part`);
  // A container's pid beside this machine's: the fd tables (host pids) and the lanes must name the same process.
  for (const pid of pids.filter((p) => p.hostPid !== p.pid)) {
    const lane = parts.flatMap((p) => p.timeline.lanes).find((l) => l.role === pid.role && l.pid === pid.pid);
    if (lane) assert.match(lane.label, new RegExp(`pid ${pid.pid} \\(host ${pid.hostPid}\\)`), `lab ${n}: ${pid.role}'s lane`);
    // The page the run wrote says it too, in the lane's header.
    const page = path.join(capturesDir, 'timeline.html');
    if (lane && fs.existsSync(page)) assert.ok(fs.readFileSync(page, 'utf8').includes(`>host pid ${pid.hostPid}</text>`), `lab ${n}: ${pid.role}'s host pid ${pid.hostPid} on timeline.html`);
  }
  for (const snapshot of readFdTables(capturesDir)) {
    for (const p of snapshot.processes.filter((q) => q.pid !== null)) {
      const own = pids.find((q) => q.role === p.role);
      if (own) assert.equal(own.hostPid, p.pid, `lab ${n}: role-pids.json and the fd tables agree on ${p.role}'s host pid`);
    }
  }
  return lines;
}
