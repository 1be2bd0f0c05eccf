// Every Docker object fdlab creates carries the label key `fdlab`, so that
// `docker ps -a --filter label=fdlab` (and `fdlab clean`) find leftovers. The
// owner label says which lab process made it, so cleaning up never pulls a
// pod out from under a lab that is still running.
import * as os from 'node:os';

export const LABEL_KEY = 'fdlab';
export const OWNER_LABEL = 'fdlab.owner';

export function labels(lab: string, run: string, role?: string): Record<string, string> {
  return { [LABEL_KEY]: lab, 'fdlab.run': run, [OWNER_LABEL]: `${os.hostname()}:${process.pid}`, ...(role ? { 'fdlab.role': role } : {}) };
}

/** True when the owner is a live process on this machine (its objects are in use). */
export function ownerAlive(owner: string | undefined): boolean {
  if (!owner) return false;
  const [host, pid] = owner.split(':');
  if (host !== os.hostname() || !Number(pid)) return false;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, just not ours to signal
  }
}
