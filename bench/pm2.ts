// pm2 (from npm, the project's devDependency) running bench/plain-server.js in
// cluster mode, for bench:ws and bench:http: its own PM2_HOME inside the run's
// temp dir (~/.pm2 is never touched; every process pm2 starts inherits it, so
// the run's Processes finds them), the workers' output read from their merged
// log files into the run's ServerLog, and its daemon killed at the end.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { LabError } from '../src/lab-error';
import { until, type Processes, type ServerLog } from './harness';

const run = promisify(execFile);
const PM2 = path.resolve(__dirname, '..', '..', 'node_modules', 'pm2', 'bin', 'pm2');
const PLAIN_SERVER = path.join(__dirname, 'plain-server.js');
const TAIL_MS = 10;

export class Pm2Cluster {
  readonly home: string;
  readonly name = `fdlab-bench-${process.pid}`;
  private readonly logs: string[];
  /** Every pid pm2 ran for us: its daemon (its pid file) and the workers (their "listening" lines). */
  private readonly pids = new Set<number>();
  private tail?: NodeJS.Timeout;

  constructor(private readonly processes: Processes, private readonly log: ServerLog, dir: string, private readonly instances: number) {
    this.home = path.join(dir, 'pm2-home');
    fs.mkdirSync(this.home);
    this.logs = [path.join(dir, 'out.log'), path.join(dir, 'err.log')];
  }

  async pm2(...args: string[]): Promise<string> {
    try {
      return (await run(process.execPath, [PM2, ...args], { env: { ...process.env, PM2_HOME: this.home }, maxBuffer: 16 << 20 })).stdout;
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new LabError('ERR_BENCH_PM2', `pm2 ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  /** Starts `instances` workers of the plain server on `port`; resolves with their pids once each said it listens. */
  async start(app: 'ws' | 'http', port: number, ms: number): Promise<number[]> {
    for (const file of this.logs) fs.writeFileSync(file, '');
    this.follow();
    const from = this.log.lines.length;
    await this.pm2('start', PLAIN_SERVER, '--name', this.name, '-i', String(this.instances), '--merge-logs',
      '--output', this.logs[0], '--error', this.logs[1], '--', '--app', app, '--port', String(port));
    this.own(this.daemon());
    return this.listening(from, ms);
  }

  /** `pm2 reload`: resolves when pm2 says it is done (every instance replaced), with the new workers' pids. */
  async reload(ms: number): Promise<number[]> {
    const from = this.log.lines.length;
    await this.pm2('reload', this.name);
    return this.listening(from, ms);
  }

  /** `pm2 kill`, then waits for the daemon and every worker to be gone. */
  async kill(ms: number): Promise<void> {
    await this.pm2('kill').catch(() => '');
    clearInterval(this.tail);
    this.tail = undefined;
    await until(ms, 'the pm2 daemon and its workers to exit', () => [...this.pids].every((pid) => !this.processes.alive(pid)));
  }

  private own(pid: number | undefined): void {
    if (!pid) return;
    this.pids.add(pid);
    this.processes.track(pid);
  }

  private daemon(): number | undefined {
    try {
      return Number(fs.readFileSync(path.join(this.home, 'pm2.pid'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** The pids of the first `instances` workers that said they listen, from log line `from` on. */
  private async listening(from: number, ms: number): Promise<number[]> {
    const pids = () => this.log.lines.slice(from).map((l) => /\] listening on .* as pid (\d+)/.exec(l.text)).filter((m) => m !== null).map((m) => Number(m[1]));
    await until(ms, `${this.instances} pm2 worker(s) listening`, () => pids().length >= this.instances);
    for (const pid of pids()) this.own(pid);
    return pids().slice(0, this.instances);
  }

  /** Reads what the workers append to the log files, every 10 ms. */
  private follow(): void {
    const readers = this.logs.map((file) => ({ file, offset: 0, add: this.log.splitter() }));
    this.tail = setInterval(() => {
      for (const reader of readers) {
        const size = fs.statSync(reader.file, { throwIfNoEntry: false })?.size ?? 0;
        if (size <= reader.offset) continue;
        const fd = fs.openSync(reader.file, 'r');
        const bytes = Buffer.alloc(size - reader.offset);
        fs.readSync(fd, bytes, 0, bytes.length, reader.offset);
        fs.closeSync(fd);
        reader.offset = size;
        reader.add(bytes);
      }
    }, TAIL_MS);
  }
}
