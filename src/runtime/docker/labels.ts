// Every Docker object fdlab creates carries the label key `fdlab`, so that
// `docker ps -a --filter label=fdlab` (and `fdlab clean`) find leftovers.
// Which lab is still using an object is judged by the engine, not by pids:
// every object names its run's lease container (lease.ts), a container that
// ends when the lab process that made it goes away, wherever that process runs.
import * as os from 'node:os';

export const LABEL_KEY = 'fdlab';
export const RUN_LABEL = 'fdlab.run';
export const ROLE_LABEL = 'fdlab.role';
/** The name of the lease container that says whether the object's lab is still running. */
export const LEASE_LABEL = 'fdlab.lease';
/**
 * `host:pid` of the lab process. Informational since leases; fdlab versions
 * before leases judged liveness by it, so objects they made (which have no
 * lease label) still are, and those older versions spare ours.
 */
export const OWNER_LABEL = 'fdlab.owner';

/** The lease container's name for a run. */
export function leaseName(run: string): string {
  return `fdlab-${run}-lease`;
}

export function labels(lab: string, run: string, role?: string): Record<string, string> {
  return {
    [LABEL_KEY]: lab,
    [RUN_LABEL]: run,
    [LEASE_LABEL]: leaseName(run),
    [OWNER_LABEL]: `${os.hostname()}:${process.pid}`,
    ...(role ? { [ROLE_LABEL]: role } : {}),
  };
}

/** For objects without a lease label only: true when the owner is a live process in this pid namespace. */
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
