// What a printed timeline must never do: use an fd number on a lane before the
// call that made it is shown, or after it was closed, or say nothing when the
// process had the fd from elsewhere (inherited from its start or its parent).
// The tests run this on each lab's real captures; a problem is a sentence.
import { fdLivesOf, type TextRow } from './timeline-text';
import type { Timeline } from './timeline';

export function fdStoryProblems(timeline: Timeline, rows: readonly TextRow[]): string[] {
  const problems: string[] = [];
  const shownAt = new Map<number, number>(); // event id -> row index
  rows.forEach((row, i) => row.events.forEach((id) => shownAt.set(id, i)));
  const said = new Set<string>();
  const { previous } = fdLivesOf(timeline);
  const ordered = [...shownAt.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  for (const [id, at] of ordered) {
    const event = timeline.events[id];
    const where = `row ${at} "${rows[at].text.trim()}" (${event.role} pid ${event.process ?? event.pid}: ${event.summary})`;
    for (const origin of event.fdOrigins ?? []) {
      const key = `${event.role}|${event.process ?? event.pid}|${origin.fd}`;
      if (origin.how === 'missing') {
        problems.push(`${where}: fd ${origin.fd} was closed before and no traced call made it again`);
      } else if (origin.how === 'created') {
        const madeAt = origin.by === null ? undefined : shownAt.get(origin.by);
        if (madeAt === undefined) problems.push(`${where}: fd ${origin.fd} is used, but the call that made it (${timeline.events[origin.by!]?.summary}) is not shown`);
        else if (madeAt > at) problems.push(`${where}: fd ${origin.fd} is used before row ${madeAt}, which makes it`);
      } else if (!said.has(key) && !new RegExp(`fd [\\d, ]*\\b${origin.fd}\\b[\\d, ]* (?:inherited|from parent)\\)`).test(rows[at].text)) {
        problems.push(`${where}: fd ${origin.fd} came from ${origin.how === 'forked' ? 'the parent' : 'the process\'s start'}, and the row does not say it was inherited`);
      }
      said.add(key);
    }
    // Made again: if the number's earlier life was on the lane, its close must be too.
    for (const fd of event.creates ?? []) {
      const before = previous.get(`${id}|${fd}`);
      const shownBefore = before?.events.filter((e) => e !== before.closer && shownAt.has(e)) ?? [];
      if (before && shownBefore.length && (before.closer === null || !shownAt.has(before.closer))) {
        problems.push(`${where}: fd ${fd} is made again, but the close of the fd ${fd} shown at row ${shownAt.get(shownBefore[0])} is not shown`);
      }
    }
  }
  return problems;
}
