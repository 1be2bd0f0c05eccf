// A worker whose supervisor is gone must not serve on forever outside anyone's
// watch. Measured before: `kill -9` of `fdlab run` left its worker serving as
// an orphan of PID 1; the supervisor's pid file named a dead pid, so nothing
// could upgrade it, and a new `fdlab run` (what systemd's Restart= or pm2 do)
// exited 1 on ERR_STATE_DIR_IN_USE, again and again. So a worker asks the
// kernel for SIGTERM when its supervisor dies (PR_SET_PDEATHSIG): the stop a
// manager would send, handled by the app's own stop (`fdlab serve`: deferred
// until an upgrade settles). Best-effort: a failure is logged, never thrown.
// One window is left: a supervisor that died before this call (the worker's
// first ~100-250 ms, before its Upgrader exists) sends no signal, and the
// library never signals its own process: that is logged, with what to do.
import * as os from 'node:os';
import { binding } from '../native/binding';
import type { Log } from '../handover/types';

/** SIGTERM to this process when `supervisor` (our parent) dies; a log line if it already has. */
export function stopWithSupervisor(supervisor: number, log: Log): void {
  let parentAlive: boolean;
  try {
    parentAlive = binding.setParentDeathSignal(os.constants.signals.SIGTERM, supervisor);
  } catch (error) {
    log(`cannot ask for SIGTERM when the supervisor (pid ${supervisor}) dies: ${(error as Error).message}; if it is killed, stop this process yourself`);
    return;
  }
  if (parentAlive) return;
  // It died before we asked: no signal will come (the kernel sends it on the parent's exit only).
  log(`the supervisor (pid ${supervisor}) is gone already: nobody will stop or upgrade this worker; stop it (kill ${process.pid}) and start the service again`);
}
