// A directory of strace captures (a lab's captures/lab<n>/, or one a learner
// made by hand: any *.strace, or strace -ff's <name>.<pid> files) as a
// timeline: the few lines for a terminal, and timeline.html beside them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { timelineHtml } from './timeline-html';
import { timelineText, type TextOptions } from './timeline-text';
import { buildTimeline, type CaptureFile, type Timeline } from './timeline';

/** *.strace files, or files whose first line looks like strace output. */
export function readCaptures(dir: string): CaptureFile[] {
  return fs
    .readdirSync(dir)
    .filter((name) => fs.statSync(path.join(dir, name)).isFile() && !/\.(html|json|log)$/.test(name))
    .map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), 'utf8') }))
    .filter(({ name, text }) => name.endsWith('.strace') || /^(?:\d+\s+)?\d\d:\d\d:\d\d\.\d+ \w+\(/.test(text))
    .map(({ name, text }) => ({ role: name.replace(/\.strace$/, ''), text }));
}

export interface WrittenTimeline {
  timeline: Timeline;
  htmlPath: string;
  lines: string[];
}

/** Reads the captures in `dir`, writes `dir`/timeline.html, returns the terminal lines. */
/** `prelude`: HTML for above the timeline (the lab's fd-table pictures). */
export function writeTimeline(dir: string, title: string, text: TextOptions = {}, prelude = ''): WrittenTimeline {
  const timeline = buildTimeline(readCaptures(dir));
  const htmlPath = path.join(dir, 'timeline.html');
  fs.writeFileSync(htmlPath, timelineHtml(timeline, { title, prelude }));
  return { timeline, htmlPath, lines: timelineText(timeline, text) };
}
