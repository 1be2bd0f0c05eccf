// The pid file is how an operator finds the server (`kill -USR2 $(cat f)`).
// Deleted while we serve (a tmp cleaner, a `rm -rf /run/x`), or unwritable
// when we took everything back, it is rewritten by a check every
// PID_FILE_CHECK_MS while this process is the one it should name. A check is
// one read of a small file and, if it names another pid, a kill(pid, 0):
// 7-14 µs (measured: 10,000 checks in 73-138 ms), once a second.
import { isErrorWithCode } from '../errors';
import { readPidFile, writePidFile } from './pid-file';
import type { Log } from './types';

export const PID_FILE_CHECK_MS = 1000;

/** Whether `pid` is a live process (ours or anyone's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrorWithCode(error, 'EPERM');
  }
}

export class PidFileWatch {
  private readonly timer: NodeJS.Timeout;
  /** The last failure said (logged once until it changes or heals). */
  private failing: string | null = null;

  /** `names`: whether the pid file should name this process now (not during an upgrade). */
  /** `alternative`: the fix an ERR_PID_FILE names (file-errors.ts; the supervisor's pid file is fdlab run's option). */
  constructor(private readonly file: string, private readonly names: () => boolean, private readonly log: Log, private readonly alternative?: string) {
    this.timer = setInterval(() => this.check(), PID_FILE_CHECK_MS);
    this.timer.unref(); // never what keeps a process alive
  }

  /**
   * Rewrites the pid file if it is missing, holds no pid, or names a process
   * that is gone; one naming another live process is left alone (someone
   * else's server, or a successor). Never throws: a failure is logged once.
   */
  check(why = 'was missing or stale', gone?: number): boolean {
    if (!this.names()) return false;
    try {
      const named = readPidFile(this.file);
      if (named === process.pid || (named !== null && named !== gone && alive(named))) return this.healed();
      writePidFile(this.file, process.pid, this.alternative);
      this.log(`the pid file ${this.file} ${named === null ? 'was missing' : `named pid ${named}, which is gone`}: rewritten`);
      return this.healed();
    } catch (error) {
      const message = `${(error as Error).message}${(error as { code?: string }).code ? ` [${(error as { code?: string }).code}]` : ''}`;
      if (message !== this.failing) this.log(`${message}; still serving, trying again every ${PID_FILE_CHECK_MS} ms (${why})`);
      this.failing = message;
      return false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private healed(): boolean {
    if (this.failing) this.log(`the pid file ${this.file} names us again`);
    this.failing = null;
    return true;
  }
}
