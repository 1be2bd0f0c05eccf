// How long do N clients that connect at once (a reconnect storm: a load
// balancer's failover, a naive restart) wait until each has its first answer?
//
//   npm run bench:storm -- [--connections 10000] [--runs 3] [--servers fdlab,node,python]
//
// Each run of each server happens in a network namespace of its own
// (unshare --net, root), so the kernel's counters of SYNs dropped from a full
// accept queue (TcpExt ListenOverflows) and of SYNs sent again
// (TCPSynRetrans) are this run's alone. Servers:
//   fdlab    `fdlab serve --standby 0` (the engine's listener and accept path)
//   node     bench/bare-ping-server.ts: bare node:net, Node's default backlog 511
//   python   bench/storm-server.py: ~30 lines of selectors, backlog somaxconn
// The client (bench/c/storm_client.c, epoll) opens every connection in one
// go, sends "ping\n" on each and waits for every "pong". Results: a table, and
// bench/results/storm-<N>c-<date>.json.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { LabError } from '../src/lab-error';

const ROOT = path.resolve(__dirname, '..', '..'); // this file runs as dist/bench/storm.js
export const SERVERS = ['fdlab', 'node', 'python'] as const;
export type StormServer = (typeof SERVERS)[number];
const MAX_CONNECTIONS = 15_000;
const DEADLINE_MS = 60_000;

export interface StormResult {
  server: StormServer;
  connections: number;
  /** From the first connect() to the last connection's first pong. */
  ms: number;
  answered: number;
  refused: number;
  reset: number;
  /** SYNs dropped because the accept queue was full, and SYNs the clients sent again. */
  listenOverflows: number;
  synRetransmits: number;
}

/** TcpExt counters of this network namespace (/proc/net/netstat: a header line, then a value line). */
function tcpExt(): Record<string, number> {
  const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((name, i) => [name, values[i]]));
}

function serverCommand(server: StormServer, dir: string): string[] {
  switch (server) {
    case 'fdlab':
      return [process.execPath, path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', '--port', '0', '--standby', '0', '--pid-file', path.join(dir, 'pid'), '--state-dir', path.join(dir, 'state')];
    case 'node':
      return [process.execPath, path.join(__dirname, 'bare-ping-server.js')];
    case 'python':
      return ['python3', path.join(ROOT, 'bench', 'storm-server.py')];
  }
}

async function startServer(server: StormServer, dir: string): Promise<{ child: ChildProcess; port: number }> {
  const [command, ...args] = serverCommand(server, dir);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${server} did not say "serving on" in 15 s: ${out}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /serving on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${server} exited (${code}) before serving: ${out}`)));
  });
  child.stdout!.resume();
  return { child, port };
}

/** bench/c/storm_client.c, compiled with cc -O2 into `dir` (a Node client was slower than the servers it measured). */
export function buildClient(dir: string): string {
  const binary = path.join(dir, 'storm_client');
  execFileSync('cc', ['-O2', '-Wall', '-o', binary, path.join(ROOT, 'bench', 'c', 'storm_client.c')], { stdio: 'inherit' });
  return binary;
}

/** Opens `n` connections at once, a ping on each; resolves when each has its pong or failed. */
function storm(client: string, port: number, n: number): Pick<StormResult, 'ms' | 'answered' | 'refused' | 'reset'> {
  const out = execFileSync(client, [String(port), String(n), String(DEADLINE_MS)], { encoding: 'utf8' });
  const result = JSON.parse(out) as Pick<StormResult, 'ms' | 'answered' | 'refused' | 'reset'> & { unfinished: number };
  if (result.unfinished > 0) throw new LabError('ERR_BENCH', `after ${DEADLINE_MS} ms, ${result.unfinished} of ${n} connections had no answer`);
  return { ms: result.ms, answered: result.answered, refused: result.refused, reset: result.reset };
}

/** One server, one storm, in this process's network namespace. */
export async function stormOnce(server: StormServer, connections: number, client: string): Promise<StormResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-storm-'));
  const { child, port } = await startServer(server, dir);
  try {
    const before = tcpExt();
    const result = storm(client, port, connections);
    const after = tcpExt();
    return { server, connections, ...result, listenOverflows: after.ListenOverflows - before.ListenOverflows, synRetransmits: after.TCPSynRetrans - before.TCPSynRetrans };
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** stormOnce in a fresh network namespace (unshare --net, loopback up): its counters are its own. */
export function stormInNamespace(server: StormServer, connections: number, client: string): Promise<StormResult> {
  const script = 'ip link set lo up && ulimit -n 20000 && exec "$0" "$@"';
  const child = spawn('unshare', ['--net', '--', 'sh', '-c', script, process.execPath, __filename, '--inside', server, String(connections), client], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as StormResult);
      else reject(new LabError('ERR_BENCH', `the ${server} storm failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { connections: { type: 'string', default: '10000' }, runs: { type: 'string', default: '3' }, servers: { type: 'string', default: SERVERS.join(',') }, out: { type: 'string', default: path.join(ROOT, 'bench', 'results') } } });
  const connections = Number(values.connections);
  const runs = Number(values.runs);
  const servers = values.servers!.split(',') as StormServer[];
  if (!Number.isInteger(connections) || connections < 1 || connections > MAX_CONNECTIONS) throw new LabError('ERR_INVALID_ARG_VALUE', `--connections: 1 to ${MAX_CONNECTIONS}`);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new LabError('ERR_INVALID_ARG_VALUE', '--runs: 1 to 20');
  for (const s of servers) if (!(SERVERS as readonly string[]).includes(s)) throw new LabError('ERR_INVALID_ARG_VALUE', `--servers: unknown '${s}' (known: ${SERVERS.join(', ')})`);
  const results: StormResult[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-storm-client-'));
  const client = buildClient(dir);
  for (let run = 1; run <= runs; run++) {
    for (const server of servers) {
      process.stderr.write(`run ${run}/${runs}: ${server}, ${connections} connections at once... `);
      const result = await stormInNamespace(server, connections, client);
      process.stderr.write(`${result.ms} ms, ${result.listenOverflows} overflows, ${result.synRetransmits} SYNs sent again\n`);
      results.push(result);
    }
  }
  const reference = median(results.filter((r) => r.server === 'python').map((r) => r.ms));
  console.log(`\n${connections} connections at once, ${runs} run(s) each: median (min-max)`);
  console.log('server   all answered ms       vs python  overflows  SYNs again  refused/reset');
  for (const server of servers) {
    const mine = results.filter((r) => r.server === server);
    const ms = mine.map((r) => r.ms);
    const ratio = reference ? (median(ms) / reference).toFixed(1) : '-';
    console.log(`${server.padEnd(8)} ${`${median(ms)} (${Math.min(...ms)}-${Math.max(...ms)})`.padEnd(21)} ${ratio.padEnd(10)} ${String(median(mine.map((r) => r.listenOverflows))).padEnd(10)} ${String(median(mine.map((r) => r.synRetransmits))).padEnd(11)} ${mine.reduce((s, r) => s + r.refused + r.reset, 0)}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(values.out!, { recursive: true });
  const file = path.join(values.out!, `storm-${connections}c-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(file, JSON.stringify({ connections, runs, machine: { cpus: os.cpus().length, node: process.version, somaxconn: Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8')) }, results }, null, 2) + '\n');
  console.log(`\n${path.relative(process.cwd(), file)}`);
}

if (require.main === module) {
  if (process.argv[2] === '--inside') {
    stormOnce(process.argv[3] as StormServer, Number(process.argv[4]), process.argv[5]).then(
      (result) => console.log(JSON.stringify(result)),
      (error: Error) => {
        console.error(error.message);
        process.exit(1);
      },
    );
  } else {
    main().catch((error: Error & { code?: string }) => {
      console.error(`bench:storm: ${error.message}${error.code ? ` [${error.code}]` : ''}`);
      process.exit(1);
    });
  }
}
