// When a process started, from /proc, to tell a pid file's own process from a
// stranger that got its pid later (pids are reused: a service that died
// leaves its pid file naming whoever comes next). A pid file is written after
// its process starts (fdlab run and fdlab serve write it once running), so a
// process that started after the file's last write is not the one it names.
import * as fs from 'node:fs';

/** USER_HZ: the unit of /proc/<pid>/stat's start time (100 on every Linux build Node runs on). */
const TICKS_PER_SECOND = 100;
/** /proc/stat's btime is in whole seconds, so a start time is known to within 1 s; 2 s of slack. */
const SLACK_MS = 2000;

/** The wall-clock ms at which `pid` started, or null if /proc cannot say. */
export function processStartMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const btime = Number(fs.readFileSync('/proc/stat', 'utf8').match(/^btime (\d+)$/m)?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(btime)) return null;
    return btime * 1000 + (ticks * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** How long after `writtenMs` the process started, if clearly after it (beyond the slack); else null. */
export function startedAfter(pid: number, writtenMs: number): number | null {
  const started = processStartMs(pid);
  return started !== null && started > writtenMs + SLACK_MS ? started - writtenMs : null;
}
