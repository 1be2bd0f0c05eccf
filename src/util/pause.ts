// The lab's clock for timeouts: it stops while a learner has paused the lab
// (--pause), so a role that waits at a pause is not declared hung. Timers
// made here count only the time the lab was running.
let pausedSince: number | null = null;
let pausedTotal = 0;
const onResume = new Set<() => void>();

/** Milliseconds of running time (paused time left out). */
function runningNow(): number {
  const now = Date.now();
  return now - pausedTotal - (pausedSince === null ? 0 : now - pausedSince);
}

export interface PausableTimer {
  clear(): void;
}

/** Like setTimeout, but the time spent paused does not count. */
export function pausableTimeout(fire: () => void, ms: number): PausableTimer {
  const due = runningNow() + ms;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    if (pausedSince !== null) {
      onResume.add(check);
      return;
    }
    const left = due - runningNow();
    if (left <= 0) fire();
    else timer = setTimeout(check, left);
  };
  timer = setTimeout(check, ms);
  return {
    clear: () => {
      clearTimeout(timer);
      onResume.delete(check);
    },
  };
}

/** Runs `wait` (a learner looking around) with every pausable timer stopped. */
export async function whilePaused<T>(wait: () => Promise<T>): Promise<T> {
  pausedSince = Date.now();
  try {
    return await wait();
  } finally {
    pausedTotal += Date.now() - pausedSince;
    pausedSince = null;
    const resumed = [...onResume];
    onResume.clear();
    for (const check of resumed) check();
  }
}
