// The pid of a role's own program as this machine sees it: below the
// wrappers that start it (docker-init, the role runner, strace).
import * as fs from 'node:fs';

const WRAPPERS = new Set(['docker-init', 'tini', 'strace', 'nsenter', 'unshare', 'sh']);

function isWrapper(pid: number): boolean {
  try {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    // nsenter, unshare and sh are the process runtime's prefixes (a network namespace, the --pause
    // freezer): each execs the next in the same pid, so read before that exec it named the wrong
    // process (a lab 5 run recorded v2 as 466, strace's pid, while its node was 477).
    if (WRAPPERS.has(comm)) return true;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('role-runner');
  } catch {
    return false;
  }
}

/**
 * Whether this process can see a container's init by the pid the engine
 * reports: not from another pid namespace (a devcontainer on the host's
 * engine, Docker Desktop's VM), where that number is nobody's or someone else's.
 */
export function seesRoleProcess(pid: number): boolean {
  return isWrapper(pid);
}

/** From the pid a runtime started (a container's init, the role runner), down to the role's program. */
export function roleProgramPid(started: number): number {
  let pid = started;
  for (let depth = 0; depth < 4 && isWrapper(pid); depth++) {
    let children: string[];
    try {
      children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      break;
    }
    if (children.length === 0) break;
    pid = Number(children[0]);
  }
  return pid;
}

/** The pid of `pid` in each pid namespace it is in, this machine's first (/proc/<pid>/status NSpid); [] if gone. */
export function namespacePids(pid: number): number[] {
  try {
    const line = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? line[1].trim().split(/\s+/).map(Number) : [pid];
  } catch {
    return [];
  }
}
