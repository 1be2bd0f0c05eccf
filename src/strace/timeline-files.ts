// A directory of strace captures (a lab's captures/lab<n>/, or one a learner
// made by hand: any *.strace, or strace -ff's <name>.<pid> files) as a
// timeline: the few lines for a terminal, and timeline.html beside them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { timelineHtml } from './timeline-html';
import { timelineRows, type TextOptions, type TextRow } from './timeline-text';
import { buildTimeline, markKeyCalls, type CaptureFile, type KeyCall, type RolePid, type Timeline } from './timeline';

/** *.strace files, or files whose first line looks like strace output. */
export function readCaptures(dir: string): CaptureFile[] {
  return fs
    .readdirSync(dir)
    .filter((name) => fs.statSync(path.join(dir, name)).isFile() && !/\.(html|json|log)$/.test(name))
    .map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), 'utf8') }))
    .filter(({ name, text }) => name.endsWith('.strace') || /^(?:\d+\s+)?\d\d:\d\d:\d\d\.\d+ \w+\(/.test(text))
    .map(({ name, text }) => ({ role: name.replace(/\.strace$/, ''), text }));
}

/** A part of a lab with roles of its own (lab 4's R, A, B, naive, C): a short timeline of its own in the terminal. */
export interface TimelinePart {
  title: string;
  roles: RegExp;
}

/** What a lab says about its timelines (LabDefinition.timeline), and the pids the runner read. */
export interface LabTimeline {
  keyCalls?: readonly KeyCall[];
  parts?: readonly TimelinePart[];
  pids?: readonly RolePid[];
}

export interface TextTimeline {
  /** '' for a lab without parts. */
  title: string;
  timeline: Timeline;
  rows: TextRow[];
  /** Per key call of the lab that concerns this part's roles: the events it matched. */
  keys: { key: KeyCall; events: number[] }[];
}

/** The terminal timelines: one, or one per part (each timed from its own start). */
export function textTimelines(captures: readonly CaptureFile[], text: TextOptions = {}, lab: LabTimeline = {}): { lines: string[]; parts: TextTimeline[] } {
  const groups = lab.parts?.length
    ? lab.parts.map((part) => ({ title: part.title, captures: captures.filter((c) => part.roles.test(c.role)) })).filter((g) => g.captures.length > 0)
    : [{ title: '', captures }];
  const parts = groups.map(({ title, captures: own }) => {
    const timeline = buildTimeline(own, { pids: lab.pids });
    const roles = new Set(own.map((c) => c.role));
    const concerns = (key: KeyCall) => key.role === undefined || [...roles].some((r) => (typeof key.role === 'string' ? key.role === r : key.role!.test(r)));
    const keys = markKeyCalls(timeline, (lab.keyCalls ?? []).filter(concerns));
    return { title, timeline, rows: timelineRows(timeline, text), keys };
  });
  const lines = parts.flatMap((p) => [...(p.title ? [p.title] : []), ...p.rows.map((r) => r.text)]);
  return { lines, parts };
}

export interface WrittenTimeline {
  timeline: Timeline;
  htmlPath: string;
  lines: string[];
  parts: TextTimeline[];
}

/** Reads the captures in `dir`, writes `dir`/timeline.html, returns the terminal lines. */
/** `prelude`: HTML for above the timeline (the lab's fd-table pictures). */
/** `lab`: its key calls and parts (see LabTimeline). */
export function writeTimeline(dir: string, title: string, text: TextOptions = {}, prelude = '', lab: LabTimeline = {}): WrittenTimeline {
  const captures = readCaptures(dir);
  const timeline = buildTimeline(captures, { pids: lab.pids });
  markKeyCalls(timeline, lab.keyCalls ?? []);
  const htmlPath = path.join(dir, 'timeline.html');
  fs.writeFileSync(htmlPath, timelineHtml(timeline, { title, prelude }));
  const { lines, parts } = textTimelines(captures, text, lab);
  return { timeline, htmlPath, lines, parts };
}
