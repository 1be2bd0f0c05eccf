// `fdlab timeline <dir>`: the timeline of any directory of strace captures.
import chalk from 'chalk';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from '../lab-error';
import { readCaptures, writeTimeline } from '../strace';
import { readFdTables } from '../labs/fd-snapshot';
import { fdPictureText } from '../labs/fd-picture-text';
import { fdPicturesHtml } from '../labs/fd-picture-svg';
import { readRolePids } from '../labs/role-pids';
import { loadLabs } from '../labs/registry';
import type { LabDefinition } from '../labs/types';

/** The lab whose captures these are (its summary.json says), for its key calls and parts. */
function labOf(dir: string): LabDefinition | undefined {
  try {
    const { lab } = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')) as { lab?: number };
    return lab === undefined ? undefined : loadLabs().get(lab);
  } catch {
    return undefined; // any directory of captures: no lab to ask
  }
}

export function runTimeline(dir: string, options: { width?: number }): number {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new LabError('ERR_NO_CAPTURES', `${dir} is not a directory`);
  if (readCaptures(dir).length === 0) {
    throw new LabError('ERR_NO_CAPTURES', `no strace captures in ${dir} (*.strace, or files from strace -f -tt -yy -o FILE)`);
  }
  // A lab's capture dir also holds the fd tables it read at its key step.
  const snapshots = readFdTables(dir);
  const written = writeTimeline(dir, `fdlab timeline: ${path.resolve(dir)}`, { width: options.width ?? Math.min(process.stdout.columns || 100, 100) }, fdPicturesHtml(snapshots), {
    ...labOf(dir)?.timeline,
    pids: readRolePids(dir),
  });
  for (const snapshot of snapshots) console.log(fdPictureText(snapshot).join('\n') + '\n');
  console.log(written.lines.join('\n'));
  console.log(chalk.gray(`${written.timeline.noiseCount} start-up call(s) folded; everything, with the raw lines: ${written.htmlPath}`));
  return 0;
}
