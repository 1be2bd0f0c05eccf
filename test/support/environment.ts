// Settings every test process needs. Offline machine: testcontainers
// must not try to pull its helper images (ryuk, alpine).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
// A test run started by a systemd unit (Type=notify) must not have every
// `fdlab serve` it starts tell that unit READY=1, MAINPID= or STOPPING=1:
// tests that want sd_notify messages set NOTIFY_SOCKET to a recorder of their own.
delete process.env.NOTIFY_SOCKET;

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

// Labs listen on fixed ports (from the seeds): as processes, each test's lab
// gets a network namespace of its own, so no run meets another on them. That
// needs CAP_SYS_ADMIN (root here and in CI; not a devcontainer's non-root user):
// without it they share this machine's network, and say so.
if (process.env.FDLAB_PROCESS_NETWORK === undefined) {
  const probe = spawnSync('unshare', ['--net', 'true'], { encoding: 'utf8' });
  process.env.FDLAB_PROCESS_NETWORK = probe.status === 0 ? 'private' : 'host';
  if (probe.status !== 0) {
    console.log(`(process-runtime labs share this machine's network: unshare --net failed: ${(probe.stderr || String(probe.error)).trim()})`);
  }
}

/**
 * Processes of this run still running (zombies excluded): our descendants, and
 * detached ones (a successor outlives its parent) whose command line names one
 * of this run's temp dirs. A test that started them leaked them.
 */
function leftovers(root: number, dirs: readonly string[]): { pid: number; command: string }[] {
  const children = new Map<number, number[]>();
  const commands = new Map<number, string>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === root) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      children.set(Number(ppid), [...(children.get(Number(ppid)) ?? []), Number(entry)]);
      commands.set(Number(entry), fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim());
    } catch {
      // It exited while we looked.
    }
  }
  const found = new Set<number>();
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.add(child);
      walk(child);
    }
  };
  walk(root);
  for (const [pid, command] of commands) {
    if (dirs.some((dir) => command.includes(dir))) found.add(pid);
  }
  return [...found].map((pid) => ({ pid, command: commands.get(pid) ?? '?' }));
}

/**
 * The learner's captures/ in the project (what `npm run lab:N` wrote): every
 * file with its size and mtime. The tests write their captures to temp dirs
 * (runLabForTest, --captures); a run that touches these fails.
 */
function learnersCaptures(): string {
  const root = path.join(__dirname, '..', '..', '..', 'captures');
  const files: string[] = [];
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // no captures/ yet
    }
    for (const entry of entries) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else {
        const stat = fs.statSync(file, { throwIfNoEntry: false });
        files.push(`${path.relative(root, file)} ${stat?.size} ${stat?.mtimeMs}`);
      }
    }
  };
  walk(root);
  return files.sort().join('\n');
}

let capturesBefore = '';

// Root hooks: a run leaves no temporary directories and no processes behind,
// and does not touch the learner's captures/.
// A leftover process fails the run (and is killed, so the run can end).
export const mochaHooks = {
  beforeAll(): void {
    capturesBefore = learnersCaptures();
  },
  afterAll(this: Mocha.Context): void {
    const capturesAfter = learnersCaptures();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fds = require('../helpers/fds') as typeof import('../helpers/fds');
    const left = leftovers(process.pid, fds.tempDirsMade());
    fds.removeTempDirs();
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    if (left.length > 0) {
      throw new Error(`the tests left ${left.length} process(es) running (killed now):\n${left.map((p) => `  ${p.pid} ${p.command.slice(0, 200)}`).join('\n')}`);
    }
    if (capturesAfter !== capturesBefore) {
      throw new Error(`the tests wrote to the learner's captures/ (a lab run without a temp --captures or capturesRoot):\nbefore:\n${capturesBefore || '(nothing)'}\nafter:\n${capturesAfter}`);
    }
  },
};
