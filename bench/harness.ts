// What the benchmarks share: the processes a run starts (every one tracked,
// and ended at the end, on errors and Ctrl-C too) and the lines the servers
// print, with waiters. bench/upgrade.ts and bench/servers.ts use it.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LabError } from '../src/lab-error';
import { withDeadline } from '../src/util/deadline';

const POLL_MS = 5;

/** `fdlab serve`'s line once a version serves: its pid and port. */
export const SERVING = /\[[^\]]* pid (\d+)\] serving on 127\.0\.0\.1:(\d+) as pid/;

export const nowNs = () => process.hrtime.bigint(); // CLOCK_MONOTONIC, the client's clock

export async function until<T>(ms: number, what: string, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new LabError('ERR_BENCH_TIMEOUT', `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export class Processes {
  readonly pids = new Set<number>();

  /**
   * `marker` is in the command line or the environment of every process of
   * this run (its temp dir; pm2's workers rename themselves, but inherit
   * PM2_HOME), so a reused pid is never killed.
   */
  constructor(readonly marker: string) {}

  track(pid: number | undefined): void {
    if (pid) this.pids.add(pid);
  }

  /** Running, ours, and not a zombie. */
  alive(pid: number): boolean {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.marker) || fs.readFileSync(`/proc/${pid}/environ`, 'utf8').includes(this.marker);
    } catch {
      return false;
    }
  }

  living(): number[] {
    return [...this.pids].filter((pid) => this.alive(pid));
  }

  signal(pid: number, signal: NodeJS.Signals): void {
    if (!this.alive(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }

  waitGone(pid: number, ms: number, what: string): Promise<bigint> {
    return until(ms, what, () => !this.alive(pid) && nowNs());
  }

  /** SIGTERM, then SIGKILL whatever is still there after `graceMs`. */
  async stopAll(graceMs = 3000): Promise<void> {
    for (const pid of this.living()) this.signal(pid, 'SIGTERM');
    try {
      await until(graceMs, 'processes to exit', () => this.living().length === 0);
    } catch {
      this.killAllNow();
      await until(2000, 'killed processes to go', () => this.living().length === 0).catch(() => {});
    }
  }

  /** Synchronous last resort (process 'exit', Ctrl-C): every process killed, the run's temp dir removed. */
  killAllNow(): void {
    for (const pid of this.living()) this.signal(pid, 'SIGKILL');
    fs.rmSync(this.marker, { recursive: true, force: true });
  }
}

/** Lines from the servers (every generation writes to the same pipes), with waiters. */
export class ServerLog {
  readonly lines: { at: bigint; text: string }[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly processes: Processes, private readonly echo: boolean) {}

  attach(child: ChildProcess): void {
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', this.splitter());
  }

  /** A consumer of chunks of text that adds each whole line. */
  splitter(): (chunk: Buffer | string) => void {
    let partial = '';
    return (chunk) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      for (const text of parts) this.add(text);
    };
  }

  private add(text: string): void {
    const at = nowNs();
    this.lines.push({ at, text });
    if (this.echo) process.stderr.write(`    ${text}\n`);
    for (const match of text.matchAll(/pid (\d+)/g)) this.processes.track(Number(match[1]));
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The first line already read, from index `from` on, that matches; null if none (yet). */
  find(pattern: RegExp, from = 0): RegExpMatchArray | null {
    for (let index = from; index < this.lines.length; index++) {
      const match = this.lines[index].text.match(pattern);
      if (match) return match;
    }
    return null;
  }

  /** The first line from index `from` on that matches. */
  wait(pattern: RegExp, ms: number, what: string, from = 0): Promise<{ at: bigint; match: RegExpMatchArray; index: number }> {
    return withDeadline(new Promise((resolve) => {
      const look = () => {
        for (let index = from; index < this.lines.length; index++) {
          const match = this.lines[index].text.match(pattern);
          if (match) return resolve({ at: this.lines[index].at, match, index });
        }
        this.waiters.push(look);
      };
      look();
    }), ms, () => new LabError('ERR_BENCH_TIMEOUT', `timed out after ${ms} ms waiting for ${what}; last server lines:\n${this.lines.slice(-8).map((l) => l.text).join('\n')}`));
  }
}


/** A benchmark's flags, strict: an unknown or malformed one is a LabError with its code and the usage. */
type Flags = NonNullable<ParseArgsConfig['options']>;
type Values<T extends Flags> = ReturnType<typeof parseArgs<{ args: string[]; strict: true; allowPositionals: false; options: T }>>['values'];

export function benchArgs<T extends Flags>(argv: string[], options: T, usage: string): Values<T> {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new LabError((error as { code?: string }).code ?? 'ERR_INVALID_ARG_VALUE', `${(error as Error).message}\n${usage}`);
  }
}

/**
 * A benchmark's command line: options parsed (a bad one: exit 2 with its
 * code), every process of the run killed on exit and on Ctrl-C, the run's
 * lines printed, an error printed with its code (exit 1). `run` gets the
 * options and a callback to call with its Processes as soon as it has them.
 */
export async function benchMain<O>(parse: (argv: string[]) => O, run: (options: O, onStart: (processes: Processes) => void) => Promise<string[]>): Promise<void> {
  let options: O;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    const e = error as LabError;
    process.stderr.write(`error ${e.code}: ${e.message}\n`);
    process.exit(2);
  }
  let processes: Processes | undefined;
  process.on('exit', () => processes?.killAllNow());
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping every process of this run\n`);
      processes?.killAllNow();
      process.exit(130);
    });
  }
  try {
    for (const line of await run(options, (p) => (processes = p))) console.log(line);
  } catch (error) {
    const e = error as LabError;
    process.stderr.write(`error ${e.code ?? 'ERR_BENCH'}: ${e.message}\n`);
    process.exitCode = 1;
  }
}
