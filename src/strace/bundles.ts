// What timeline.html draws instead of a row per call and an arrow per fd:
// - a bundle per message: one sendmsg with 100 fds is one arrow with a count
//   ("100 fds: 100 connections"), its fd pairs listed under it on demand
//   (lab 5 drew 100 arrows whose heads spread over 750 px: the fds seemed to
//   arrive over time although one call carried them all);
// - a run per stretch of like calls (lab 5's 100 accept4, v1's 100 dups of
//   the connections it sends and its 100 closes of them, the ping traffic
//   after the upgrade): one row, expandable;
// - a dup followed at once by the close of its source (an fd moved to another
//   number: fdlab's channel, both ends, interleaved or not): one row, expandable;
// - each lane's start-up calls (the runtime loading itself), counted.
// Fd passing, bind, listen, connect, exec, kill, exits, the signals that
// drive a lab and a lab's key calls never go into a run: the story stays on screen.
import type { Handover, Timeline, TimelineEvent } from './timeline';

export interface Bundle {
  id: number;
  /** The sendmsg and recvmsg event ids; null when no capture shows that side. */
  from: number | null;
  to: number | null;
  /** Handover ids, in the message's order. */
  handovers: number[];
  /** Fds the message carried (the sendmsg's count, which includes any strace did not print). */
  count: number;
  /** "100 fds: 100 connections", "1 fd: listener". */
  label: string;
  channel: string;
  /** Every object the bundle carries, and its channel. */
  objects: string[];
}

export interface Run {
  id: number;
  /** Event ids, in time order (the run's own calls and the few it absorbed). */
  events: number[];
  /** One line per lane that has calls in the run, left to right. */
  lanes: { lane: number; summary: string; count: number }[];
  objects: string[];
}

export type Row =
  | { kind: 'event'; event: number; run?: number }
  | { kind: 'run'; run: number }
  | { kind: 'pair'; bundle: number; handover: number };

export interface Plan {
  rows: Row[];
  runs: Run[];
  bundles: Bundle[];
  /** Per lane: the start-up calls folded away (noise of that process before its first drawn call). */
  startup: number[][];
  /** Per event id: the objects whose path a step on it lights up (accept4: the new connection, not the listener). */
  focus: Map<number, string[]>;
}

/** A run needs this many calls of one kind... */
export const MIN_RUN = 4;
const MIN_ACCEPTS = 3;
/** ...each at most this many other calls after the last (the SIGWINCHes inside lab 5's accept4 run, a ping's answer in the other lane). */
const MAX_GAP = 2;

// dup: lab 5's v1 dups each connection before it sends it (fdlab's dup(), fcntl F_DUPFD_CLOEXEC):
// 40 rows before the handover with 40 connections, the arrow at 1727 px instead of 949.
const COLLAPSIBLE = new Set(['accept', 'accept4', 'close', 'read', 'write', 'pread64', 'pwrite64', 'sendmsg', 'recvmsg', 'sendto', 'recvfrom', 'dup', 'dup2', 'dup3']);
const QUIET_SIGNALS = /SIG(?:WINCH|CHLD)\b/;

/** The call's name as a reader knows it: fdlab's fcntl(F_DUPFD_CLOEXEC) is a dup. */
function callName(e: TimelineEvent): string {
  return e.syscall === 'fcntl' && e.summary.startsWith('dup ') ? 'dup' : e.syscall;
}

function collapsible(e: TimelineEvent): boolean {
  if (e.fds !== undefined || e.key) return false; // fd passing and a lab's key calls: always rows of their own
  if (e.syscall === 'signal') return QUIET_SIGNALS.test(e.summary);
  return COLLAPSIBLE.has(callName(e));
}

const DUP = /^dup\d? fd (\d+) (\S+) → fd (\d+)$/;

/**
 * Fds moved to another number: a dup, then the close of its source, in one lane; the calls from `i` on
 * that are only such moves, each one complete, however the lanes interleave (lab 5's channel, both ends
 * at once in Docker: dup, dup, close, close). The last index of the stretch and one line per lane, or null.
 */
function movesAt(drawn: readonly TimelineEvent[], i: number): { last: number; lanes: Run['lanes'] } | null {
  const open = new Map<string, { lane: number; text: string }>();
  const done = new Map<number, string[]>();
  let last = -1;
  let complete = new Map<number, string[]>();
  for (let j = i; j < drawn.length && collapsible(drawn[j]); j++) {
    const e = drawn[j];
    const made = callName(e) === 'dup' ? DUP.exec(e.summary) : null;
    const closed = e.syscall === 'close' ? /^close fd (\d+) /.exec(e.summary)?.[1] : undefined;
    if (made && !open.has(`${e.lane}|${made[1]}`)) open.set(`${e.lane}|${made[1]}`, { lane: e.lane, text: `fd ${made[1]} ${made[2]} → fd ${made[3]}` });
    else if (closed !== undefined && open.has(`${e.lane}|${closed}`)) {
      const move = open.get(`${e.lane}|${closed}`)!;
      open.delete(`${e.lane}|${closed}`);
      done.set(move.lane, [...(done.get(move.lane) ?? []), move.text]);
    } else break;
    if (open.size === 0) [last, complete] = [j, new Map(done)];
  }
  if (last < i) return null;
  const lanes = [...complete].sort((a, b) => a[0] - b[0]).map(([lane, texts]) => ({ lane, summary: `dup + close: ${texts.join(', ')}`, count: texts.length * 2 }));
  return { last, lanes };
}

/** What makes two calls alike: the lane, the call, and its listener, channel, file or kind of socket. */
function likeness(e: TimelineEvent): string {
  const s = e.summary;
  const detail =
    DUP.exec(s)?.[2] ?? // dups of one kind of socket or file, whatever their numbers
    /^accept4? fd (\d+)/.exec(s)?.[1] ??
    /^close fd \d+ (\S+)/.exec(s)?.[1] ??
    / on fd (\d+)/.exec(s)?.[1] ??
    /^\w+ fd (\d+)/.exec(s)?.[1] ??
    (e.syscall === 'signal' ? /SIG\w+/.exec(s)?.[0] : '') ??
    '';
  return `${e.lane}|${callName(e)}|${detail}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The fds a run's accept4 made or its closes closed: "fd 20…119", "fd 121". */
function fdRange(events: TimelineEvent[], pattern: RegExp): string {
  const fds = events.map((e) => Number(pattern.exec(e.summary)?.[1])).filter((n) => Number.isFinite(n));
  if (fds.length === 0) return '';
  const [lo, hi] = [Math.min(...fds), Math.max(...fds)];
  return lo === hi ? `fd ${lo}` : `fd ${lo}…${hi}`;
}

function laneSummary(events: TimelineEvent[]): string {
  const groups = new Map<string, TimelineEvent[]>();
  for (const e of events) {
    const key = e.syscall === 'signal' ? (/SIG\w+/.exec(e.summary)?.[0] ?? 'signal') : callName(e);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const [[name, main], ...rest] = [...groups].sort((a, b) => b[1].length - a[1].length);
  const first = main[0].summary;
  let text: string;
  if (main[0].syscall.startsWith('accept')) text = `${name} ×${main.length} on fd ${/^accept4? fd (\d+)/.exec(first)?.[1] ?? '?'} → ${fdRange(main, /→ fd (\d+)/)}`;
  else if (name === 'dup') text = `dup ×${main.length} ${DUP.exec(first)?.[2] ?? ''} ${fdRange(main, /^dup\d? fd (\d+)/)} → ${fdRange(main, /→ fd (\d+)$/)}`;
  else if (name === 'close') text = `close ×${main.length} ${/^close fd \d+ (\S+)/.exec(first)?.[1] ?? ''} ${fdRange(main, /^close fd (\d+)/)}`;
  else if (/ on fd \d+/.test(first)) text = `${name} ×${main.length} on fd ${/ on fd (\d+)/.exec(first)![1]}`;
  else text = `${name} ×${main.length}`;
  // The others by name: "accept4 ×55 on fd 19 → fd 20…60, close ×15, SIGWINCH ×2" (the checks' probes, accepted and closed).
  return [text.replace(/ +/g, ' ').trim(), ...rest.map(([other, g]) => `${other} ×${g.length}`)].join(', ');
}

/** The kind of thing a handed-over object is, from its label ("TCP 127.0.0.1:7000", "TCP a->b", "UNIX …", "/path"). */
function kindOf(label: string | undefined): [string, string] {
  if (!label) return ['fd', 'fds'];
  if (/^TCP(?:v6)? \S+ ?(?:inode \d+)?$/.test(label) && !label.includes('->')) return ['listener', 'listeners'];
  if (/^TCP/.test(label)) return ['connection', 'connections'];
  if (/^UNIX/.test(label)) return ['unix socket', 'unix sockets'];
  if (label.startsWith('/')) return ['file', 'files'];
  return ['fd', 'fds'];
}

export function bundleHandovers(timeline: Timeline): Bundle[] {
  const labels = new Map(timeline.objects.map((o) => [o.id, o.label]));
  const byMessage = new Map<string, Handover[]>();
  for (const h of timeline.handovers) {
    const key = `${h.from}|${h.to}`;
    byMessage.set(key, [...(byMessage.get(key) ?? []), h]);
  }
  return [...byMessage.values()].map((handovers, id) => {
    const [first] = handovers;
    const sent = first.from === null ? undefined : timeline.events[first.from];
    const received = first.to === null ? undefined : timeline.events[first.to];
    const count = sent?.fdCount ?? received?.fdCount ?? handovers.length;
    const kinds = new Map<string, { many: string; n: number }>();
    for (const h of handovers) {
      const [one, many] = kindOf(labels.get(h.object));
      kinds.set(one, { many, n: (kinds.get(one)?.n ?? 0) + 1 });
    }
    // One of a kind is named ("listener", "file tmp.txt"); more are counted ("100 connections").
    const only = (one: string) => {
      if (one !== 'file') return one;
      const path = labels.get(handovers.find((h) => kindOf(labels.get(h.object))[0] === 'file')!.object) ?? '';
      return `file ${path.length <= 24 ? path : path.split('/').pop()}`;
    };
    const parts = [...kinds].map(([one, { many, n }]) => (n === 1 ? only(one) : plural(n, one, many)));
    if (count > handovers.length) parts.push(`${count - handovers.length} not printed`);
    return {
      id,
      from: first.from,
      to: first.to,
      handovers: handovers.map((h) => h.id),
      count,
      label: `${plural(count, 'fd')}: ${parts.join(' + ')}`,
      channel: first.channel,
      objects: [...new Set([...handovers.map((h) => h.object), first.channel])],
    };
  });
}

/** The rows of the page, top to bottom, for `drawn` (the events the page draws, in time order). */
export function planRows(timeline: Timeline, drawn: readonly TimelineEvent[]): Plan {
  const bundles = bundleHandovers(timeline);
  const rows: Row[] = [];
  const runs: Run[] = [];
  const rowOf = new Map<number, number>();
  for (let i = 0; i < drawn.length; ) {
    const start = drawn[i];
    let last = i;
    let alike = 1;
    const moves = movesAt(drawn, i);
    if (moves) {
      const members = drawn.slice(i, moves.last + 1);
      const run: Run = { id: runs.length, events: members.map((e) => e.id), lanes: moves.lanes, objects: [...new Set(members.flatMap((e) => e.objects))] };
      runs.push(run);
      rows.push({ kind: 'run', run: run.id });
      for (const e of members) {
        rowOf.set(e.id, rows.length);
        rows.push({ kind: 'event', event: e.id, run: run.id });
      }
      i = moves.last + 1;
      continue;
    }
    if (collapsible(start)) {
      // Calls like one already in the run extend it; the few others between two of them join it,
      // and so do their likes after (a ping in one lane, its answer in the other, and so on).
      // A run needs MIN_RUN calls of one kind: a few different calls in a row (a channel being set up) stay rows.
      const counts = new Map([[likeness(start), 1]]);
      let between: string[] = [];
      for (let j = i + 1; j < drawn.length && collapsible(drawn[j]); j++) {
        const key = likeness(drawn[j]);
        if (counts.has(key)) {
          last = j;
          for (const k of [...between, key]) counts.set(k, (counts.get(k) ?? 0) + 1);
          between = [];
        } else if (between.push(key) > MAX_GAP) break;
      }
      alike = Math.max(...counts.values());
    }
    // Accepts collapse from 3: lab 5's probes (accept4, close, x3) during the upgrade are 6 rows otherwise, and push the handover off the screen.
    if (alike < (start.syscall.startsWith('accept') ? MIN_ACCEPTS : MIN_RUN)) {
      rowOf.set(start.id, rows.length);
      rows.push({ kind: 'event', event: start.id });
      i++;
      continue;
    }
    const members = drawn.slice(i, last + 1);
    const lanes = [...new Set(members.map((e) => e.lane))].sort((a, b) => a - b);
    const run: Run = {
      id: runs.length,
      events: members.map((e) => e.id),
      lanes: lanes.map((lane) => {
        const own = members.filter((e) => e.lane === lane);
        return { lane, summary: laneSummary(own), count: own.length };
      }),
      objects: [...new Set(members.flatMap((e) => e.objects))],
    };
    runs.push(run);
    rows.push({ kind: 'run', run: run.id });
    for (const e of members) {
      rowOf.set(e.id, rows.length);
      rows.push({ kind: 'event', event: e.id, run: run.id });
    }
    i = last + 1;
  }
  // Each bundle's fd pairs go under the later of its two ends (both ends are rows: fd passing is never in a run).
  const pairsAfter = new Map<number, Row[]>();
  for (const b of bundles) {
    const ends = [b.from, b.to].filter((id): id is number => id !== null && rowOf.has(id)).map((id) => rowOf.get(id)!);
    if (ends.length === 0) continue;
    const at = Math.max(...ends);
    pairsAfter.set(at, [...(pairsAfter.get(at) ?? []), ...b.handovers.map((handover): Row => ({ kind: 'pair', bundle: b.id, handover }))]);
  }
  const withPairs = rows.flatMap((row, index) => [row, ...(pairsAfter.get(index) ?? [])]);

  const firstDrawn = timeline.lanes.map((_, lane) => drawn.find((e) => e.lane === lane)?.micros ?? Infinity);
  const firstLaneOfRole = new Map<string, number>();
  timeline.lanes.forEach((l, i) => firstLaneOfRole.has(l.role) || firstLaneOfRole.set(l.role, i));
  const startup = timeline.lanes.map(() => [] as number[]);
  for (const e of timeline.events) {
    if (!e.noise) continue;
    const lane = e.lane >= 0 ? e.lane : firstLaneOfRole.get(e.role);
    if (lane !== undefined && e.micros <= firstDrawn[lane]) startup[lane].push(e.id);
  }

  const focus = new Map<number, string[]>();
  for (const e of drawn) {
    if (e.syscall.startsWith('accept') && e.objects.length > 1) focus.set(e.id, e.objects.slice(1));
    else focus.set(e.id, e.objects.filter((o) => o !== e.channel));
  }
  return { rows: withPairs, runs, bundles, startup, focus };
}
