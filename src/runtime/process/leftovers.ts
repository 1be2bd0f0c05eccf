// What a process runtime killed with -9 leaves: its shared directory in the
// temp dir (its roles exit with their stdin, its network namespace with its
// last process). Each shared dir names its owner (.owner: a pid); `fdlab clean`
// removes those whose owner is gone, never one a running lab or check uses.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const OWNER = '.owner';

/** Marks `dir` as this process's (ProcessRuntime.start). */
export function markOwner(dir: string): void {
  fs.writeFileSync(path.join(dir, OWNER), String(process.pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the shared dirs (os.tmpdir()/fdlab-*) whose owner process has exited; returns them. */
export function removeOrphanSharedDirs(tmp = os.tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith('fdlab-')) continue;
    const dir = path.join(tmp, name);
    let owner: number;
    try {
      owner = Number(fs.readFileSync(path.join(dir, OWNER), 'utf8'));
    } catch {
      continue; // not a shared dir of the process runtime, or an older one: left alone
    }
    if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
