// The pid file names whoever serves now. It is written to a temporary file
// created with O_EXCL (a file or symlink planted there is never followed or
// reused) and renamed into place, so a reader (`kill -USR2 $(cat f)`) never
// sees half a number. A new version prepares it (creates and writes the
// temporary file) before its ack, and only renames it at the commit: a rename
// needs no space, so a directory that fills up after the ack cannot stop it,
// and one that is unwritable before the ack refuses the upgrade.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isErrorWithCode } from '../errors';
import { fileError, PID_FILE_ALTERNATIVE } from './file-errors';

/** A pid file written to its temporary file, not in place yet. */
export interface PreparedPidFile {
  readonly file: string;
  readonly temporary: string;
  /** Renames it into place; throws ERR_PID_FILE (and removes the temporary file) if it cannot. */
  commit(): void;
  /** Removes the temporary file (best effort). */
  abandon(): void;
}

/**
 * Removes `${file}.<pid>.tmp` files whose process is gone: a successor killed
 * (or stopped by an operator) between its prepare and the commit leaves one,
 * one file per such upgrade (found by a reviewer). Best effort, never throws.
 */
export function removeStaleTemporaries(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) && name.endsWith('.tmp') ? Number(name.slice(prefix.length, -4)) : NaN;
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || processExists(pid)) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true, maxRetries: 0 });
    } catch {
      // A read-only or vanished directory (measured: EROFS here crashed the old version, every connection with it).
    }
  }
}

/** Whether `pid` is a process that has not exited (a zombie has). */
function processExists(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Creates and writes `${file}.${pid}.tmp`; throws ERR_PID_FILE naming the path and the fix. */
export function preparePidFile(file: string, pid = process.pid, alternative = PID_FILE_ALTERNATIVE): PreparedPidFile {
  const temporary = `${file}.${pid}.tmp`;
  const abandon = () => fs.rmSync(temporary, { force: true, maxRetries: 0 });
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  let fd: number;
  try {
    try {
      fd = fs.openSync(temporary, flags, 0o644);
    } catch (error) {
      if (!isErrorWithCode(error, 'EEXIST')) throw error;
      fs.unlinkSync(temporary); // left by a crash of a process with our pid; unlink never follows a link
      fd = fs.openSync(temporary, flags, 0o644);
    }
  } catch (error) {
    throw fileError('ERR_PID_FILE', 'cannot write the pid file', file, error, alternative);
  }
  try {
    fs.writeSync(fd, `${pid}\n`);
  } catch (error) {
    try {
      abandon();
    } catch {
      // A read-only or vanished directory: nothing to remove, or nothing we can.
    }
    throw fileError('ERR_PID_FILE', 'cannot write the pid file', file, error, alternative);
  } finally {
    fs.closeSync(fd);
  }
  return {
    file,
    temporary,
    commit: () => {
      try {
        fs.renameSync(temporary, file);
      } catch (error) {
        try {
          abandon();
        } catch {
          // As above.
        }
        throw fileError('ERR_PID_FILE', 'cannot write the pid file', file, error, alternative);
      }
    },
    abandon: () => {
      try {
        abandon();
      } catch {
        // As above.
      }
    },
  };
}

/** Writes the pid file now (prepare and commit); throws ERR_PID_FILE naming the path and the fix. */
export function writePidFile(file: string, pid = process.pid, alternative = PID_FILE_ALTERNATIVE): void {
  preparePidFile(file, pid, alternative).commit();
}

/** The pid the pid file names, or null if it is missing or holds no pid. Throws on other read errors. */
export function readPidFile(file: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (isErrorWithCode(error, 'ENOENT') || isErrorWithCode(error, 'ENOTDIR')) return null;
    throw error;
  }
  return /^\d+\n?$/.test(text) ? Number(text) : null;
}

/** Removes the pid file if it still names `pid` (a successor may have rewritten it). */
export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (Number(fs.readFileSync(file, 'utf8')) === pid) fs.rmSync(file);
  } catch {
    // Gone already.
  }
}
