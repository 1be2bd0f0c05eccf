// --pause in the process runtime: every role stops while the lab waits at a
// pause, and goes on at Enter. Measured here (kernel 6.18, cgroup v2 mounted
// at /sys/fs/cgroup/unified beside v1):
// - the cgroup v2 freezer stops strace and the traced node alike; strace's
//   capture shows nothing of it (no line at all), cgroup.events says
//   "frozen 1" within a few ms, and SIGKILL still kills a frozen task.
// - SIGSTOP to a traced group works too, but strace writes "--- SIGSTOP ---"
//   and "--- SIGCONT ---" into the capture: only where no cgroup can be made.
// Each role joins the cgroup before its first instruction: the runtime starts
// it through `sh -c 'echo $$ > cgroup.procs; exec ...'` (same pid). The role
// runner is in it too, so it could not see the lab die while frozen: a guard
// (sh, reading a pipe from the lab, like the netns holder) thaws and kills the
// cgroup when the lab goes away, even by kill -9; `fdlab clean` does the same
// for a cgroup whose lab is gone.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** How long freezing may take before the pause says who is still running (measured: 1-5 ms). */
const FREEZE_WAIT_MS = 2000;
const NAME_PREFIX = 'fdlab-';

export interface RoleFreezer {
  /** Words for the prompt: what stops the roles. */
  readonly how: string;
  /** Command prefix that puts a role in the freezer from its first instruction (empty: nothing needed). */
  prefix(): string[];
  /** Stops the roles whose runners lead these process groups; resolves once they are stopped (or the wait is over). */
  freeze(groups: number[]): Promise<void>;
  thaw(): Promise<void>;
  /** Whether this pid is stopped now. */
  stopped(pid: number): boolean;
  /** Thaws and removes what it made. Idempotent. */
  remove(): Promise<void>;
}

/** The cgroup v2 hierarchy's mount point, from /proc/self/mountinfo; null when there is none. */
export function cgroup2Root(mountinfo = '/proc/self/mountinfo'): string | null {
  try {
    for (const line of fs.readFileSync(mountinfo, 'utf8').split('\n')) {
      const [before, after] = line.split(' - ');
      if (after?.split(' ')[0] === 'cgroup2') return before.split(' ')[4];
    }
  } catch {
    // No /proc: no freezer.
  }
  return null;
}

/** A freezer for this lab: the cgroup v2 freezer if a cgroup can be made here, else SIGSTOP. */
export function makeFreezer(lab: string): RoleFreezer {
  return CgroupFreezer.create(lab) ?? new SignalFreezer();
}

const GUARD =
  'read _; cg="$0"; echo 0 > "$cg/cgroup.freeze"; echo 1 > "$cg/cgroup.kill"; ' +
  'i=0; while [ -d "$cg" ] && ! rmdir "$cg" && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done';

export class CgroupFreezer implements RoleFreezer {
  private removed = false;

  private constructor(readonly dir: string, private readonly guard: ChildProcess) {}

  get how(): string {
    return `the cgroup v2 freezer (${this.dir})`;
  }

  /** Makes <cgroup2 root>/fdlab-<lab>-<our pid>; null if this process may not (not root, no cgroup v2, a read-only /sys). */
  static create(lab: string): CgroupFreezer | null {
    const root = cgroup2Root();
    if (!root) return null;
    const dir = path.join(root, `${NAME_PREFIX}${lab}-${process.pid}`);
    try {
      fs.mkdirSync(dir);
      if (!fs.existsSync(path.join(dir, 'cgroup.freeze'))) throw new Error('no cgroup.freeze (kernel before 5.2)');
    } catch {
      try {
        fs.rmdirSync(dir);
      } catch {
        // Never made.
      }
      return null;
    }
    // Detached: Ctrl-C in the lab's terminal must not end the guard before the lab has cleaned up.
    const guard = spawn('sh', ['-c', GUARD, dir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    guard.on('error', () => undefined);
    guard.unref();
    (guard.stdin as unknown as { unref?: () => void }).unref?.();
    return new CgroupFreezer(dir, guard);
  }

  prefix(): string[] {
    return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.dir];
  }

  private events(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'cgroup.events'), 'utf8');
    } catch {
      return '';
    }
  }

  private async set(frozen: 0 | 1): Promise<void> {
    fs.writeFileSync(path.join(this.dir, 'cgroup.freeze'), String(frozen));
    for (const started = Date.now(); Date.now() - started < FREEZE_WAIT_MS; await delay(5)) {
      if (this.events().includes(`frozen ${frozen}`)) return;
    }
  }

  freeze(): Promise<void> {
    return this.set(1);
  }

  thaw(): Promise<void> {
    return this.set(0);
  }

  stopped(pid: number): boolean {
    return this.events().includes('frozen 1') && this.holds(pid);
  }

  /** Whether the pid is in this cgroup. */
  holds(pid: number): boolean {
    try {
      return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').some((l) => l.startsWith('0::') && this.dir.endsWith(l.slice(3)));
    } catch {
      return false;
    }
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    await removeCgroup(this.dir);
    this.guard.stdin?.end();
  }
}

/** Thaws a cgroup, kills what is in it, removes it (a cgroup with processes cannot be removed). */
async function removeCgroup(dir: string): Promise<boolean> {
  const write = (file: string, value: string) => {
    try {
      fs.writeFileSync(path.join(dir, file), value);
    } catch {
      // Gone already, or no cgroup.kill (before 5.14): the pids below then.
    }
  };
  write('cgroup.freeze', '0');
  write('cgroup.kill', '1');
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      fs.rmdirSync(dir);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') return false;
    }
    for (const pid of procsOf(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await delay(20);
  }
  return false;
}

function procsOf(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * `fdlab clean`: the freezer cgroups of labs that are gone (their guard should
 * have removed them; a guard killed too leaves them): thawed, emptied, removed.
 */
export async function removeStaleFreezers(): Promise<string[]> {
  const root = cgroup2Root();
  if (!root) return [];
  let names: string[];
  try {
    names = fs.readdirSync(root).filter((n) => n.startsWith(NAME_PREFIX));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const owner = Number(/-(\d+)$/.exec(name)?.[1]);
    if (owner && fs.existsSync(`/proc/${owner}`)) continue; // its lab still runs
    if (await removeCgroup(path.join(root, name))) removed.push(path.join(root, name));
  }
  return removed;
}

/** State letter of /proc/<pid>/stat ('T' stopped, 't' traced-stopped), or null if gone. */
function stateOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return null;
  }
}

/** Pids of a process group other than its leader (the role runner, which stays awake to see the lab go). */
function groupMembers(group: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === group) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === group) members.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return members;
}

/**
 * Where no cgroup can be made: SIGSTOP to strace and the role (not to the
 * runner: it must stay awake to take its group down if the lab dies), SIGCONT
 * at Enter. strace writes both signals into the capture.
 */
export class SignalFreezer implements RoleFreezer {
  readonly how = 'SIGSTOP (no cgroup could be made here; strace notes the stop in the capture)';
  private groups: number[] = [];

  prefix(): string[] {
    return [];
  }

  async freeze(groups: number[]): Promise<void> {
    this.groups = groups;
    const members = groups.flatMap(groupMembers);
    for (const pid of members) {
      try {
        process.kill(pid, 'SIGSTOP');
      } catch {
        // Gone.
      }
    }
    for (const started = Date.now(); Date.now() - started < FREEZE_WAIT_MS; await delay(5)) {
      if (members.every((pid) => ['T', 't', null].includes(stateOf(pid)))) return;
    }
  }

  async thaw(): Promise<void> {
    for (const group of this.groups) {
      try {
        process.kill(-group, 'SIGCONT');
      } catch {
        // Gone.
      }
    }
    this.groups = [];
  }

  stopped(pid: number): boolean {
    return ['T', 't'].includes(stateOf(pid) ?? '');
  }

  async remove(): Promise<void> {
    await this.thaw();
  }
}
