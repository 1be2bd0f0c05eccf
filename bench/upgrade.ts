// What does a hot upgrade cost the clients, next to the other ways to upgrade?
//
//   npm run bench:upgrade -- --connections 2000 [--upgrades 1] [--runtime process]
//
// Three strategies in one run, each against a fresh server and the same load
// client (bench/c/ping_client.c, compiled with cc -O2 into a temp dir):
//   fdlab          `fdlab serve` + SIGUSR2: listener and every connection move
//   restart        SIGTERM the server, start it again on the same port; the
//                  clients reconnect
//   listener-only  bench/listener-server.ts + SIGUSR2: only the listener moves
//                  (nginx, tableflip); the old process keeps its connections
// Results: bench/results/upgrade-<N>c-<date>.json and .svg, and a table.
// Every process started here is gone at the end, on errors and Ctrl-C too.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Table from 'cli-table3';
import { LabError } from '../src/lab-error';
import { withDeadline } from '../src/util/deadline';
import { benchArgs, benchMain, nowNs, Processes, ServerLog, SERVING, until } from './harness';
import { buildClient, SERVERS, stormInNamespace, type StormResult } from './storm';
import { renderChart } from './upgrade-chart';
import type { ClientReport, Delay, Sample, StrategyResult, UpgradeResult } from './upgrade-types';

const ROOT = path.resolve(__dirname, '..', '..'); // this file runs as dist/bench/upgrade.js
const CLIENT_SOURCE = path.join(ROOT, 'bench', 'c', 'ping_client.c');
const SERVE_CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const LISTENER_SERVER = path.join(__dirname, 'listener-server.js');

export const STRATEGIES = ['fdlab', 'restart', 'listener-only'] as const;
export type Strategy = (typeof STRATEGIES)[number];
const MAX_CONNECTIONS = 10_000;
/** Deadlines for what we wait on: a server's first line, a handover, all clients back. */
const START_MS = 15_000;

export interface BenchOptions {
  connections: number;
  upgrades: number;
  runtime: 'process';
  strategies: Strategy[];
  /** fdlab serve --standby: 0 (default) means the old version exits right after the commit. */
  standbyMs: number;
  upgradeTimeoutMs: number;
  /** Steady state measured before the first signal, and time measured after the last one. */
  steadyMs: number;
  afterMs: number;
  /** Pings per second per connection. */
  rate: number;
  /** Each strategy this many times, one after the other: medians and ranges of every upgrade. */
  rounds: number;
  /** Connections for the connect storm beside (bench/storm.ts: fdlab, bare node, python), 0: none. */
  storm: number;
  out: string;
}

const USAGE = `usage: npm run bench:upgrade -- --connections N [--upgrades K] [--runtime process]
  [--strategies fdlab,restart,listener-only] [--standby MS (0)] [--upgrade-timeout MS (10000)]
  [--steady-ms MS (3000)] [--after-ms MS (3000)] [--rate PINGS_PER_S (1)] [--rounds N (3)]
  [--storm N (the connections; 0: no connect storm)] [--out DIR (bench/results)]`;

function badArg(message: string): never {
  throw new LabError('ERR_INVALID_ARG_VALUE', `${message}\n${USAGE}`);
}

function integer(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) badArg(`--${name} must be an integer from ${min} to ${max}, not '${raw}'`);
  return value;
}

export function parseOptions(argv: string[]): BenchOptions {
  const values = benchArgs(argv, {
    connections: { type: 'string' },
    upgrades: { type: 'string', default: '1' },
    runtime: { type: 'string', default: 'process' },
    strategies: { type: 'string', default: STRATEGIES.join(',') },
    standby: { type: 'string', default: '0' },
    'upgrade-timeout': { type: 'string', default: '10000' },
    'steady-ms': { type: 'string', default: '3000' },
    'after-ms': { type: 'string', default: '3000' },
    rate: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    storm: { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
  }, USAGE);
  if (values.connections === undefined) badArg('--connections is required');
  if (values.runtime === 'docker') throw new LabError('ERR_UNSUPPORTED_RUNTIME', '--runtime docker is not implemented yet; use --runtime process');
  if (values.runtime !== 'process') badArg(`--runtime must be 'process', not '${values.runtime}'`);
  const strategies = values.strategies.split(',').map((s) => s.trim());
  for (const s of strategies) if (!(STRATEGIES as readonly string[]).includes(s)) badArg(`unknown strategy '${s}' (known: ${STRATEGIES.join(', ')})`);
  const rate = Number(values.rate);
  if (!(rate >= 0.1 && rate <= 50)) badArg(`--rate must be a number of pings per second from 0.1 to 50, not '${values.rate}'`);
  return {
    connections: integer('connections', values.connections, 1, MAX_CONNECTIONS),
    upgrades: integer('upgrades', values.upgrades, 1, 10),
    runtime: 'process',
    strategies: strategies as Strategy[],
    standbyMs: integer('standby', values.standby, 0, 10_000),
    upgradeTimeoutMs: integer('upgrade-timeout', values['upgrade-timeout'], 100, 60_000),
    steadyMs: integer('steady-ms', values['steady-ms'], 200, 20_000),
    afterMs: integer('after-ms', values['after-ms'], 200, 20_000),
    rate,
    rounds: integer('rounds', values.rounds, 1, 10),
    storm: values.storm === undefined ? integer('connections', values.connections, 1, MAX_CONNECTIONS) : integer('storm', values.storm, 0, MAX_CONNECTIONS),
    out: path.resolve(values.out),
  };
}

// ---- the load client

class LoadClient {
  private stdout = '';
  private stderrLines: { at: bigint; text: string }[] = [];
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    let partial = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      for (const text of parts) this.stderrLines.push({ at: nowNs(), text });
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stdin!.on('error', () => {}); // it may be gone already
    this.exited = new Promise((resolve) => child.once('close', (code) => {
      for (const wake of this.waiters.splice(0)) wake();
      resolve(code);
    }));
  }

  /** The first stderr line at or after index `from` starting with `word`. */
  wait(word: string, ms: number, from = 0): Promise<{ at: bigint; index: number }> {
    return withDeadline(new Promise((resolve, reject) => {
      const look = () => {
        for (let index = from; index < this.stderrLines.length; index++) {
          if (this.stderrLines[index].text.startsWith(word)) return resolve({ at: this.stderrLines[index].at, index });
        }
        if (this.child.exitCode !== null) return reject(new LabError('ERR_BENCH_CLIENT', `the load client exited ${this.child.exitCode}: ${this.stderrText()}`));
        this.waiters.push(look);
      };
      look();
    }), ms, () => new LabError('ERR_BENCH_TIMEOUT', `timed out after ${ms} ms waiting for the load client's ${word}: ${this.stderrText()}`));
  }

  get stderrCount(): number {
    return this.stderrLines.length;
  }

  stderrText(): string {
    return this.stderrLines.map((l) => l.text).join('\n');
  }

  mark(what: 'signal' | 'gone', k: number, at: bigint): void {
    this.child.stdin!.write(`mark ${what} ${k} ${at}\n`);
  }

  async stop(ms: number): Promise<ClientReport> {
    this.child.stdin!.end('stop\n');
    const code = await withDeadline(this.exited, ms, () => new LabError('ERR_BENCH_TIMEOUT', `the load client did not report within ${ms} ms`));
    const line = this.stdout.trim().split('\n').pop() ?? '';
    if (code !== 0 || !line.startsWith('{')) throw new LabError('ERR_BENCH_CLIENT', `the load client exited ${code}: ${this.stderrText()}`);
    return JSON.parse(line) as ClientReport;
  }
}

function compileClient(dir: string): string {
  const binary = path.join(dir, 'ping_client');
  execFileSync('cc', ['-O2', '-Wall', '-o', binary, CLIENT_SOURCE], { stdio: 'inherit' });
  return binary;
}

// ---- /proc

export function sample(pid: number, connections?: number, idleRssKb?: number): Sample | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const perConnection = connections && idleRssKb !== undefined ? Math.round(((rssKb - idleRssKb) / connections) * 100) / 100 : undefined;
    return { pid, fds, rssKb, ...(perConnection !== undefined ? { rssPerConnectionKb: perConnection } : {}) };
  } catch {
    return null;
  }
}

const ms = (from: bigint, to: bigint) => Math.round(Number(to - from) / 1e4) / 100;

// ---- one strategy

interface Run {
  options: BenchOptions;
  processes: Processes;
  dir: string;
  client: string;
  echo: boolean;
}

async function runStrategy(run: Run, strategy: Strategy): Promise<StrategyResult> {
  const { options, processes } = run;
  const dir = fs.mkdtempSync(path.join(run.dir, `${strategy}-`));
  const pidFile = path.join(dir, 'server.pid');
  const log = new ServerLog(processes, run.echo);
  const serverCommand = (port: number): string[] => strategy === 'listener-only'
    ? [LISTENER_SERVER, '--port', String(port), '--pid-file', pidFile]
    : [SERVE_CLI, 'serve', '--port', String(port), '--pid-file', pidFile, '--state-dir', path.join(dir, 'state'),
      '--standby', String(options.standbyMs), '--upgrade-timeout', String(options.upgradeTimeoutMs)];
  const startServer = async (port: number, from: number) => {
    // FDLAB_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": node flags for the servers
    // (a successor inherits them), to see where an upgrade spends its time.
    const nodeArgs = (process.env.FDLAB_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, ...serverCommand(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    processes.track(child.pid);
    log.attach(child);
    const { match, at } = await log.wait(SERVING, START_MS, `${strategy} server to serve`, from);
    return { pid: Number(match[1]), port: Number(match[2]), at };
  };

  const first = await startServer(0, 0);
  const idle = sample(first.pid);
  const client = new LoadClient(spawn(run.client, [
    '--port', String(first.port), '--connections', String(options.connections),
    '--interval-ms', String(Math.round(1000 / options.rate)), '--ready-timeout-s', '30', '--max-seconds', '300',
  ], { stdio: ['pipe', 'pipe', 'pipe'] }));
  processes.track(client.child.pid);
  await client.wait('READY', 40_000);
  // Steady state: measured, not a synchronization.
  await new Promise((resolve) => setTimeout(resolve, options.steadyMs));

  const upgrades: UpgradeResult[] = [];
  let current = first.pid;
  const oldAlive: number[] = [];
  for (let k = 1; k <= options.upgrades; k++) {
    // listener-only: only the first process ever holds the connections.
    const holds = strategy !== 'listener-only' || k === 1 ? options.connections : undefined;
    const before = sample(current, holds, idle?.rssKb);
    const logFrom = log.lines.length;
    const clientFrom = client.stderrCount;
    const signalAt = nowNs();
    client.mark('signal', k, signalAt);
    const result: UpgradeResult = { k, oldPid: current, newPid: 0, old: before, new: null, oldGoneMs: null, newServingMs: null, allBackMs: null, oldStillAlive: false, engine: null };
    const handoverMs = options.upgradeTimeoutMs + 5000;
    if (strategy === 'fdlab') {
      processes.signal(current, 'SIGUSR2');
      const committed = await log.wait(
        new RegExp(`pid ${current}\\] committed: pid (\\d+) serves the first (\\d+) connections \\(gap (\\d+) ms: hold (\\d+), send (\\d+), ack (\\d+); copies sent in (\\d+) ms while serving\\)`),
        handoverMs, `pid ${current} to commit`, logFrom);
      const [, pid, connections, gapMs, holdMs, sendMs, ackMs, copyMs] = committed.match.map(Number);
      result.engine = { connections, gapMs, holdMs, sendMs, ackMs, copyMs, committedMs: ms(signalAt, committed.at) };
      const hello = log.find(new RegExp(`pid ${current}\\] successor pid \\d+ .* said hello after (\\d+) ms`), logFrom);
      if (hello) result.engine.startMs = Number(hello[1]);
      result.newPid = pid;
      const serving = await log.wait(new RegExp(`pid ${pid}\\] serving on`), handoverMs, `pid ${pid} to serve`, logFrom);
      result.newServingMs = ms(signalAt, serving.at);
      await until(handoverMs, 'the pid file to name the successor', () => readPid(pidFile) === pid);
      const goneAt = await processes.waitGone(current, handoverMs + options.standbyMs, `old pid ${current} to exit`);
      client.mark('gone', k, goneAt);
      result.oldGoneMs = ms(signalAt, goneAt);
      // Its last lines may still be in the pipe when it is gone. The line may go on after the ms: "; 1 of the 201 copied closed ...".
      const rest = await log.wait(new RegExp(`pid ${current}\\] switched all \\d+ connections in (\\d+) group\\(s\\) \\((\\d+) ms after the commit[;)]`), 2000, 'the switch line', logFrom).catch(() => null);
      if (rest) Object.assign(result.engine, { groups: Number(rest.match[1]), restMs: Number(rest.match[2]) });
    } else if (strategy === 'restart') {
      processes.signal(current, 'SIGTERM');
      const goneAt = await processes.waitGone(current, handoverMs, `pid ${current} to exit on SIGTERM`);
      client.mark('gone', k, goneAt);
      result.oldGoneMs = ms(signalAt, goneAt);
      const next = await startServer(first.port, logFrom);
      result.newPid = next.pid;
      result.newServingMs = ms(signalAt, next.at);
      const back = await client.wait('ALLUP', 30_000, clientFrom);
      result.allBackMs = ms(signalAt, back.at);
    } else {
      processes.signal(current, 'SIGUSR2');
      const handed = await log.wait(new RegExp(`pid ${current}\\] handed the listener to pid (\\d+)`), handoverMs, `pid ${current} to hand its listener over`, logFrom);
      result.newPid = Number(handed.match[1]);
      const serving = await log.wait(new RegExp(`pid ${result.newPid}\\] serving on`), handoverMs, `pid ${result.newPid} to serve`, logFrom);
      result.newServingMs = ms(signalAt, serving.at);
      await until(handoverMs, 'the pid file to name the successor', () => readPid(pidFile) === result.newPid);
      if (processes.alive(current)) {
        result.oldStillAlive = true;
        oldAlive.push(current);
      } else {
        result.oldGoneMs = ms(signalAt, nowNs());
      }
    }
    current = result.newPid;
    result.new = sample(current, strategy === 'listener-only' ? undefined : options.connections, idle?.rssKb);
    upgrades.push(result);
  }
  // Time after the last upgrade: measured too.
  await new Promise((resolve) => setTimeout(resolve, options.afterMs));
  const end = { new: sample(current, strategy === 'listener-only' ? undefined : options.connections, idle?.rssKb), oldStillServing: await connectionsLeft(processes, log, oldAlive) };
  const report = await client.stop(15_000);
  await processes.stopAll();
  for (const upgrade of upgrades) {
    const window = report.upgrades.find((u) => u.k === upgrade.k);
    if (window) upgrade.client = window;
  }
  return {
    strategy,
    ...(strategy === 'fdlab' ? { standbyMs: options.standbyMs } : {}),
    port: first.port,
    idle,
    upgrades,
    end,
    steady: report.steady,
    during: report.during,
    pings: report.pings,
    pongs: report.pongs,
    lost: report.lost,
    duplicated: report.duplicated,
    garbage: report.garbage,
    disconnects: report.disconnects,
    reconnects: report.reconnects,
    client: report,
  };
}

function readPid(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** listener-only: how many connections each old process still serves (its SIGWINCH stats line). */
async function connectionsLeft(processes: Processes, log: ServerLog, pids: number[]): Promise<{ pid: number; connections: number; sample: Sample | null }[]> {
  const left = [];
  for (const pid of pids) {
    if (!processes.alive(pid)) continue;
    const from = log.lines.length;
    processes.signal(pid, 'SIGWINCH');
    const stats = await log.wait(new RegExp(`stats: pid ${pid}, (\\d+) connections`), 5000, `pid ${pid}'s stats`, from);
    left.push({ pid, connections: Number(stats.match[1]), sample: sample(pid) });
  }
  return left;
}

// ---- report

const fmt = (d: Delay | undefined) => (d && d.count ? `${d.p50_ms.toFixed(2)} / ${d.p99_ms.toFixed(2)} / ${d.max_ms.toFixed(1)}` : '-');
const kb = (s: Sample | null | undefined) => (s ? `${s.fds} / ${(s.rssKb / 1024).toFixed(0)} MB` : 'gone');

export function table(results: StrategyResult[]): string {
  const style = { head: [], border: [] };
  const clients = new Table({
    head: ['strategy', 'handover ms\n(signal→old gone)', 'new serves\nafter ms', 'service\ngap ms', 'steady delay ms\np50 / p99 / max', 'upgrade delay ms\np50 / p99 / max',
      'lost / dup', 'disconnects\n(all back ms)', 'left on old'],
    style,
  });
  const servers = new Table({
    head: ['strategy', 'old before signal\nfds / RSS', 'new at end\nfds / RSS', 'RSS/conn KB\nold / new', 'engine gap ms\n(hold/send/ack)\n+ copies ms'],
    style,
  });
  for (const r of results) {
    const u = r.upgrades;
    const left = r.end.oldStillServing.reduce((sum, o) => sum + o.connections, 0);
    const name = r.strategy + (r.standbyMs !== undefined ? ` (standby ${r.standbyMs})` : '');
    clients.push([
      name,
      u.map((x) => (x.oldGoneMs === null ? 'old alive' : x.oldGoneMs.toFixed(0))).join(', '),
      u.map((x) => x.newServingMs?.toFixed(0) ?? '-').join(', '),
      u.map((x) => x.client?.gap_ms.toFixed(1) ?? '-').join(', '),
      fmt(r.steady.delay),
      fmt(r.during.delay),
      `${r.lost} / ${r.duplicated}${r.garbage ? ` (+${r.garbage} garbage)` : ''}`,
      `${r.disconnects}${u.some((x) => x.allBackMs !== null) ? ` (${u.map((x) => x.allBackMs?.toFixed(0) ?? '-').join(', ')})` : ''}`,
      r.strategy === 'listener-only' ? `${left} conns, ${r.end.oldStillServing.length} old pid(s)` : '0',
    ]);
    servers.push([
      name,
      kb(u[0].old),
      kb(r.end.new),
      `${u[0].old?.rssPerConnectionKb ?? '-'} / ${r.end.new?.rssPerConnectionKb ?? '-'}`,
      u.map((x) => (x.engine ? `${x.engine.gapMs} (${x.engine.holdMs}/${x.engine.sendMs}/${x.engine.ackMs}) + ${x.engine.copyMs}` : '-')).join(', '),
    ]);
  }
  return `What the clients saw\n${clients.toString()}\nThe server processes\n${servers.toString()}`;
}

function headroomLine(results: StrategyResult[]): string {
  return results.map((r) => {
    const h = r.client.headroom;
    return `${r.strategy}: client CPU ${(h.cpu_fraction * 100).toFixed(1)}% of one core, timer lag p99 ${h.timer_lag_p99_ms.toFixed(2)} ms (max ${h.timer_lag_max_ms.toFixed(1)}), event batch p99 ${h.batch_p99_ms.toFixed(2)} ms`;
  }).join('\n');
}

// ---- rounds: medians and ranges

/** "median (min-max)" of the values, or '-' without any; the median of an even count is the lower middle one. */
export function spread(values: (number | null | undefined)[], digits = 0): string {
  const sorted = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return '-';
  const f = (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const median = f(sorted[Math.floor((sorted.length - 1) / 2)]);
  return sorted.length === 1 ? median : `${median} (${f(sorted[0])}-${f(sorted[sorted.length - 1])})`;
}

/** Every upgrade of every round of each strategy, one line: the medians and ranges. */
export function summaryTable(rounds: StrategyResult[][]): string {
  const table = new Table({
    head: ['strategy', 'upgrades', 'handover ms\n(signal→old gone)', 'upgrade delay\np99 ms', 'upgrade delay\nmax ms', 'service\ngap ms', 'successor start /\ncopies / gap / rest ms', 'steady\np99 ms'],
    style: { head: [], border: [] },
  });
  const strategies = [...new Set(rounds.flat().map((r) => r.strategy))];
  for (const strategy of strategies) {
    const results = rounds.flat().filter((r) => r.strategy === strategy);
    const upgrades = results.flatMap((r) => r.upgrades);
    const engine = upgrades.map((u) => u.engine).filter((e) => e !== null);
    table.push([
      strategy,
      String(upgrades.length),
      spread(upgrades.map((u) => u.oldGoneMs)),
      spread(upgrades.map((u) => u.client?.delay.p99_ms), 1),
      spread(upgrades.map((u) => u.client?.delay.max_ms), 1),
      spread(upgrades.map((u) => u.client?.gap_ms), 1),
      engine.length ? [spread(engine.map((e) => e.startMs)), spread(engine.map((e) => e.copyMs)), spread(engine.map((e) => e.gapMs)), spread(engine.map((e) => e.restMs))].join(' / ') : '-',
      spread(results.map((r) => r.steady.delay.p99_ms), 1),
    ]);
  }
  return `Every upgrade of ${rounds.length} round(s): median (min-max)\n${table.toString()}`;
}

/** The connect storm beside (bench/storm.ts), each server in a network namespace of its own, as many runs as rounds. */
async function stormsBeside(connections: number, runs: number, dir: string): Promise<{ results: StormResult[]; text: string }> {
  const client = buildClient(dir);
  const results: StormResult[] = [];
  for (let run = 1; run <= runs; run++) {
    for (const server of SERVERS) {
      process.stderr.write(`connect storm ${run}/${runs}: ${server}, ${connections} connections at once...\n`);
      results.push(await stormInNamespace(server, connections, client));
    }
  }
  const reference = results.filter((r) => r.server === 'python').map((r) => r.ms).sort((a, b) => a - b);
  const table = new Table({ head: ['server', `${connections} connect at once:\nall answered ms`, 'vs python\n(medians)', 'SYNs dropped\n(overflows)', 'SYNs sent\nagain'], style: { head: [], border: [] } });
  for (const server of SERVERS) {
    const mine = results.filter((r) => r.server === server);
    const median = [...mine.map((r) => r.ms)].sort((a, b) => a - b)[Math.floor((mine.length - 1) / 2)];
    const ratio = reference.length ? (median / reference[Math.floor((reference.length - 1) / 2)]).toFixed(1) : '-';
    table.push([server, spread(mine.map((r) => r.ms)), ratio, spread(mine.map((r) => r.listenOverflows)), spread(mine.map((r) => r.synRetransmits))]);
  }
  return { results, text: `Connect storm (bench/storm.ts; fdlab serve, bare node:net with backlog 511, python selectors)\n${table.toString()}` };
}

// ---- main

export async function runBench(options: BenchOptions, { echo = false, onStart }: { echo?: boolean; onStart?: (processes: Processes) => void } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-bench-upgrade-'));
  const processes = new Processes(dir);
  onStart?.(processes);
  try {
    const run: Run = { options, processes, dir, client: compileClient(dir), echo };
    const results: StrategyResult[] = [];
    for (const strategy of options.strategies) {
      process.stderr.write(`${strategy}: ${options.connections} connections, ${options.upgrades} upgrade(s)...\n`);
      results.push(await runStrategy(run, strategy));
    }
    const started = [...processes.pids];
    const date = new Date().toISOString().slice(0, 10);
    const base = path.join(options.out, `upgrade-${options.connections}c-${date}`);
    fs.mkdirSync(options.out, { recursive: true });
    const document = {
      bench: 'upgrade',
      date: new Date().toISOString(),
      host: { cpus: os.cpus().length, kernel: os.release(), node: process.version },
      options: { ...options, out: undefined },
      pids: started,
      results,
    };
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(document, null, 1)}\n`);
    fs.writeFileSync(`${base}.svg`, renderChart(results, `fdlab bench:upgrade, ${options.connections} connections, ${options.upgrades} upgrade(s), ${date}`));
    return { results, json: `${base}.json`, svg: `${base}.svg` };
  } finally {
    await processes.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}


async function main(): Promise<void> {
  await benchMain(parseOptions, async (options, onStart) => {
    const rounds: StrategyResult[][] = [];
    let last: Awaited<ReturnType<typeof runBench>> | undefined;
    for (let round = 1; round <= options.rounds; round++) {
      if (options.rounds > 1) process.stderr.write(`round ${round}/${options.rounds}\n`);
      last = await runBench(options, { echo: process.env.BENCH_ECHO === '1', onStart });
      rounds.push(last.results);
    }
    const lines = [table(last!.results), headroomLine(last!.results), summaryTable(rounds)];
    if (options.storm > 0) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-bench-storm-'));
      try {
        const storm = await stormsBeside(options.storm, options.rounds, dir);
        lines.push(storm.text);
        addToDocument(last!.json, { rounds, storm: storm.results });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    } else {
      addToDocument(last!.json, { rounds });
    }
    lines.push(`results: ${path.relative(process.cwd(), last!.json)}, ${path.relative(process.cwd(), last!.svg)}`);
    return lines;
  });
}

/** The results file (the last round's, as before) gets every round and the storm too. */
function addToDocument(file: string, more: Record<string, unknown>): void {
  const document = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(file, `${JSON.stringify({ ...document, ...more }, null, 1)}\n`);
}

if (require.main === module) void main();
