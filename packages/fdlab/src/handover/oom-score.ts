// Whom the OOM killer picks during an upgrade (issue 18, item 4). Under a
// memory limit (a cgroup at the old version's usage + 4 or 8 MB) it picked
// the old version, the bigger process, while its successor started: every
// connection dropped. The kernel adds oom_score_adj/1000 of the memory
// allowed to a process's score, so 1000 makes a process the first to go.
//   spawn:        successor 1000, old unchanged (the successor holds nothing yet)
//   all switched: old 1000, successor back to the old's value (it serves everything)
//   taken back:   old back to its value
// Measured here (Debian 12, kernel 6.x, uid 65534 and root without
// CAP_SYS_RESOURCE alike): a process may raise its own or a same-uid child's
// value to 1000 and lower it back down to its oom_score_adj_min (the value it
// started with, usually 0); below that: EACCES. Every write is best-effort:
// a failure is logged, never thrown (no /proc, a read-only /proc: the
// upgrade goes on, only without this preference).
import * as fs from 'node:fs';
import type { Log } from './types';

const MOST_LIKELY = 1000;

function file(pid: number | 'self'): string {
  return `/proc/${pid}/oom_score_adj`;
}

function read(pid: number | 'self', log: Log): number | null {
  try {
    const value = Number(fs.readFileSync(file(pid), 'utf8'));
    return Number.isInteger(value) ? value : null;
  } catch (error) {
    log(`oom_score_adj: cannot read ${file(pid)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the OOM killer keeps its own choice`);
    return null;
  }
}

function write(pid: number | 'self', value: number, log: Log): boolean {
  try {
    fs.writeFileSync(file(pid), String(value));
    return true;
  } catch (error) {
    log(`oom_score_adj: cannot write ${value} to ${file(pid)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the OOM killer keeps its own choice`);
    return false;
  }
}

/** Our value before preferOldForOom raised it: put back by restoreOwnOomScore after a take-back. */
let ownBefore: number | null = null;

/** Right after spawning the successor: until every group is switched it is the one to go. */
export function preferSuccessorForOom(successorPid: number, log: Log): void {
  const own = read('self', log);
  if (own === null) return;
  if (own >= MOST_LIKELY) {
    log(`oom_score_adj: ours is ${own} already; the OOM killer may pick either version`);
    return;
  }
  if (write(successorPid, MOST_LIKELY, log)) log(`oom_score_adj: successor pid ${successorPid} ${MOST_LIKELY}, ours ${own}, until every group is switched`);
}

/**
 * Every group switched: the new version serves everything, we only stand by,
 * so we are the one to go. `successorPid` only for a successor we spawned
 * (an external one's pid may name another process in our pid namespace):
 * it goes back to our value.
 */
export function preferOldForOom(successorPid: number | undefined, log: Log): void {
  if (successorPid === process.pid) return; // both versions in one process (fdlab/testing): nobody to prefer
  const own = read('self', log);
  if (own === null || own >= MOST_LIKELY) return;
  if (!write('self', MOST_LIKELY, log)) return;
  ownBefore = own;
  const back = successorPid !== undefined && write(successorPid, own, log);
  log(`oom_score_adj: ours ${MOST_LIKELY}${back ? `, successor pid ${successorPid} ${own}` : ''} (every group switched)`);
}

/** Serving again after a take-back: our value as it was. */
export function restoreOwnOomScore(log: Log): void {
  if (ownBefore === null) return;
  if (write('self', ownBefore, log)) log(`oom_score_adj: ours ${ownBefore} again (serving again)`);
  ownBefore = null;
}
