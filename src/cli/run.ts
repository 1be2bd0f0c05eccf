// `fdlab run [--pid-file f] -- <command> [args...]`: a supervisor that stays
// the main process (fdlab/supervisor) for pm2, systemd (Type=notify) and a
// container's PID 1; `kill -USR2 $(cat f)` upgrades its worker in place.
//   fdlab run --pid-file /run/app.pid -- fdlab serve --port 7000 --pid-file /run/app-worker.pid
// Two pid files: the supervisor's names the process managers and operators
// signal; the worker's (fdlab serve's own) names the worker serving now.
// The same as the library's `fdlab-run` command (runSupervisor).
import { runSupervisor } from 'fdlab/supervisor';
import { LabError } from '../lab-error';

export interface RunOptions {
  pidFile?: string;
}

/** Runs until the last worker exits; the status is the supervisor's exit code. */
export async function runRun(command: string[], options: RunOptions): Promise<number> {
  if (command.length === 0) throw new LabError('ERR_INVALID_ARG_VALUE', 'give the worker\'s command after --, e.g. fdlab run -- fdlab serve --port 7000 --pid-file /tmp/worker.pid');
  return runSupervisor({ command, pidFile: options.pidFile });
}
