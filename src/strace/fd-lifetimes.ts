// Which process each traced task belongs to, and where each fd number a call
// uses came from: the call in the same process that made it, the parent it
// was copied from at fork, the process's start (inherited: the runner's
// stdio, an exec'd listener), or nowhere: a number that was closed and is
// used again with no traced call making it anew (a lie a timeline must not tell).
import type { FdEffects } from './fd-effects';

export interface TracedCall {
  role: string;
  /** The task strace printed (a thread's id for a thread). */
  pid: number;
  syscall: string;
  errno?: string;
  effects: FdEffects;
}

export type FdHow = 'created' | 'forked' | 'inherited' | 'missing';

export interface FdUse {
  fd: number;
  /** The life of this fd number in this process (an index into FdLives.lives). */
  life: number;
}

export interface FdLife {
  role: string;
  process: number;
  fd: number;
  how: FdHow;
  /** The call (index into the calls) that made it: here, or in the parent for 'forked'. */
  creator: number | null;
  users: number[];
  closer: number | null;
}

export interface FdLives {
  /** Per call: the process (its main task's pid) whose fd table it used. */
  process: number[];
  uses: FdUse[][];
  lives: FdLife[];
}

/** `calls` in time order. */
export function fdLives(calls: readonly TracedCall[]): FdLives {
  const processOf = new Map<string, number>(); // role|task -> process
  const hasClone = new Set(calls.filter((c) => c.effects.started).map((c) => c.role));
  const firstTask = new Map<string, number>();
  const execed = new Set(calls.filter((c) => c.syscall === 'execve' && !c.errno).map((c) => `${c.role}|${c.pid}`));
  for (const c of calls) if (!firstTask.has(c.role)) firstTask.set(c.role, c.pid);
  const tables = new Map<string, Map<number, number>>(); // role|process -> fd -> life
  const closedOnce = new Map<string, Set<number>>();
  const lives: FdLife[] = [];
  const out: FdLives = { process: [], uses: [], lives };

  const processFor = (role: string, task: number): number => {
    const known = processOf.get(`${role}|${task}`);
    if (known !== undefined) return known;
    // Without clone in the capture (an older one), a task that did not exec is a thread of the role's first.
    const main = firstTask.get(role) ?? task;
    const process = hasClone.has(role) || execed.has(`${role}|${task}`) ? task : main;
    processOf.set(`${role}|${task}`, process);
    return process;
  };
  const table = (key: string) => {
    let t = tables.get(key);
    if (!t) tables.set(key, (t = new Map()));
    return t;
  };
  const newLife = (life: FdLife) => lives.push(life) - 1;

  calls.forEach((call, i) => {
    const process = processFor(call.role, call.pid);
    const key = `${call.role}|${process}`;
    const fds = table(key);
    const closed = closedOnce.get(key) ?? new Set<number>();
    closedOnce.set(key, closed);
    out.process.push(process);
    const uses: FdUse[] = [];
    for (const used of call.effects.uses) {
      let life = fds.get(used.fd);
      if (life === undefined) {
        life = newLife({ role: call.role, process, fd: used.fd, how: closed.has(used.fd) ? 'missing' : 'inherited', creator: null, users: [], closer: null });
        fds.set(used.fd, life);
      }
      lives[life].users.push(i);
      uses.push({ fd: used.fd, life });
    }
    for (const fd of call.effects.closes) {
      const life = fds.get(fd);
      if (life !== undefined) lives[life].closer = i;
      fds.delete(fd);
      closed.add(fd);
    }
    for (const made of call.effects.creates) {
      const life = newLife({ role: call.role, process, fd: made.fd, how: 'created', creator: i, users: [], closer: null });
      fds.set(made.fd, life);
      uses.push({ fd: made.fd, life });
    }
    out.uses.push(uses);
    const started = call.effects.started;
    if (started) {
      const child = started.sharesFds ? process : started.pid;
      processOf.set(`${call.role}|${started.pid}`, child);
      if (!started.sharesFds) {
        // fork: the child starts with a copy of the parent's table.
        const copy = table(`${call.role}|${child}`);
        for (const [fd, life] of fds) copy.set(fd, newLife({ role: call.role, process: child, fd, how: 'forked', creator: lives[life].creator, users: [], closer: null }));
      }
    }
  });
  return out;
}
