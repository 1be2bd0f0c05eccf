// The supervisor as a command: this package's `fdlab-run` and the lab
// tool's `fdlab run` both end here. Its log is best-effort (a dead log pipe
// must not end the service) and each line says it is the supervisor's.
import * as path from 'node:path';
import { notifySocketFromEnvironment } from '../environment';
import { FdlabError } from '../errors';
import { bestEffortOutput, writeLine } from '../util/best-effort-output';
import { supervise } from './supervisor';

export interface RunSupervisorOptions {
  /** The worker's command and its arguments (what comes after `--`). */
  command: readonly string[];
  /** Written with the supervisor's pid: `kill -USR2 $(cat <file>)` upgrades. */
  pidFile?: string;
}

/** Runs until the last worker exits; resolves with the status to exit with (the caller exits). */
export function runSupervisor(options: RunSupervisorOptions): Promise<number> {
  if (options.command.length === 0) {
    throw new FdlabError('ERR_INVALID_ARG_VALUE', "give the worker's command after --, e.g. fdlab-run --pid-file /run/app/run.pid -- node server.js");
  }
  bestEffortOutput();
  const log = (line: string) => writeLine(process.stdout, `${new Date().toISOString().slice(11, 23)} [run pid ${process.pid}] ${line}`);
  return supervise({
    command: options.command[0],
    args: options.command.slice(1),
    pidFile: options.pidFile ? path.resolve(options.pidFile) : undefined,
    notifySocket: notifySocketFromEnvironment(),
    log,
  }).exited;
}
