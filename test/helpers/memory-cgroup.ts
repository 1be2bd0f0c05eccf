// A memory cgroup of its own for one test (issue 18, item 4): cgroup v2
// (memory.max) where the memory controller is on the unified hierarchy,
// cgroup v1 (memory.limit_in_bytes) where it is not (this Debian 12 machine
// and CI: a hybrid mount, memory on v1). Created below this process's own
// memory cgroup (v1), or at the v2 root (where a controller can be enabled
// for children); removed by remove(), which kills what is left in it first.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { until } from './fds';

export interface MemoryCgroup {
  dir: string;
  version: 1 | 2;
  /** Bytes charged to the cgroup now. */
  usage(): number;
  limit(bytes: number): void;
  /** How many processes the OOM killer killed in it. */
  oomKills(): number;
  /** What a process writes to join it (the test's serve processes do at their first line: join-cgroup.ts). */
  procsFile: string;
  remove(): Promise<void>;
}

interface Mount {
  root: string;
  point: string;
  fstype: string;
  options: string;
}

function mounts(): Mount[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((line) => {
    const [left, right] = line.split(' - ');
    const fields = left.split(' ');
    const [fstype, , options] = right.split(' ');
    return { root: fields[3], point: fields[4], fstype, options };
  });
}

/** This process's cgroup path in the hierarchy with `controller` ('' for v2). */
function ownPath(controller: string): string | undefined {
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, where] = line.split(':');
    if (controller === '' ? controllers === '' : controllers.split(',').includes(controller)) return where;
  }
  return undefined;
}

function readNumber(file: string): number {
  return Number(fs.readFileSync(file, 'utf8').trim());
}

function counter(file: string, name: string): number {
  const match = fs.readFileSync(file, 'utf8').match(new RegExp(`^${name} (\\d+)$`, 'm'));
  return match ? Number(match[1]) : 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A dir left by a test process that died before its cleanup: removed if empty. */
function removeStale(parent: string): void {
  for (const entry of fs.readdirSync(parent)) {
    const match = entry.match(/^fdlab-test-(\d+)-\d+$/);
    if (!match || alive(Number(match[1]))) continue;
    try {
      fs.rmdirSync(path.join(parent, entry));
    } catch {
      // Still has processes, or gone: not ours to kill.
    }
  }
}

let made = 0;

/** A new memory cgroup, or why there can be none here (the test then says so and is skipped). */
export function memoryCgroup(): MemoryCgroup | { unavailable: string } {
  if (process.platform !== 'linux') return { unavailable: 'not Linux' };
  const all = mounts();
  const name = `fdlab-test-${process.pid}-${++made}`;
  const v2 = all.find((m) => m.fstype === 'cgroup2');
  const v2Controllers = v2 ? fs.readFileSync(path.join(v2.point, 'cgroup.controllers'), 'utf8').split(/\s+/) : [];
  try {
    if (v2 && v2Controllers.includes('memory')) {
      const control = path.join(v2.point, 'cgroup.subtree_control');
      if (!fs.readFileSync(control, 'utf8').split(/\s+/).includes('memory')) fs.writeFileSync(control, '+memory');
      removeStale(v2.point);
      const dir = path.join(v2.point, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0');
      return handle(dir, 2);
    }
    const v1 = all.find((m) => m.fstype === 'cgroup' && m.options.split(',').includes('memory'));
    const own = ownPath('memory');
    if (!v1 || own === undefined) return { unavailable: `no memory controller: cgroup v2 has [${v2Controllers.join(' ')}], no cgroup v1 memory mount` };
    const relative = v1.root === '/' ? own : path.relative(v1.root, own);
    const parent = path.join(v1.point, relative);
    removeStale(parent);
    const dir = path.join(parent, name);
    fs.mkdirSync(dir);
    return handle(dir, 1);
  } catch (error) {
    return { unavailable: `cannot make a memory cgroup: ${(error as Error).message} (needs root or a delegated cgroup)` };
  }
}

function handle(dir: string, version: 1 | 2): MemoryCgroup {
  const file = (v1: string, v2: string) => path.join(dir, version === 1 ? v1 : v2);
  const procsFile = path.join(dir, 'cgroup.procs');
  const members = () => fs.readFileSync(procsFile, 'utf8').trim().split('\n').filter(Boolean).map(Number);
  return {
    dir,
    version,
    procsFile,
    usage: () => readNumber(file('memory.usage_in_bytes', 'memory.current')),
    limit: (bytes) => fs.writeFileSync(file('memory.limit_in_bytes', 'memory.max'), String(bytes)),
    oomKills: () => counter(file('memory.oom_control', 'memory.events'), 'oom_kill'),
    async remove() {
      if (!fs.existsSync(dir)) return;
      for (const pid of members()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      await until(5000, `the processes in ${dir} to be gone`, () => members().length === 0, 20);
      // rmdir can fail with EBUSY a moment after the last process left.
      await until(5000, `${dir} to be removed`, () => {
        try {
          fs.rmdirSync(dir);
          return true;
        } catch {
          return !fs.existsSync(dir);
        }
      }, 20);
    },
  };
}
