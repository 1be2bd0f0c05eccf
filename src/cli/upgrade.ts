// `fdlab upgrade <pid-file>`: SIGUSR2 to the process the pid file names (a
// supervisor's or a worker's: both upgrade), after checking it is alive.
import * as fs from 'node:fs';
import { LabError } from '../lab-error';

export function runUpgrade(pidFile: string): number {
  let text: string;
  try {
    text = fs.readFileSync(pidFile, 'utf8').trim();
  } catch (error) {
    throw new LabError('ERR_PID_FILE', `cannot read ${pidFile} (${(error as NodeJS.ErrnoException).code}): is the service running, with --pid-file ${pidFile}?`);
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) throw new LabError('ERR_PID_FILE', `${pidFile} does not hold a pid ('${text.slice(0, 40)}')`);
  try {
    process.kill(pid, 'SIGUSR2');
  } catch (error) {
    throw new LabError('ERR_PID_FILE', `pid ${pid} from ${pidFile}: ${(error as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process (a stale pid file?)' : (error as Error).message}`);
  }
  console.log(`sent SIGUSR2 to pid ${pid} (${pidFile}); its log says how the upgrade went`);
  return 0;
}
