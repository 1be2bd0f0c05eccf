// What strace saw of fd passing in a lab: every traced role's SCM_RIGHTS
// messages, paired sender -> receiver, as lines a learner can read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { wrap } from '../util/wrap';
import { formatPair, pairPassedFds, parseCapture, type FdPair, type RoleCapture, type RolePid } from '../strace';

export interface ScmReport {
  /** Every pair, formatted; print the first few. */
  lines: string[];
  pairs: FdPair[];
  /** Messages with SCM_RIGHTS in each role's capture. */
  countByRole: Record<string, number>;
}

/** `pids`: the roles' pids on this machine (role-pids.json), printed beside a container's own. */
export function scmRightsReport(files: readonly string[], pids: readonly RolePid[] = []): ScmReport {
  const captures: RoleCapture[] = files
    .filter((file) => file.endsWith('.strace'))
    .map((file) => ({ role: path.basename(file, '.strace'), events: parseCapture(fs.readFileSync(file, 'utf8')) }));
  const pairs = pairPassedFds(captures);
  const lines = pairs.map((pair) => formatPair(pair, pids));
  const countByRole = Object.fromEntries(captures.map((c) => [c.role, c.events.length]));
  return { lines, pairs, countByRole };
}

/**
 * One formatted pair as terminal lines of 100 columns at most (they were
 * 136-200): the sender, then "-> " and the receiver, each wrapped at spaces.
 * A TCP socket's own "a->b" has no spaces around its arrow, so it stays whole.
 */
export function pairLines(line: string, indent = '  '): string[] {
  const [sender, ...receiver] = line.split(' -> ');
  const lines = wrap(sender, indent, `${indent}    `);
  if (receiver.length) lines.push(...wrap(`-> ${receiver.join(' -> ')}`, `${indent}  `, `${indent}     `));
  return lines;
}
