// The timeline in a terminal: a column per process, a few rows, each fd
// handover as an arrow with the fd number on both ends. Start-up noise is
// folded away; the HTML has everything. What is shown never lies:
// - a row that uses an fd is preceded by the row of the call that made it
//   (kept even past maxRows), or says the fd was inherited;
// - the lab's key calls (event.key) are never folded;
// - `×N` merges only identical calls (same syscall, fd and object); a run of
//   accepts on one listener is one row that names every fd it made; a merged
//   row that spans time says from when to when;
// - a dup followed by the close of its source (an fd moved to another number)
//   is one row, "dup + close: fd 18 TCP → fd 19", so no close seems to end an
//   fd that lives on; the close of an fd that was handed over is always shown;
// - a failed call's error survives a narrow lane, and a lane's header its pids.
import type { Handover, Timeline, TimelineEvent } from './timeline';

export interface TextOptions {
  /** Rows at most, beyond the key calls and the calls that made the fds shown (default 14). */
  maxRows?: number;
  /** Characters per line (default 100). */
  width?: number;
}

/** One printed line: the events it stands for (none for the header and "⋮ N more"). */
export interface TextRow {
  events: number[];
  text: string;
}

interface Row {
  event: TimelineEvent;
  /** Every event the row stands for: merged calls, and an arrow's receiving end. */
  events: number[];
  /** Set for a message that carried fds: its arrows' far ends. */
  handovers?: Handover[];
  times: number;
  /** A run of accepts on one listener, or of dups: the fds they made (and the dups' sources). */
  accepted?: number[];
  sources?: number[];
  /** A dup and the close of its source: the close. */
  move?: TimelineEvent;
  /** A run of closes of fds that were handed over: the fds (lab 5's v1 closes its 100 copies at once). */
  handedClosed?: number[];
  priority: number;
  /** When the row happened, if not at its event (an arrow drawn when its fds arrived). */
  at?: number;
}

// 12: room for a span, "2.45–2.46 s" (at 11, 2.46 printed as 2.5); 2 or 3 lanes are as wide as at 11.
const TIME_WIDTH = 12;

function priority(event: TimelineEvent, handovers: Handover[] | undefined): number {
  if (handovers || event.key) return 0;
  if (['execve', 'kill', 'tgkill', 'signal', 'exit', 'bind', 'listen'].includes(event.syscall)) return 1;
  if (['accept4', 'accept', 'connect', 'close'].includes(event.syscall)) return 2;
  return 3;
}

/** Cut to `width`; `keep`, the end of the text (a failed call's " = EADDRINUSE"), stays whole after the cut. */
function fit(text: string, width: number, keep = ''): string {
  if (text.length <= width) return text.padEnd(width);
  if (keep && text.endsWith(keep) && keep.length + 2 <= width) {
    // At a word's end when one is near: "bind fd 18 TCP… = EADDRINUSE", not "…TCP 12… = EADDRINUSE".
    const body = text.slice(0, width - keep.length - 1);
    const space = body.lastIndexOf(' ');
    return `${(space >= body.length - 8 && space > 0 ? body.slice(0, space) : body).trimEnd()}…${keep}`;
  }
  return `${text.slice(0, Math.max(0, width - 1))}…`;
}

function fdList(fds: (number | null)[], count: number): string {
  const shown = fds.filter((fd): fd is number => fd !== null);
  if (count <= 1) return shown.length ? `fd ${shown[0]}` : 'fd ?';
  return `${count} fds ${shown.slice(0, 3).join(',')}${count > 3 ? '…' : ''}`;
}

/** 19,20,21,25 -> "19-21,25" */
function ranges(fds: number[]): string {
  const sorted = [...new Set(fds)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j;
  }
  return parts.join(',');
}

function arrowRow(row: Row, timeline: Timeline, starts: number[], width: number, note: string): string {
  const list = row.handovers!;
  const to = list[0].to === null ? null : timeline.events[list[0].to];
  const fromCol = starts[row.event.lane];
  const count = row.event.fdCount ?? list.length;
  const left = fdList(list.map((h) => h.fromFd), count);
  // The note (an inherited fd) before the object's name: a long path must not cut it off.
  const object = note + (count === 1 ? (timeline.objects.find((o) => o.id === list[0].object)?.label ?? '') : '');
  const line = Array.from({ length: width }, () => ' ');
  const put = (at: number, text: string) => [...text].forEach((c, i) => at + i < width && (line[at + i] = c));
  if (!to || to.lane < 0) {
    put(fromCol, `${left} ━━▶ (not seen arriving) ${note}`);
    return line.join('');
  }
  const right = fdList(list.map((h) => h.toFd), to.fdCount ?? list.length);
  const toCol = starts[to.lane];
  if (toCol > fromCol) {
    put(fromCol, `${left} `);
    const from = fromCol + left.length + 1;
    const shaft = Math.max(2, toCol - from - 2);
    put(from, `${'━'.repeat(shaft)}▶ ${right}  ${object}`);
  } else {
    put(toCol, `${right} ◀`);
    const from = toCol + right.length + 2;
    const shaft = Math.max(2, fromCol - from - 1);
    put(from, `${'━'.repeat(shaft)} ${left}  ${object}`);
  }
  return line.join('');
}

const sameCall = (a: TimelineEvent, b: TimelineEvent) =>
  a.lane === b.lane && a.syscall === b.syscall && a.summary === b.summary && a.errno === b.errno;

const isDup = (e: TimelineEvent) => e.syscall === 'dup' || (e.syscall === 'fcntl' && e.summary.startsWith('dup '));
/** Accepts on one listener, or dups (lab 5 copies 100 connections before it sends them): one row naming every fd. */
const makerRun = (a: TimelineEvent, b: TimelineEvent) =>
  a.lane === b.lane && a.syscall === b.syscall && !a.errno && !b.errno && !a.key && !b.key &&
  (((a.syscall === 'accept4' || a.syscall === 'accept') && a.fdOrigins?.[0]?.fd === b.fdOrigins?.[0]?.fd) || (isDup(a) && isDup(b)));

/** The fd a dup copied (not the one it made). */
function dupSource(e: TimelineEvent): number | undefined {
  return e.fdOrigins?.find((o) => !(e.creates ?? []).includes(o.fd))?.fd;
}

function candidateRows(timeline: Timeline): Row[] {
  const { lifeOf } = fdLivesOf(timeline);
  // A close of an fd that a sendmsg handed over earlier: the sender letting go of its copy (lab 2's lesson).
  const sent = new Set(timeline.handovers.filter((h) => h.from !== null && h.fromFd !== null).map((h) => `${h.from}|${h.fromFd}`));
  const closesSent = (e: TimelineEvent) =>
    e.syscall === 'close' && (e.closes ?? []).some((fd) => lifeOf.get(`${e.id}|${fd}`)?.events.some((id) => sent.has(`${id}|${fd}`)));
  const lastInLane = new Map<number, Row>();
  const bySender = new Map<number, Handover[]>();
  const received = new Set<number>();
  for (const h of timeline.handovers) {
    if (h.from !== null) bySender.set(h.from, [...(bySender.get(h.from) ?? []), h]);
    else if (h.to !== null) bySender.set(h.to, [...(bySender.get(h.to) ?? []), h]); // a sender in no capture
    if (h.from !== null && h.to !== null) received.add(h.to);
  }
  // An arrow is drawn when its message is sent, unless a shown call of either process comes before it is
  // received (lab 3: the receiver accepts the channel, then receives): then the sendmsg is a row of its own
  // and the arrow is drawn when the fds arrive, where they are numbered.
  const shown = timeline.events.filter((e) => !e.noise && e.lane >= 0);
  const deferred = new Map<number, Row>(); // receiving event id -> its arrow
  const rows: Row[] = [];
  for (const event of timeline.events) {
    if (event.noise || event.lane < 0) continue;
    if (received.has(event.id)) {
      const arrow = deferred.get(event.id);
      if (arrow) rows.push({ ...arrow, events: [event.id], at: event.micros });
      const last = arrow ? rows[rows.length - 1] : rows.find((r) => r.events.includes(event.id));
      if (last) lastInLane.set(event.lane, last);
      continue;
    }
    // The sender letting go of what it handed over: always a row; a run of them in one lane is one row.
    if (closesSent(event) && !event.key) {
      const run = lastInLane.get(event.lane);
      if (run?.handedClosed) {
        run.handedClosed.push(...(event.closes ?? []));
        run.times += 1;
        run.events.push(event.id);
        continue;
      }
      const row: Row = { event, events: [event.id], times: 1, priority: 0, handedClosed: [...(event.closes ?? [])] };
      rows.push(row);
      lastInLane.set(event.lane, row);
      continue;
    }
    // fdlab moves an fd to another number: dup, then close the source (lab 2's client: close fd 18 TCP looked
    // like the end of the connection it was about to hand over).
    const mover = lastInLane.get(event.lane);
    const closed = event.closes?.[0];
    if (event.syscall === 'close' && !event.errno && !event.key && closed !== undefined && !closesSent(event) && mover &&
      !mover.handovers && !mover.move && !mover.accepted && mover.times === 1 && isDup(mover.event) && !mover.event.errno &&
      dupSource(mover.event) === closed && lifeOf.get(`${mover.event.id}|${closed}`) === lifeOf.get(`${event.id}|${closed}`)) {
      mover.move = event;
      mover.events.push(event.id);
      mover.priority = Math.min(mover.priority, priority(event, undefined));
      continue;
    }
    const handovers = bySender.get(event.id);
    const to = handovers?.[0]?.to;
    if (handovers && to !== null && to !== undefined && to !== event.id) {
      const toLane = timeline.events[to].lane;
      const end = timeline.events[to].micros;
      const between = shown.some((e) => e.id !== event.id && e.id !== to && (e.lane === event.lane || e.lane === toLane) && !received.has(e.id) &&
        (e.micros > event.micros || (e.micros === event.micros && e.id > event.id)) && (e.micros < end || (e.micros === end && e.id < to)));
      if (between) {
        deferred.set(to, { event, events: [], handovers, times: 1, priority: 0 });
        rows.push({ event, events: [event.id], times: 1, priority: 0 });
        lastInLane.set(event.lane, rows[rows.length - 1]);
        continue;
      }
    }
    const last = rows[rows.length - 1];
    if (!handovers && last && !last.handovers && !last.move && !closesSent(event)) {
      if (sameCall(last.event, event) && !last.accepted) {
        last.times += 1;
        last.events.push(event.id);
        lastInLane.set(event.lane, last);
        continue;
      }
      if (makerRun(last.event, event) && (last.times === 1 || last.accepted)) {
        last.accepted ??= [...(last.event.creates ?? [])];
        last.accepted.push(...(event.creates ?? []));
        last.sources ??= [last.event.fdOrigins?.[0]?.fd ?? -1];
        last.sources.push(event.fdOrigins?.[0]?.fd ?? -1);
        last.times += 1;
        last.events.push(event.id);
        lastInLane.set(event.lane, last);
        continue;
      }
    }
    const receivers = [...new Set((handovers ?? []).map((h) => h.to).filter((to): to is number => to !== null && to !== event.id))];
    const row: Row = { event, events: [event.id, ...receivers], handovers, times: 1, priority: closesSent(event) ? 0 : priority(event, handovers) };
    rows.push(row);
    for (const id of row.events) lastInLane.set(timeline.events[id].lane, row);
  }
  return rows;
}

interface FdLife {
  events: number[];
  closer: number | null;
}

/** Each fd number's lives per process, in order: the events that used it, and the close that ended it. */
export function fdLivesOf(timeline: Timeline): { lifeOf: Map<string, FdLife>; previous: Map<string, FdLife> } {
  const lifeOf = new Map<string, FdLife>(); // event|fd -> its life
  const previous = new Map<string, FdLife>(); // event|fd (a call making fd) -> the life that number had before
  const current = new Map<string, FdLife>(); // role|process|fd -> life
  const ended = new Map<string, FdLife>();
  for (const e of timeline.events) {
    for (const origin of e.fdOrigins ?? []) {
      const slot = `${e.role}|${e.process ?? e.pid}|${origin.fd}`;
      const made = origin.by === e.id && origin.how === 'created';
      let life = current.get(slot);
      if (!life || made) {
        const before = life ?? ended.get(slot);
        if (before && made) previous.set(`${e.id}|${origin.fd}`, before);
        life = { events: [], closer: null };
        current.set(slot, life);
      }
      life.events.push(e.id);
      lifeOf.set(`${e.id}|${origin.fd}`, life);
    }
    for (const fd of e.closes ?? []) {
      const slot = `${e.role}|${e.process ?? e.pid}|${fd}`;
      const life = current.get(slot);
      if (life) {
        life.closer = e.id;
        ended.set(slot, life);
      }
      current.delete(slot);
    }
  }
  return { lifeOf, previous };
}

/**
 * The rows to print: the most telling maxRows, every key call, the call that
 * made every fd they use, and the close of an fd number's earlier life when
 * a later call makes that number again (else one lane shows fd 19 made twice).
 */
function keptRows(timeline: Timeline, rows: Row[], maxRows: number): Set<Row> {
  const rowOf = new Map<number, Row>();
  for (const row of rows) for (const id of row.events) rowOf.set(id, row);
  const kept = new Set(rows.filter((r) => r.priority === 0));
  for (const row of [...rows].sort((a, b) => a.priority - b.priority)) {
    if (kept.size >= maxRows) break;
    kept.add(row);
  }
  const { previous } = fdLivesOf(timeline);
  let changed = true;
  const keep = (id: number | null | undefined) => {
    const row = id === null || id === undefined ? undefined : rowOf.get(id);
    if (row && !kept.has(row)) {
      kept.add(row);
      changed = true;
    }
  };
  while (changed) {
    changed = false;
    for (const row of [...kept]) {
      for (const id of row.events) {
        for (const origin of timeline.events[id].fdOrigins ?? []) {
          if (origin.by !== id) keep(origin.by);
          const before = previous.get(`${id}|${origin.fd}`);
          if (before?.events.some((e) => e !== before.closer && kept.has(rowOf.get(e)!))) keep(before.closer);
        }
      }
    }
  }
  return kept;
}

function rowText(row: Row): string {
  if (row.handedClosed && row.times > 1) return `close ×${row.times} fd ${ranges(row.handedClosed)}: the copies handed over`;
  if (row.move) return `dup + close: ${row.event.summary.replace(/^\w+ /, '')}${/^close fd \d+ \S+ (.+)$/.exec(row.move.summary)?.[1]?.replace(/^/, '  ') ?? ''}`;
  if (row.accepted && isDup(row.event)) return `dup ×${row.times}: fd ${ranges(row.sources ?? [])} → fd ${ranges(row.accepted)}`;
  if (row.accepted) return `${row.event.syscall} fd ${row.event.fdOrigins?.[0]?.fd} ×${row.times} → fd ${ranges(row.accepted)}`;
  return `${row.event.summary}${row.times > 1 ? ` ×${row.times}` : ''}`;
}

const msText = (ms: number) => (ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`);

/**
 * When the row happened: its call's time; for merged calls that span more than that ("1.71 s  write … ×5",
 * whose writes went on to 5.7 s), from when to when, in the column's 11 characters: "1.71–5.73 s".
 */
function timeColumn(row: Row, timeline: Timeline): string {
  const ms = (micros: number) => (micros - timeline.startMicros) / 1000;
  const first = ms(row.at ?? row.event.micros);
  const single = msText(first).padStart(TIME_WIDTH - 2) + '  ';
  if (row.times < 2 || row.handovers) return single;
  const last = Math.max(...row.events.map((id) => ms(timeline.events[id].micros)));
  if (msText(last) === msText(first)) return single;
  const seconds = last >= 1000;
  const [a, b] = seconds ? [first / 1000, last / 1000] : [first, last];
  for (const digits of seconds ? [2, 1, 0] : [1, 0]) {
    const [from, to] = [a.toFixed(digits), b.toFixed(digits)];
    const span = `${from}–${to} ${seconds ? 's' : 'ms'}`;
    if (from === to) break;
    if (span.length <= TIME_WIDTH - 1) return span.padStart(TIME_WIDTH - 1) + ' ';
  }
  return single;
}

/** The lines and the events each stands for: a header, a column per process, the rows that matter. */
export function timelineRows(timeline: Timeline, options: TextOptions = {}): TextRow[] {
  const maxRows = options.maxRows ?? 14;
  const width = options.width ?? 100;
  const lanes = timeline.lanes;
  if (lanes.length === 0) return [{ events: [], text: '(no traced calls beyond start-up)' }];
  const laneWidth = Math.max(18, Math.floor((width - TIME_WIDTH) / lanes.length));
  const starts = lanes.map((_, i) => i * laneWidth);
  const clamp = (text: string) => (text.length > width ? `${text.slice(0, width - 1)}…` : text).trimEnd();

  const rows = candidateRows(timeline);
  const kept = keptRows(timeline, rows, maxRows);
  const header = (texts: string[]) => ({ events: [], text: clamp(' '.repeat(TIME_WIDTH) + texts.map((t) => fit(t, laneWidth - 1) + ' ').join('')) });
  // One line when every label fits its lane; else the names, and the pids under them (lab 4's Docker lanes
  // cut "a-parent · pid 18 (host 130…" at 29 columns).
  const out: TextRow[] = lanes.every((l) => l.label.length <= laneWidth - 1)
    ? [header(lanes.map((l) => l.label))]
    : [header(lanes.map((l) => l.name ?? l.role)), header(lanes.map((l) => (l.hostPid ? `pid ${l.pid} (host ${l.hostPid})` : `pid ${l.pid}`)))];
  const announced = new Set<string>(); // process|fd: inherited fds already said to be
  let skipped = 0;
  const fold = () => {
    if (skipped) out.push({ events: [], text: `${' '.repeat(TIME_WIDTH)}⋮ ${skipped} more call(s)` });
    skipped = 0;
  };
  for (const row of rows) {
    if (!kept.has(row)) {
      skipped += row.times;
      continue;
    }
    fold();
    const time = timeColumn(row, timeline);
    // An fd no traced call made: the process had it from its start (or its parent); say so where it first shows.
    const notes = { inherited: [] as number[], forked: [] as number[] };
    for (const id of row.events) {
      const e = timeline.events[id];
      for (const origin of e.fdOrigins ?? []) {
        const said = `${e.role}|${e.process ?? e.pid}|${origin.fd}`;
        if ((origin.how === 'inherited' || origin.how === 'forked') && !announced.has(said)) notes[origin.how].push(origin.fd);
        announced.add(said);
      }
    }
    const list = (fds: number[]) => `fd ${[...new Set(fds)].join(', ')}`;
    // First on the row, where a narrow lane cannot cut it off.
    const note = (notes.inherited.length ? `(${list(notes.inherited)} inherited) ` : '') + (notes.forked.length ? `(${list(notes.forked)} from parent) ` : '');
    if (row.handovers) {
      out.push({ events: row.events, text: clamp(time + arrowRow(row, timeline, starts, laneWidth * lanes.length, note).trimEnd()) });
      continue;
    }
    const start = starts[row.event.lane];
    const failed = row.event.errno && !row.move ? ` = ${row.event.errno}` : '';
    out.push({ events: row.events, text: clamp(time + ' '.repeat(start) + fit(note + rowText(row), width - TIME_WIDTH - start, failed)) });
  }
  fold();
  return out;
}

/** A few lines: a header, a column per process, the rows that matter. */
export function timelineText(timeline: Timeline, options: TextOptions = {}): string[] {
  return timelineRows(timeline, options).map((row) => row.text);
}
