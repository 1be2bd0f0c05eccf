// The timeline in a terminal: a column per process, a few rows, each fd
// handover as an arrow with the fd number on both ends. Start-up noise is
// folded away and runs of the same call are merged; the HTML has everything.
import type { Handover, Timeline, TimelineEvent } from './timeline';

export interface TextOptions {
  /** Rows at most (default 14). */
  maxRows?: number;
  /** Characters per line (default 100). */
  width?: number;
}

interface Row {
  event: TimelineEvent;
  /** Set for a message that carried fds: its arrows' far ends. */
  handovers?: Handover[];
  /** Merged calls: how many (same lane and syscall, in a row). */
  times: number;
  priority: number;
}

function priority(event: TimelineEvent, handovers: Handover[] | undefined): number {
  if (handovers) return 0;
  if (['execve', 'kill', 'tgkill', 'signal', 'exit', 'bind', 'listen'].includes(event.syscall)) return 1;
  if (['accept4', 'accept', 'connect', 'close'].includes(event.syscall)) return 2;
  return 3;
}

function fit(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, Math.max(0, width - 1))}…`;
}

function fdList(fds: (number | null)[], count: number): string {
  const shown = fds.filter((fd): fd is number => fd !== null);
  if (count <= 1) return shown.length ? `fd ${shown[0]}` : 'fd ?';
  return `${count} fds ${shown.slice(0, 3).join(',')}${count > 3 ? '…' : ''}`;
}

function arrowRow(row: Row, timeline: Timeline, column: number, starts: number[], width: number): string {
  const list = row.handovers!;
  const to = list[0].to === null ? null : timeline.events[list[0].to];
  const fromCol = starts[row.event.lane];
  const count = row.event.fdCount ?? list.length;
  const left = fdList(list.map((h) => h.fromFd), count);
  const object = timeline.objects.find((o) => o.id === list[0].object)?.label ?? '';
  const line = Array.from({ length: width }, () => ' ');
  const put = (at: number, text: string) => [...text].forEach((c, i) => at + i < width && (line[at + i] = c));
  if (!to || to.lane < 0) {
    put(fromCol, `${left} ━━▶ (not seen arriving)`);
    return line.join('');
  }
  const right = fdList(list.map((h) => h.toFd), to.fdCount ?? list.length);
  const toCol = starts[to.lane];
  if (toCol > fromCol) {
    put(fromCol, `${left} `);
    const from = fromCol + left.length + 1;
    const shaft = Math.max(2, toCol - from - 2);
    put(from, `${'━'.repeat(shaft)}▶ ${right}  ${count === 1 ? object : ''}`);
  } else {
    put(toCol, `${right} ◀`);
    const from = toCol + right.length + 2;
    const shaft = Math.max(2, fromCol - from - 1);
    put(from, `${'━'.repeat(shaft)} ${left}  ${count === 1 ? object : ''}`);
  }
  return line.join('').slice(0, width - column);
}

/** A few lines: a header, a column per process, the rows that matter. */
export function timelineText(timeline: Timeline, options: TextOptions = {}): string[] {
  const maxRows = options.maxRows ?? 14;
  const width = options.width ?? 100;
  const lanes = timeline.lanes;
  if (lanes.length === 0) return ['(no traced calls beyond start-up)'];
  const timeWidth = 11;
  const laneWidth = Math.max(18, Math.floor((width - timeWidth) / lanes.length));
  const starts = lanes.map((_, i) => i * laneWidth);

  const bySender = new Map<number, Handover[]>();
  const received = new Set<number>();
  for (const h of timeline.handovers) {
    if (h.from !== null) bySender.set(h.from, [...(bySender.get(h.from) ?? []), h]);
    else if (h.to !== null) bySender.set(h.to, [...(bySender.get(h.to) ?? []), h]); // a sender in no capture
    if (h.from !== null && h.to !== null) received.add(h.to);
  }
  const rows: Row[] = [];
  for (const event of timeline.events) {
    if (event.noise || event.lane < 0 || received.has(event.id)) continue;
    const handovers = bySender.get(event.id);
    const last = rows[rows.length - 1];
    if (!handovers && last && !last.handovers && last.event.lane === event.lane && last.event.syscall === event.syscall && last.event.errno === event.errno) {
      last.times += 1;
      continue;
    }
    rows.push({ event, handovers, times: 1, priority: priority(event, handovers) });
  }
  // Keep the most telling rows, in time order.
  const kept = new Set([...rows].sort((a, b) => a.priority - b.priority).slice(0, maxRows));
  const out: string[] = [];
  out.push(' '.repeat(timeWidth) + lanes.map((l) => fit(l.label, laneWidth)).join(''));
  let skipped = 0;
  for (const row of rows) {
    if (!kept.has(row)) {
      skipped += row.times;
      continue;
    }
    if (skipped) out.push(`${' '.repeat(timeWidth)}⋮ ${skipped} more call(s)`);
    skipped = 0;
    const ms = (row.event.micros - timeline.startMicros) / 1000;
    const time = `${ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`}`.padStart(timeWidth - 2) + '  ';
    if (row.handovers) {
      out.push(time + arrowRow(row, timeline, 0, starts, laneWidth * lanes.length).trimEnd());
      continue;
    }
    const text = `${row.event.summary}${row.times > 1 ? ` ×${row.times}` : ''}`;
    out.push((time + ' '.repeat(starts[row.event.lane]) + fit(text, Math.max(laneWidth, width - timeWidth - starts[row.event.lane]))).trimEnd());
  }
  if (skipped) out.push(`${' '.repeat(timeWidth)}⋮ ${skipped} more call(s)`);
  return out;
}
