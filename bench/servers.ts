// What does an upgrade cost WebSocket and keep-alive HTTP clients, with fdlab
// and with the other ways Node users upgrade?
//
//   npm run bench:ws   -- [--clients 1000] [--upgrades 3] [--rounds 1]
//   npm run bench:http -- [--clients 200]  [--upgrades 3] [--rounds 1]
//
// The same server (src/serve/ws-server.ts: an echo server; http-server.ts:
// GET / and POST /echo) three ways in one run, each against a fresh server
// and the same paced clients (test/helpers/ws-load.ts, http-load.ts), each
// upgraded `--upgrades` times:
//   fdlab    `fdlab serve --app ws|http` (no supervisor) + SIGUSR2: the
//            listener and every connection move to the new process
//   restart  SIGTERM the same server, start it again on the same port; the
//            clients reconnect
//   pm2      bench/plain-server.ts (the same server, no fdlab) in pm2 cluster
//            mode, `pm2 reload`: new workers, the old ones shut down
//            gracefully (SIGINT; SIGKILL after 1.6 s); the clients reconnect
// `--rounds R` repeats the three, interleaved, and reports medians and ranges.
// Results: bench/results/<ws|http>-<N>c-<date>.json and .svg (the last
// round's chart), and a table. Every process started here is gone at the end.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Table from 'cli-table3';
import { LabError } from '../src/lab-error';
import { HttpLoad } from '../test/helpers/http-load';
import { now, type Load, type LoadClient, type LoadReport, type WindowReport } from '../test/helpers/load';
import { WsLoad } from '../test/helpers/ws-load';
import { benchArgs, benchMain, Processes, ServerLog, SERVING } from './harness';
import { Pm2Cluster } from './pm2';
import { renderChart, type ChartRun } from './upgrade-chart';

const ROOT = path.resolve(__dirname, '..', '..'); // this file runs as dist/bench/servers.js
const SERVE_CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

export const WAYS = ['fdlab', 'restart', 'pm2'] as const;
export type Way = (typeof WAYS)[number];
export type App = 'ws' | 'http';
/** Deadlines for what we wait on: a server's first line, an upgrade, every client served again. */
const START_MS = 20_000;
const UPGRADE_MS = 30_000;
const BACK_MS = 60_000;
const WARM_UP_MS = 500;

export interface ServersOptions {
  app: App;
  clients: number;
  upgrades: number;
  rounds: number;
  ways: Way[];
  intervalMs: number;
  reconnectMs: number;
  timeoutMs: number;
  pm2Instances: number;
  steadyMs: number;
  betweenMs: number;
  out: string;
}

const DEFAULTS = { ws: { clients: 1000, intervalMs: 200 }, http: { clients: 200, intervalMs: 100 } };

const usage = (app = '<ws|http>') => `usage: npm run bench:${app} -- [--clients N (ws 1000, http 200)] [--upgrades K (3)] [--rounds R (1)]
  [--ways ${WAYS.join(',')}] [--interval-ms MS (one message per client per MS; ws 200, http 100)]
  [--reconnect-ms MS (first reconnect after a random 0..MS; 100)] [--timeout-ms MS (an answer overdue:
  the client closes and reconnects; 5000)] [--pm2-instances N (2)]
  [--steady-ms MS (2000)] [--between-ms MS (1000)] [--out DIR (bench/results)]`;

function badArg(message: string, app?: string): never {
  throw new LabError('ERR_INVALID_ARG_VALUE', `${message}\n${usage(app)}`);
}

export function parseOptions(argv: string[]): ServersOptions {
  const values = benchArgs(argv, {
    app: { type: 'string' },
    clients: { type: 'string' },
    upgrades: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '1' },
    ways: { type: 'string', default: WAYS.join(',') },
    'interval-ms': { type: 'string' },
    'reconnect-ms': { type: 'string', default: '100' },
    'timeout-ms': { type: 'string', default: '5000' },
    'pm2-instances': { type: 'string', default: '2' },
    'steady-ms': { type: 'string', default: '2000' },
    'between-ms': { type: 'string', default: '1000' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
  }, usage());
  const app = values.app;
  if (app !== 'ws' && app !== 'http') badArg(`--app must be ws or http, not '${app ?? ''}' (npm run bench:ws or bench:http set it)`);
  const integer = (name: string, raw: string, min: number, max: number): number => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) badArg(`--${name} must be an integer from ${min} to ${max}, not '${raw}'`, app);
    return value;
  };
  const ways = values.ways.split(',').map((s) => s.trim());
  for (const w of ways) if (!(WAYS as readonly string[]).includes(w)) badArg(`unknown way '${w}' (known: ${WAYS.join(', ')})`, app);
  return {
    app,
    clients: integer('clients', values.clients ?? String(DEFAULTS[app].clients), 1, 5000),
    upgrades: integer('upgrades', values.upgrades, 1, 20),
    rounds: integer('rounds', values.rounds, 1, 10),
    ways: ways as Way[],
    intervalMs: integer('interval-ms', values['interval-ms'] ?? String(DEFAULTS[app].intervalMs), 10, 10_000),
    reconnectMs: integer('reconnect-ms', values['reconnect-ms'], 1, 10_000),
    timeoutMs: integer('timeout-ms', values['timeout-ms'], 100, 60_000),
    pm2Instances: integer('pm2-instances', values['pm2-instances'], 1, 8),
    steadyMs: integer('steady-ms', values['steady-ms'], 0, 60_000),
    betweenMs: integer('between-ms', values['between-ms'], 0, 60_000),
    out: path.resolve(values.out),
  };
}

// ---- one way, one round

export interface UpgradeResult extends WindowReport {
  k: number;
  /** Signal (or `pm2 reload` started) → the upgrade is over: fdlab: old gone; restart: the new one serves; pm2: reload returned and the old workers are gone. */
  done_ms: number;
  old_pids: number[];
  new_pids: number[];
  /** fdlab: the engine's own line: connections in the first group and the gap it measured. */
  engine?: { connections: number; gap_ms: number };
}

export interface WayResult {
  way: Way;
  round: number;
  port: number;
  steady: WindowReport | null;
  upgrades: UpgradeResult[];
  load: Omit<LoadReport, 'windows'>;
}

interface Run {
  options: ServersOptions;
  processes: Processes;
  dir: string;
  echo: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port the kernel says is free now (pm2's workers all listen on one port given to them). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}

/** How a way starts its server, upgrades it once, and stops it. */
interface Server {
  port: number;
  pids(): number[];
  /** Upgrades; `gone` is called when the old process is gone. Resolves when the upgrade is over. */
  upgrade(k: number, gone: () => void): Promise<Pick<UpgradeResult, 'old_pids' | 'new_pids' | 'engine'>>;
  stop(): Promise<void>;
}

async function fdlabServe(run: Run, way: 'fdlab' | 'restart', dir: string): Promise<Server> {
  const { processes, options } = run;
  const log = new ServerLog(processes, run.echo);
  const args = (port: number) => [SERVE_CLI, 'serve', '--app', options.app, '--port', String(port), '--pid-file', path.join(dir, 'server.pid'),
    '--state-dir', path.join(dir, 'state'), '--standby', '0', '--upgrade-timeout', '20000'];
  const start = async (port: number) => {
    const from = log.lines.length;
    const child = spawn(process.execPath, args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
    processes.track(child.pid);
    log.attach(child);
    const { match } = await log.wait(SERVING, START_MS, `${way} server to serve`, from);
    return { pid: Number(match[1]), port: Number(match[2]) };
  };
  const first = await start(0);
  let pid = first.pid;
  return {
    port: first.port,
    pids: () => [pid],
    async upgrade(_k, gone) {
      const old = pid;
      const from = log.lines.length;
      if (way === 'fdlab') {
        processes.signal(old, 'SIGUSR2');
        const committed = await log.wait(new RegExp(`pid ${old}\\] committed: pid (\\d+) serves the first (\\d+) connections \\(gap (\\d+) ms`), UPGRADE_MS, `pid ${old} to commit`, from);
        pid = Number(committed.match[1]);
        await processes.waitGone(old, UPGRADE_MS, `old pid ${old} to exit`);
        gone();
        return { old_pids: [old], new_pids: [pid], engine: { connections: Number(committed.match[2]), gap_ms: Number(committed.match[3]) } };
      }
      processes.signal(old, 'SIGTERM');
      await processes.waitGone(old, UPGRADE_MS, `pid ${old} to exit on SIGTERM`);
      gone();
      pid = (await start(first.port)).pid;
      return { old_pids: [old], new_pids: [pid] };
    },
    async stop() {
      processes.signal(pid, 'SIGTERM');
      await processes.waitGone(pid, UPGRADE_MS, `pid ${pid} to exit on SIGTERM`);
    },
  };
}

async function pm2Cluster(run: Run, dir: string): Promise<Server> {
  const { processes, options } = run;
  const cluster = new Pm2Cluster(processes, new ServerLog(processes, run.echo), dir, options.pm2Instances);
  const port = await freePort();
  let pids: number[];
  try {
    pids = await cluster.start(options.app, port, START_MS);
  } catch (error) {
    await cluster.kill(10_000).catch(() => {});
    throw error;
  }
  return {
    port,
    pids: () => pids,
    async upgrade(_k, gone) {
      const old = pids;
      pids = await cluster.reload(UPGRADE_MS);
      await Promise.all(old.map((pid) => processes.waitGone(pid, UPGRADE_MS, `old pm2 worker ${pid} to exit`)));
      gone();
      return { old_pids: old, new_pids: pids };
    },
    stop: () => cluster.kill(10_000),
  };
}

async function runWay(run: Run, way: Way, round: number): Promise<WayResult> {
  const { options } = run;
  const dir = fs.mkdtempSync(path.join(run.dir, `${way}-${round}-`));
  const server = way === 'pm2' ? await pm2Cluster(run, dir) : await fdlabServe(run, way, dir);
  const loadOptions = { clients: options.clients, intervalMs: options.intervalMs, reconnectMs: options.reconnectMs, timeoutMs: options.timeoutMs };
  const load: Load<LoadClient> = options.app === 'ws' ? new WsLoad(`ws://127.0.0.1:${server.port}/`, loadOptions) : new HttpLoad(server.port, loadOptions);
  try {
    await load.start();
    if (options.steadyMs > 0) await sleep(WARM_UP_MS); // in the series, in no window: the first messages after a connect storm
    let steady: WindowReport | null = null;
    if (options.steadyMs > 0) {
      load.openWindow('steady');
      await sleep(options.steadyMs); // measured, not a synchronization
      steady = load.closeWindow();
    }
    const upgrades: UpgradeResult[] = [];
    for (let k = 1; k <= options.upgrades; k++) {
      load.openWindow(`upgrade ${k}`);
      const signalAt = now();
      load.mark('signal', k, signalAt);
      const result = await server.upgrade(k, () => load.mark('gone', k));
      const doneAt = now();
      const window = await load.windowDone(doneAt, BACK_MS);
      upgrades.push({ k, done_ms: Math.round((doneAt - signalAt) * 100) / 100, ...result, ...window });
      if (k < options.upgrades) await sleep(options.betweenMs);
    }
    const { windows: _, ...report } = await load.stop();
    return { way, round, port: server.port, steady, upgrades, load: report };
  } finally {
    await load.stop(0).catch(() => {});
    await server.stop();
  }
}

// ---- summaries

/** One round of one way in numbers: counts over the whole run, delays over the upgrade windows. */
export function figures(r: WayResult) {
  const t = r.load.totals;
  const served = r.upgrades.map((u) => u.all_served_ms).filter((v): v is number => v !== null);
  return {
    disconnects: t.disconnects,
    timeouts: t.timeouts,
    reconnects: t.reconnects,
    lost: t.lost,
    duplicated: t.duplicated,
    reordered: t.reordered,
    garbage: t.garbage,
    /** http: requests without a right answer. */
    failed: t.lost + t.garbage,
    max_wait_ms: Math.max(...r.upgrades.map((u) => u.max_wait_ms)),
    p99_ms: Math.max(...r.upgrades.map((u) => u.delay.p99_ms)),
    all_served_ms: served.length ? Math.max(...served) : null,
    in_flight: r.upgrades.reduce((sum, u) => sum + u.in_flight, 0),
    done_ms: Math.max(...r.upgrades.map((u) => u.done_ms)),
    answered: t.answered,
    steady_max_wait_ms: r.steady?.max_wait_ms ?? null,
  };
}
type Figures = ReturnType<typeof figures>;

export interface Spread {
  median: number | null;
  min: number | null;
  max: number | null;
  values: (number | null)[];
}

function spread(values: (number | null)[]): Spread {
  const known = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (!known.length) return { median: null, min: null, max: null, values };
  const mid = known.length >> 1;
  const median = known.length % 2 ? known[mid] : (known[mid - 1] + known[mid]) / 2;
  return { median, min: known[0], max: known.at(-1)!, values };
}

export function summarize(results: WayResult[]): Record<string, Record<keyof Figures, Spread>> {
  const out: Record<string, Record<keyof Figures, Spread>> = {};
  for (const way of new Set(results.map((r) => r.way))) {
    const rounds = results.filter((r) => r.way === way).map(figures);
    out[way] = Object.fromEntries(Object.keys(rounds[0]).map((key) => [key, spread(rounds.map((f) => f[key as keyof Figures]))])) as Record<keyof Figures, Spread>;
  }
  return out;
}

const show = (s: Spread, digits = 0): string => {
  if (s.median === null) return '–';
  const f = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min!)}–${f(s.max!)})`;
};

export function table(app: App, summary: ReturnType<typeof summarize>, rounds: number): string {
  const head = app === 'ws'
    ? ['way', 'disconnects', 'timed\nout', 'lost', 'dup', 'reordered', 'corrupt', 'largest wait\nin upgrades ms', 'echo p99 in\nupgrades ms', 'all served\nagain ms', 'upgrade\ndone ms', 'echoes']
    : ['way', 'disconnects', 'timed\nout', 'failed', 'dup', 'in flight\nat signals', 'largest wait\nin upgrades ms', 'response p99\nin upgrades ms', 'all served\nagain ms', 'upgrade\ndone ms', 'responses'];
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const [way, s] of Object.entries(summary)) {
    t.push(app === 'ws'
      ? [way, show(s.disconnects), show(s.timeouts), show(s.lost), show(s.duplicated), show(s.reordered), show(s.garbage), show(s.max_wait_ms), show(s.p99_ms, 1), show(s.all_served_ms), show(s.done_ms), show(s.answered)]
      : [way, show(s.disconnects), show(s.timeouts), show(s.failed), show(s.duplicated), show(s.in_flight), show(s.max_wait_ms), show(s.p99_ms, 1), show(s.all_served_ms), show(s.done_ms), show(s.answered)]);
  }
  return `${rounds > 1 ? `median (min–max) of ${rounds} rounds; ` : ''}counts over the whole run, delays over the upgrade windows\n${t.toString()}`;
}

function chartRun(r: WayResult): ChartRun {
  return {
    strategy: r.way,
    lost: r.load.totals.lost,
    disconnects: r.load.totals.disconnects,
    client: { connections: r.load.clients, ready_ms: r.load.ready_ms, series: r.load.series, marks: r.load.marks },
  };
}

// ---- main

export async function runServers(options: ServersOptions, { echo = false, onStart }: { echo?: boolean; onStart?: (processes: Processes) => void } = {}) {
  const loadAtStart = os.loadavg()[0];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fdlab-bench-${options.app}-`));
  const processes = new Processes(dir);
  onStart?.(processes);
  try {
    const run: Run = { options, processes, dir, echo };
    const results: WayResult[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const way of options.ways) {
        process.stderr.write(`round ${round}/${options.rounds}, ${way}: ${options.clients} ${options.app} clients, ${options.upgrades} upgrade(s)...\n`);
        try {
          results.push(await runWay(run, way, round));
        } catch (error) {
          const e = error as LabError;
          throw new LabError(e.code ?? 'ERR_BENCH', `${way}, round ${round}: ${e.message}`);
        }
      }
    }
    const summary = summarize(results);
    const date = new Date().toISOString().slice(0, 10);
    const base = path.join(options.out, `${options.app}-${options.clients}c-${date}`);
    fs.mkdirSync(options.out, { recursive: true });
    const document = {
      bench: options.app,
      date: new Date().toISOString(),
      // The machine is shared: how busy it was (1-minute load average at the start and the end).
      host: { cpus: os.cpus().length, kernel: os.release(), node: process.version, loadavg: { start: loadAtStart, end: os.loadavg()[0] } },
      options: { ...options, out: undefined },
      pids: [...processes.pids],
      summary,
      results,
    };
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(document, null, 1)}\n`);
    const last = results.filter((r) => r.round === options.rounds);
    const title = `fdlab bench:${options.app}, ${options.clients} clients, ${options.upgrades} upgrade(s), round ${options.rounds} of ${options.rounds}, ${date}`;
    fs.writeFileSync(`${base}.svg`, renderChart(last.map(chartRun), title, options.app === 'ws' ? 'echo delay' : 'response delay'));
    return { results, summary, json: `${base}.json`, svg: `${base}.svg` };
  } finally {
    await processes.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function headroomLine(results: WayResult[]): string {
  const cpu = results.map((r) => r.load.headroom.cpu_fraction);
  const lag = results.map((r) => r.load.headroom.loop_delay_p99_ms);
  return `clients (this process): ${(Math.max(...cpu) * 100).toFixed(0)}% of one core at most, event loop delay p99 ${Math.max(...lag).toFixed(1)} ms at most`;
}

async function main(): Promise<void> {
  await benchMain(parseOptions, async (options, onStart) => {
    const { results, summary, json, svg } = await runServers(options, { echo: process.env.BENCH_ECHO === '1', onStart });
    return [table(options.app, summary, options.rounds), headroomLine(results), `results: ${path.relative(process.cwd(), json)}, ${path.relative(process.cwd(), svg)}`];
  });
}

if (require.main === module) void main();
