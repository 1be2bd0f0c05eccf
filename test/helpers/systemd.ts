// A real systemd (the machine's own /lib/systemd/systemd) for tests, booted
// as PID 1 of a new pid + mount + uts namespace: `unshare --pid --fork
// --mount --uts --mount-proc`, a private tmpfs on /run, `container=` set (so
// it runs as a container's init: no hostname, no kernel modules, no udev),
// a unit path holding only the test's units and empty stub targets (so it
// starts nothing else: 60 ms to "Startup finished"), and a cgroup of its own
// (fdlab-systemd-<pid>-<n> under each cgroup2 / name=systemd hierarchy) that
// it takes as its root. `script` gives it a pty as /dev/console (its log,
// --log-level=debug, lands in console.log; on a regular file it falls back
// to /dev/null). systemctl talks to it through /run/systemd/private inside
// the namespace (nsenter). Pids it reports (MainPID) are the namespace's.
// stop() kills it (SIGKILL to a pid namespace's init ends every process in
// it; its mounts end with its mount namespace) and removes the cgroups.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir, until } from './fds';

const run = promisify(execFile);
const SYSTEMD = '/lib/systemd/systemd';
// Targets a unit with the default dependencies pulls in (Requires=sysinit.target, After=basic.target
// ...): empty here, so nothing of the machine's own boot (udev, journald, fstab mounts) ever starts.
const STUB_TARGETS = ['sysinit', 'basic', 'shutdown', 'network', 'multi-user', 'sockets', 'paths', 'timers', 'slices', 'local-fs', 'swap', 'umount'];
let booted = 0;

export interface Systemd {
  /** systemd's pid on this machine (PID 1 in its namespace). */
  pid: number;
  /** The unit directory (SYSTEMD_UNIT_PATH): the only one it reads. */
  units: string;
  /** Its own log so far (debug level). */
  log(): string;
  /** `systemctl <args>` inside the namespace; its stdout. */
  systemctl(...args: string[]): Promise<string>;
  /** `systemctl show -p <names> <unit>` as an object. */
  show(unit: string, names: string[]): Promise<Record<string, string>>;
  /** A file as the namespace sees it (its private /run). */
  read(file: string): string;
  /** The pids (the namespace's) of every process in it but systemd. */
  processes(): number[];
  stop(): Promise<void>;
}

/** The hierarchies systemd tracks processes in: each cgroup2 mount and the name=systemd one (hybrid). */
function trackingHierarchies(): string[] {
  const found: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (!after) continue;
    const [type, , options] = after.split(' ');
    if (type === 'cgroup2' || (type === 'cgroup' && options.split(',').includes('name=systemd'))) found.push(before.split(' ')[4]);
  }
  return found;
}

/** Why a systemd cannot be booted here (null: it can be tried). */
export function cannotBoot(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  if (!fs.existsSync(SYSTEMD)) return `no ${SYSTEMD} (apt-get install systemd)`;
  for (const tool of ['/usr/bin/unshare', '/usr/bin/nsenter', '/usr/bin/script']) if (!fs.existsSync(tool)) return `no ${tool}`;
  if (trackingHierarchies().length === 0) return 'no cgroup2 or name=systemd cgroup hierarchy mounted';
  return null;
}

/** Boots systemd with `units` (name → text; a name ending in .d/x.conf is a drop-in); resolves once it answers "running". */
export async function bootSystemd(units: Record<string, string>): Promise<Systemd> {
  const dir = tempDir('fdlab-systemd-');
  const unitDir = path.join(dir, 'units');
  fs.mkdirSync(unitDir);
  for (const target of STUB_TARGETS) fs.writeFileSync(path.join(unitDir, `${target}.target`), '[Unit]\nDefaultDependencies=no\n');
  fs.writeFileSync(path.join(unitDir, 'fdlab-boot.target'), '[Unit]\nDescription=fdlab test boot: nothing\nDefaultDependencies=no\n');
  for (const [name, text] of Object.entries(units)) {
    fs.mkdirSync(path.dirname(path.join(unitDir, name)), { recursive: true });
    fs.writeFileSync(path.join(unitDir, name), text);
  }
  const name = `fdlab-systemd-${process.pid}-${++booted}`;
  const cgroups = trackingHierarchies().map((root) => path.join(root, name));
  for (const cgroup of cgroups) fs.mkdirSync(cgroup);
  const init = [
    'set -e',
    'mount -t tmpfs -o mode=755 tmpfs /run',
    'mkdir /run/systemd',
    'mount --bind "$(tty)" /dev/console',
    `exec env -i container=fdlab SYSTEMD_UNIT_PATH=${unitDir} PATH=/usr/sbin:/usr/bin:/sbin:/bin ${SYSTEMD} --unit=fdlab-boot.target --log-target=console --log-level=debug --show-status=no`,
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'init.sh'), init);
  const consoleLog = path.join(dir, 'console.log');
  // Into the cgroups first (the shell, then by exec everything under it), then the namespaces.
  const enter = cgroups.map((cgroup) => `echo $$ > ${cgroup}/cgroup.procs`).join('; ');
  const child: ChildProcess = spawn('sh', ['-c', `${enter}; exec script -qfec 'unshare --pid --fork --mount --uts --mount-proc sh ${dir}/init.sh' ${consoleLog}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const log = () => (fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'utf8') : '');

  let pid = 0;
  const stop = async () => {
    if (pid) process.kill(pid, 'SIGKILL');
    else if (!exited) child.kill('SIGKILL');
    if (!exited) await gone;
    // A cgroup is removable once its last process is reaped: deepest first.
    const all = cgroups.flatMap((root) => (fs.existsSync(root) ? walk(root) : [])).sort((a, b) => b.length - a.length);
    await until(5000, () => `removing ${all.filter((c) => fs.existsSync(c)).join(', ')}`, () => {
      for (const cgroup of all) {
        try {
          fs.rmdirSync(cgroup);
        } catch {
          // Busy until its processes are reaped; tried again.
        }
      }
      return all.every((c) => !fs.existsSync(c));
    }, 20);
  };
  try {
    // systemd's pid: the init of the namespace, in our cgroup (or its init.scope), named by its command line.
    await until(10_000, () => `systemd started (stderr: ${stderr}; log: ${log()})`, () => {
      if (exited) throw new Error(`systemd's namespace ended before it ran: ${stderr}${log()}`);
      pid = walk(cgroups[0]).flatMap(procsOf).find((p) => readArgv(p)[0] === SYSTEMD) ?? 0;
      return pid > 0;
    }, 20);
  } catch (error) {
    await stop();
    throw error;
  }

  const systemctl = async (...args: string[]) => (await run('nsenter', ['-t', String(pid), '-m', '-p', 'systemctl', '--no-pager', ...args])).stdout;
  const sd: Systemd = {
    pid,
    units: unitDir,
    log,
    systemctl,
    async show(unit, names) {
      const out = await systemctl('show', '-p', names.join(','), unit);
      return Object.fromEntries(out.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    },
    read: (file) => fs.readFileSync(`/proc/${pid}/root${file}`, 'utf8'),
    processes: () => fs.readdirSync(`/proc/${pid}/root/proc`).filter((e) => /^\d+$/.test(e) && e !== '1').map(Number),
    stop,
  };
  try {
    await pollUntil(10_000, () => `systemd running (log: ${log().slice(-2000)})`, async () => (await systemctl('is-system-running').catch((e: { stdout?: string }) => e.stdout ?? '')).trim() === 'running');
  } catch (error) {
    await stop();
    throw error;
  }
  return sd;
}

/** until() for an async condition (a systemctl call): the event loop, and the test's clients, run meanwhile. */
export async function pollUntil(ms: number, what: string | (() => string), condition: () => Promise<boolean>, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms: ${typeof what === 'function' ? what() : what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function walk(dir: string): string[] {
  return [dir, ...fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => walk(path.join(dir, e.name)))];
}

function procsOf(cgroup: string): number[] {
  try {
    return fs.readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function readArgv(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}
