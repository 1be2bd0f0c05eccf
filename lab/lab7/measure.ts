// Lab 7's cost table: moving 1 and 1,000 live connections to another process,
// in a new coat (SCM_RIGHTS: the same sockets) and in a new body (TCP_REPAIR:
// dump, close, send the states, restore in fresh sockets). Each connection's
// client end lives here; the server ends move to a child ("taker") that
// answers over the fd channel. After a new-body move every connection is
// checked: the client writes one byte, the taker's rebuilt socket echoes it.
//   measure <count>...   (needs CAP_NET_ADMIN and nft: run in lab 7's namespace)
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { adoptSocket, close, dumpTcp, FdChannel, fdOf, restoreTcp, SCM_MAX_FD, socketpair, type TcpRepairState } from 'fdlab';

const ROUNDS = 3;
const STATES_PER_MESSAGE = 100; // about 700 bytes of JSON each
const now = () => performance.timeOrigin + performance.now();

async function taker(): Promise<void> {
  const channel = FdChannel.fromFd(3);
  let fds: number[] = [];
  let states: TcpRepairState[] = [];
  channel.on('message', (message) => {
    const header = JSON.parse(message.data.toString()) as { kind: string; expect: number; states?: TcpRepairState[] };
    if (header.kind === 'hello') {
      void channel.send({ data: JSON.stringify({ got: 0, at: now() }) });
    } else if (header.kind === 'coat') {
      fds.push(...message.fds);
      if (fds.length === header.expect) {
        void channel.send({ data: JSON.stringify({ got: fds.length, at: now() }) });
        for (const fd of fds) close(fd);
        fds = [];
      }
    } else if (header.kind === 'body') {
      states.push(...header.states!);
      if (states.length === header.expect) {
        const started = now();
        const restored = states.map((state) => restoreTcp(state));
        const at = now();
        void channel.send({ data: JSON.stringify({ got: restored.length, at, restoreMs: at - started }) });
        for (const fd of restored) adoptSocket(fd).on('data', function (this: net.Socket, chunk) { this.end(chunk); });
        states = [];
      }
    }
  });
}

function hold(port: number, on: boolean): void {
  const rules = on
    ? `table inet fdlab_lab7_measure {\n chain input {\n  type filter hook input priority 0;\n  tcp dport ${port} drop\n }\n}\n`
    : 'delete table inet fdlab_lab7_measure\n';
  const result = spawnSync('nft', ['-f', '-'], { input: rules, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`nft: ${result.stderr}`);
}

async function connections(server: net.Server, port: number, count: number): Promise<{ clients: net.Socket[]; servers: net.Socket[] }> {
  const servers: net.Socket[] = [];
  const accepted = new Promise<void>((resolve) => {
    const onConnection = (s: net.Socket) => {
      servers.push(s);
      if (servers.length === count) {
        server.off('connection', onConnection);
        resolve();
      }
    };
    server.on('connection', onConnection);
  });
  const clients = await Promise.all(Array.from({ length: count }, () => new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  })));
  await accepted;
  return { clients, servers };
}

async function main(): Promise<void> {
  const counts = process.argv.slice(2).map(Number);
  const [mine, theirs] = socketpair('stream');
  const child = spawn(process.execPath, [__filename, 'taker'], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
  close(theirs);
  const channel = FdChannel.fromFd(mine);
  const answer = () => new Promise<{ got: number; at: number; restoreMs?: number }>((resolve) => channel.once('message', (m) => resolve(JSON.parse(m.data.toString()))));
  const server = net.createServer({ pauseOnConnect: true });
  // A backlog for a thousand connects at once (Node's 511 drops SYNs, and each drop costs a 1 s retransmit).
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const port = (server.address() as net.AddressInfo).port;

  // The taker is up and its channel warm before any clock starts.
  const hello = answer();
  await channel.send({ data: JSON.stringify({ kind: 'hello', expect: 0 }) });
  await hello;

  // A new coat: the sockets themselves, in batches of up to 253 fds.
  const coat = async (count: number) => {
    {
      const { clients, servers } = await connections(server, port, count);
      const fds = servers.map((s) => fdOf(s));
      const started = now();
      const got = answer();
      for (let i = 0; i < fds.length; i += SCM_MAX_FD) {
        await channel.send({ data: JSON.stringify({ kind: 'coat', expect: count }), fds: fds.slice(i, i + SCM_MAX_FD) });
      }
      const done = await got;
      const totalMs = done.at - started;
      for (const s of servers) s.destroy();
      for (const c of clients) c.destroy();
      return { way: 'coat', count, totalMs, moved: done.got };
    }
  };
  // A new body: hold the clients' packets, dump and close, send the states, restore, release.
  const body = async (count: number) => {
    {
      const { clients, servers } = await connections(server, port, count);
      const holdStarted = now();
      hold(port, true);
      const started = now();
      const states = servers.map((s) => {
        const state = dumpTcp(fdOf(s));
        s.destroy(); // in repair mode: silent
        return state;
      });
      const dumpMs = now() - started;
      const got = answer();
      for (let i = 0; i < states.length; i += STATES_PER_MESSAGE) {
        await channel.send({ data: JSON.stringify({ kind: 'body', expect: count, states: states.slice(i, i + STATES_PER_MESSAGE) }) });
      }
      const done = await got;
      hold(port, false);
      const heldMs = now() - holdStarted;
      const totalMs = done.at - started;
      // Every rebuilt connection works: one byte each way.
      const echoed = await Promise.all(clients.map((c) => new Promise<boolean>((resolve) => {
        c.once('data', (d) => resolve(d.toString() === 'x'));
        c.once('error', () => resolve(false));
        c.write('x');
      })));
      for (const c of clients) c.destroy();
      return { way: 'body', count, totalMs, dumpMs, restoreMs: done.restoreMs, heldMs, moved: done.got, working: echoed.filter(Boolean).length };
    }
  };

  // Each way ROUNDS times, the best round kept (load from other processes only slows a round down);
  // every round's connections must all move and, for a new body, all work.
  for (const count of counts) {
    for (const way of [coat, body]) {
      const rounds: Awaited<ReturnType<typeof way>>[] = [];
      for (let round = 0; round < ROUNDS; round++) rounds.push(await way(count));
      const best = rounds.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
      const all = rounds.every((r) => r.moved === count && ((r as { working?: number }).working ?? count) === count);
      console.log(`MEASURE ${JSON.stringify({ ...best, rounds: rounds.map((r) => r.totalMs), allRoundsComplete: all })}`);
    }
  }
  channel.close();
  server.close();
  child.kill();
}

if (process.argv[2] === 'taker') void taker();
else void main().catch((error: Error) => {
  console.log(`failed: ${error.message}`);
  process.exit(1);
});
