// `fdlab upgrade <pid-file>`: SIGUSR2 to the process the pid file names (a
// supervisor's or a worker's: both upgrade), after checking it is alive and
// is the process that wrote the file: a stale pid file naming a reused pid
// made us send SIGUSR2 to a stranger, which died of it (measured: a `sleep`).
import * as fs from 'node:fs';
import { LabError } from '../lab-error';
import { startedAfter } from './process-start';

export function runUpgrade(pidFile: string): number {
  let text: string;
  let writtenMs: number;
  try {
    const fd = fs.openSync(pidFile, 'r');
    try {
      writtenMs = fs.fstatSync(fd).mtimeMs;
      text = fs.readFileSync(fd, 'utf8').trim();
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    throw new LabError('ERR_PID_FILE', `cannot read ${pidFile} (${(error as NodeJS.ErrnoException).code}): is the service running, with --pid-file ${pidFile}?`);
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) throw new LabError('ERR_PID_FILE', `${pidFile} does not hold a pid ('${text.slice(0, 40)}')`);
  const late = startedAfter(pid, writtenMs);
  if (late !== null) {
    throw new LabError('ERR_PID_FILE', `pid ${pid} from ${pidFile} started ${Math.round(late / 1000)} s after the file was written: another process got the pid (a stale pid file: is the service running?); nothing sent`);
  }
  try {
    process.kill(pid, 'SIGUSR2');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ESRCH' ? 'no such process (a stale pid file?)' : code === 'EPERM' ? 'not ours to signal (EPERM): run fdlab upgrade as the service\'s user' : (error as Error).message;
    throw new LabError('ERR_PID_FILE', `pid ${pid} from ${pidFile}: ${why}`);
  }
  console.log(`sent SIGUSR2 to pid ${pid} (${pidFile}); its log says how the upgrade went`);
  return 0;
}
