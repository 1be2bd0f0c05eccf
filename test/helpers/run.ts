// `fdlab run -- fdlab serve ...` as a real process tree for the supervisor
// tests: the supervisor is the test's child; its workers are its children.
// Two pid files: run.pid (the supervisor's) and serve.pid (the worker's).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { until } from './fds';
import { processesUsing } from './serve';
import { cliPath } from '../../src/project';

const CLI = cliPath();

export interface Running {
  child: ChildProcess;
  dir: string;
  /** The supervisor's pid file (--pid-file of fdlab run). */
  runPidFile: string;
  /** The worker's own (--pid-file of fdlab serve). */
  servePidFile: string;
  stateDir: string;
  /** The supervisor's pid. */
  pid: number;
  port: number;
  log(): string;
  waitForLog(pattern: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>;
  /** The live processes of this tree other than the supervisor. */
  workers(): number[];
  /** The supervisor's exit status (its code, or the signal that killed it). */
  exited: Promise<number | NodeJS.Signals>;
}

/** The worker command `fdlab serve` in `dir`, with `extra` options. */
export function serveCommand(dir: string, extra: string[] = []): string[] {
  return [process.execPath, CLI, 'serve', '--port', '0', '--pid-file', path.join(dir, 'serve.pid'), '--state-dir', path.join(dir, 'state'), ...extra];
}

/** Starts `fdlab run (`wrap` before it: `unshare ...` makes it PID 1) --pid-file dir/run.pid -- <command>`; waits for `ready` in its log (default: a worker serving). */
export function startRun(dir: string, command: string[] = serveCommand(dir), env: NodeJS.ProcessEnv = {}, ready: RegExp | null = SERVING, wrap: string[] = []): Promise<Running> {
  return startArgv(dir, [...wrap, process.execPath, CLI, 'run', '--pid-file', path.join(dir, 'run.pid'), '--', ...command], env, ready);
}

const SERVING = /serving on 127\.0\.0\.1:(\d+) as pid (\d+)/;

/** Runs `argv` (a supervisor's command line, with --pid-file dir/run.pid) as startRun does. */
export async function startArgv(dir: string, argv: string[], env: NodeJS.ProcessEnv = {}, ready: RegExp | null = SERVING): Promise<Running> {
  const runPidFile = path.join(dir, 'run.pid');
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
  const waitForLog = async (pattern: RegExp, ms = 10_000, from = 0): Promise<RegExpMatchArray> => {
    let match: RegExpMatchArray | null = null;
    await until(ms, () => `a log line matching ${pattern}; the log:\n${log}`, () => (match = log.slice(from).match(pattern)) !== null);
    return match!;
  };
  const serving = ready ? await waitForLog(ready) : null;
  return {
    child,
    dir,
    runPidFile,
    servePidFile: path.join(dir, 'serve.pid'),
    stateDir: path.join(dir, 'state'),
    pid: child.pid!,
    port: serving ? Number(serving[1]) : 0,
    log: () => log,
    waitForLog,
    workers: () => processesUsing(dir).filter((pid) => pid !== child.pid),
    exited,
  };
}

/** The parent pid of `pid` (/proc/<pid>/stat field 4). */
export function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Ends the tree whatever state it is in (teardown). */
export async function killRun(running: Running): Promise<void> {
  for (const pid of processesUsing(running.dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await until(5000, `the tree in ${running.dir} to be gone`, () => processesUsing(running.dir).length === 0, 20);
}

/** `command`, held at a FIFO before it starts: the first worker only, or successors only (they have FDLAB_GENERATION). */
export function gated(fifo: string, which: 'first' | 'successors', command: string[]): string[] {
  const test = which === 'first' ? '-z "$FDLAB_GENERATION"' : '-n "$FDLAB_GENERATION"';
  return ['sh', '-c', `if [ ${test} ]; then read go < "$0"; fi; exec "$@"`, fifo, ...command];
}

export function fifoIn(dir: string): string {
  const fifo = path.join(dir, 'gate');
  execFileSync('mkfifo', [fifo]);
  return fifo;
}

/** Lets the worker held at `fifo` go on (resolves once it has read). */
export function release(fifo: string): Promise<void> {
  return new Promise((resolve, reject) => execFile('sh', ['-c', 'echo go > "$0"', fifo], (error) => (error ? reject(error) : resolve())));
}

/** After a test: its clients closed, then its supervisor and every worker of it ended (each may be null). */
export async function endRun(run: Running | null, clients: { close(): void } | null): Promise<void> {
  clients?.close();
  if (run) await killRun(run);
}
