// The pid file names whoever serves now: written atomically, so a reader
// (`kill -USR2 $(cat f)`) never sees half a number.
import * as fs from 'node:fs';

export function writePidFile(file: string, pid = process.pid): void {
  const temporary = `${file}.${pid}.tmp`;
  fs.writeFileSync(temporary, `${pid}\n`);
  fs.renameSync(temporary, file);
}
