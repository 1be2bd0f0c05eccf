// Running `fdlab serve` as a real process for the hot-upgrade tests: on a
// port the kernel picks, in its own temp dir, with every generation's log
// lines in one place (successors inherit the first one's stdout).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { until } from './fds';
import { cliPath } from '../../src/project';

const CLI = cliPath();

export interface Serving {
  child: ChildProcess;
  /** The temp dir this server tree lives in: its path is in every generation's command line. */
  dir: string;
  pidFile: string;
  stateDir: string;
  port: number;
  /** The first generation's pid. */
  pid: number;
  log(): string;
  /** The first log line matching `pattern` after character `from` of the log. */
  waitForLog(pattern: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>;
  /** The pid the pid file names now. */
  pidInFile(): number;
}

export async function startServe(dir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Serving> {
  const pidFile = path.join(dir, 'serve.pid');
  const stateDir = path.join(dir, 'state');
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--pid-file', pidFile, '--state-dir', stateDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const waitForLog = async (pattern: RegExp, ms = 10_000, from = 0): Promise<RegExpMatchArray> => {
    let match: RegExpMatchArray | null = null;
    await until(ms, () => `a log line matching ${pattern}; the log:\n${log}`, () => (match = log.slice(from).match(pattern)) !== null);
    return match!;
  };
  const serving = await waitForLog(/serving on 127\.0\.0\.1:(\d+) as pid (\d+)/);
  return {
    child,
    dir,
    pidFile,
    stateDir,
    port: Number(serving[1]),
    pid: Number(serving[2]),
    log: () => log,
    waitForLog,
    pidInFile: () => Number(fs.readFileSync(pidFile, 'utf8')),
  };
}

/** Every live process whose command line mentions `dir` (each server tree has its own). */
export function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = fs.readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '')[0];
      if (cmdline.includes(dir) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // It exited while we looked.
    }
  }
  return pids;
}

export function fdCountOf(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Waits until exactly one process of this server tree is left, and returns it. */
export async function soleServer(serving: Serving, ms = 10_000): Promise<number> {
  await until(ms, () => `one process left using ${serving.dir}: ${processesUsing(serving.dir).join(', ')}\n${serving.log()}`, () => processesUsing(serving.dir).length === 1, 20);
  return processesUsing(serving.dir)[0];
}

/** Ends the whole server tree, stopped or not, whoever serves at the end. */
export async function stopServing(serving: Serving): Promise<void> {
  for (const pid of processesUsing(serving.dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await until(5000, `the server tree in ${serving.dir} to be gone`, () => processesUsing(serving.dir).length === 0, 20);
}

/**
 * The log shipper dies: the test closes its read ends of the server's stdout
 * and stderr pipes, so the server's next write (and every successor's, which
 * inherit them) gets EPIPE. log() says nothing new from then on.
 */
export function closeLogPipes(serving: Serving): void {
  serving.child.stdout!.destroy();
  serving.child.stderr!.destroy();
}

/** How the first generation ended: its exit code, or the signal that killed it. */
export function exitOf(serving: Serving): Promise<number | NodeJS.Signals> {
  const { child } = serving;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode!);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
}

/** The process's state letter from /proc (R, S, T for stopped, Z). */
export function processState(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}
