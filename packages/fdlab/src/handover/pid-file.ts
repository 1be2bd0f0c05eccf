// The pid file names whoever serves now. It is written to a temporary file
// created with O_EXCL (a file or symlink planted there is never followed or
// reused) and renamed into place, so a reader (`kill -USR2 $(cat f)`) never
// sees half a number.
import * as fs from 'node:fs';
import { isErrorWithCode } from '../errors';

export function writePidFile(file: string, pid = process.pid): void {
  const temporary = `${file}.${pid}.tmp`;
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  let fd: number;
  try {
    fd = fs.openSync(temporary, flags, 0o644);
  } catch (error) {
    if (!isErrorWithCode(error, 'EEXIST')) throw error;
    fs.unlinkSync(temporary); // left by a crash of a process with our pid; unlink never follows a link
    fd = fs.openSync(temporary, flags, 0o644);
  }
  try {
    fs.writeSync(fd, `${pid}\n`);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

/** Removes the pid file if it still names `pid` (a successor may have rewritten it). */
export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (Number(fs.readFileSync(file, 'utf8')) === pid) fs.rmSync(file);
  } catch {
    // Gone already.
  }
}
