// A worker whose supervisor is gone must not serve on forever outside anyone's
// watch. Measured before: `kill -9` of `fdlab run` left its worker serving as
// an orphan of PID 1; the supervisor's pid file named a dead pid, so nothing
// could upgrade it, and a new `fdlab run` (what systemd's Restart= or pm2 do)
// exited 1 on ERR_STATE_DIR_IN_USE, again and again. So a worker asks the
// kernel for SIGTERM when its supervisor dies (PR_SET_PDEATHSIG): the stop a
// manager would send, handled by the app's own stop (`fdlab serve`: deferred
// until an upgrade settles). Best-effort: a failure is logged, never thrown.
// A worker that finds its supervisor gone before it asked (its first ~100-250
// ms) refuses to start: found by a reviewer, a successor starting while the
// supervisor was kill -9ed took over from the old worker (whose SIGTERM waited
// for the upgrade) and served on, an orphan again. So Upgrader.start throws
// ERR_SUPERVISOR_GONE: a successor's old version rolls back, then stops.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { FdlabError } from '../errors';
import { binding } from '../native/binding';
import type { Log } from '../handover/types';

/** SIGTERM to this process when `supervisor` (our parent) dies. Throws (coded) if it is not our parent any more. */
export function stopWithSupervisor(supervisor: number, log: Log): void {
  let parentAlive: boolean;
  try {
    parentAlive = binding.setParentDeathSignal(os.constants.signals.SIGTERM, supervisor);
  } catch (error) {
    log(`cannot ask for SIGTERM when the supervisor (pid ${supervisor}) dies: ${(error as Error).message}; if it is killed, stop this process yourself`);
    return;
  }
  if (parentAlive) return;
  // A supervisor killed a moment ago may be a zombie its parent has not reaped yet: that is gone too.
  if (process.ppid !== 1 && !gone(supervisor)) {
    // Our parent is something between the supervisor and us: a shell that did not exec.
    throw new FdlabError('ERR_SUPERVISOR_WRAPPED', `this worker's parent (pid ${process.ppid}) is not its supervisor (pid ${supervisor}): the command after -- must be the server or exec it (sh -c 'exec node server.js'), so that the supervisor's signals reach it`);
  }
  // It died before we asked: no signal would come (the kernel sends it on the parent's exit only).
  throw new FdlabError('ERR_SUPERVISOR_GONE', `the supervisor (pid ${supervisor}) is gone: nobody would stop or upgrade this worker, so it does not start; start the service again`);
}

/** Whether `pid` is gone from /proc, or a zombie (state Z or X) nobody has reaped yet. */
function gone(pid: number): boolean {
  try {
    return /\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
