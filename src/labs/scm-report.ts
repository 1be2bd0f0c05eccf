// What strace saw of fd passing in a lab: every traced role's SCM_RIGHTS
// messages, paired sender -> receiver, as lines a learner can read.
import * as fs from 'node:fs';
import * as path from 'node:path';
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
