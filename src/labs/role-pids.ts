// The pid each traced role's program has in its own pid namespace (the one
// strace prints in a container: "pid 18") and on this machine (the one the
// fd tables read from /proc show), so a timeline can show both: 'pid 18
// (host 43210)'. Read while the role runs; written to role-pids.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { namespacePids, seesRoleProcess } from '../runtime/host-pid';
import type { Role } from '../runtime/types';
import type { RolePid } from '../strace';

const FILE = 'role-pids.json';
// strace starts the program a few ms after the runner; 3 s is far beyond that (about 40 ms measured).
const WAIT_MS = 3000;
const POLL_MS = 25;

/** Waits until the role's program runs (below strace), then reads its pids; null if it cannot be seen from here. */
export async function rolePids(role: Role): Promise<RolePid | null> {
  // The same answer twice, POLL_MS apart: read in the instant of an exec (a wrapper becoming strace,
  // its comm not yet changed), one read named strace's pid, 11 below the node the fd tables showed.
  let last: RolePid | null = null;
  for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline; ) {
    const host = await role.hostPid();
    if (host === null) return null; // exited, or in another pid namespace than ours
    if (!seesRoleProcess(host)) {
      const pids = namespacePids(host);
      const read = pids.length ? { role: role.name, pid: pids[pids.length - 1], hostPid: pids[0] } : null;
      if (read === null || read.hostPid === last?.hostPid) return read;
      last = read;
    } else {
      last = null;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return last;
}

export function writeRolePids(dir: string, pids: readonly RolePid[]): void {
  fs.writeFileSync(path.join(dir, FILE), JSON.stringify(pids, null, 2) + '\n');
}

export function readRolePids(dir: string): RolePid[] {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, FILE), 'utf8')) as RolePid[];
  } catch {
    return [];
  }
}
