// An Upgrader's life around its upgrades, in this process with real sockets:
// close() fences off upgrades (one asked for after it, or from a listener
// while it waits, never starts a successor behind its back), an app whose
// serve() returns garbage has those sockets closed instead of breaking
// close(), an async onState that rejects does not crash the process, a failed
// start({ signals: true }) leaves no SIGUSR2 handler and puts the guard back,
// port stays readable after 'upgraded', and 'released' comes only when the
// old version really released us (never inside start(), never from close()).
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as path from 'node:path';
import { guardUpgradeSignal, Upgrader, type HandoverApp, type OnState, type ServedConnection, type Successor, type SuccessorRequest } from 'fdlab';
import { startUpgradePair } from 'fdlab/testing';
import { tempDir, until } from '../helpers/fds';

/** Echoes; its session is nothing. */
const echo: HandoverApp<null> = {
  serve(socket: net.Socket): ServedConnection<null> {
    socket.on('data', (chunk) => socket.write(chunk)).on('error', () => {});
    return { socket, snapshot: () => ({ session: null, pending: Buffer.alloc(0) }) };
  },
};

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** What connecting to the port gives now: 'connected' or the error's code. */
async function probe(port: number): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  const result = await new Promise<string>((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  socket.destroy();
  return result;
}

async function echoes(socket: net.Socket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) => socket.once('data', (chunk) => resolve(String(chunk))));
  socket.write(text);
  return reply;
}

/** A successor that "crashes" at once: the upgrade rolls back without a deadline. */
function crashingSuccessor(started: SuccessorRequest[]): (request: SuccessorRequest) => Successor {
  return (request) => {
    started.push(request);
    return { pid: process.pid, exited: Promise.resolve(1), kill: () => {} };
  };
}

/** The next version, started in this process with takeOver (as fdlab/testing does). */
function inProcessSuccessor(made: Upgrader<null>[], log: string[], options: { standbyMs?: number; started?: (upgrader: Upgrader<null>) => void } = {}): (request: SuccessorRequest) => Successor {
  return (request) => {
    let exit!: (code: number) => void;
    const exited = new Promise<number>((resolve) => (exit = resolve));
    const starting = Upgrader.start<null>({
      app: echo,
      port: 0,
      stateDir: request.stateDir,
      takeOver: { socket: request.socketPath, token: request.token },
      version: 'v2',
      timeoutMs: 5000,
      standbyMs: options.standbyMs ?? 0,
      log: (line) => log.push(`v2: ${line}`),
    });
    starting.then(
      (upgrader) => {
        made.push(upgrader);
        options.started?.(upgrader);
      },
      () => exit(1),
    );
    return { pid: process.pid, exited, kill: () => void starting.then((upgrader) => upgrader.close(), () => {}) };
  };
}

describe('handover: an Upgrader\'s life cycle', function () {
  const open: Upgrader<unknown>[] = [];
  afterEach(async function () {
    for (const upgrader of open.splice(0)) await upgrader.close().catch(() => {});
  });

  async function start<S>(options: Omit<Parameters<typeof Upgrader.start<S>>[0], 'port' | 'stateDir'> & { stateDir?: string }): Promise<Upgrader<S>> {
    const upgrader = await Upgrader.start<S>({ port: 0, stateDir: path.join(tempDir(), 'state'), timeoutMs: 5000, ...options });
    open.push(upgrader as Upgrader<unknown>);
    return upgrader;
  }

  it('close() fences off upgrades: upgrade() right after it is ignored (closing), starts no successor, and status ends closed', async function () {
    const started: SuccessorRequest[] = [];
    const log: string[] = [];
    const upgrader = await start<null>({ app: echo, startSuccessor: crashingSuccessor(started), log: (line) => log.push(line) });
    const port = upgrader.port;
    const client = await connect(port);
    const closing = upgrader.close();
    const result = await upgrader.upgrade(); // the same tick: a SIGUSR2 and a SIGTERM together
    assert.deepEqual(result, { outcome: 'ignored', reason: 'closing' });
    await closing;
    assert.equal(started.length, 0, 'no successor was started');
    assert.equal(upgrader.status, 'closed');
    assert.ok(log.includes('upgrade ignored: closing'), log.join('\n'));
    assert.equal(await probe(port), 'ECONNREFUSED');
    await until(2000, 'the client is closed', () => client.destroyed || client.readableEnded);
    client.destroy();
  });

  it('close() waits for an upgrade started from a rolled-back listener before it, and ignores one asked for after it', async function () {
    const started: SuccessorRequest[] = [];
    const upgrader = await start<null>({ app: echo, startSuccessor: crashingSuccessor(started) });
    const client = await connect(upgrader.port);
    let retried: Promise<unknown> | undefined;
    let retrySettled = false;
    let closing: Promise<void> | undefined;
    let late: Promise<unknown> | undefined;
    upgrader.once('rolled-back', () => {
      retried = upgrader.upgrade().then((r) => {
        retrySettled = true;
        return r;
      });
      closing = upgrader.close(); // the first upgrade is still in flight: close() waits for it, then for the retry
      late = upgrader.upgrade();
    });
    const first = await upgrader.upgrade();
    assert.equal(first.outcome, 'rolled-back');
    await closing;
    assert.ok(retrySettled, 'close() resolved only once the retry had settled');
    assert.equal(((await retried) as { outcome: string }).outcome, 'rolled-back');
    assert.deepEqual(await late, { outcome: 'ignored', reason: 'closing' });
    assert.equal(started.length, 2, 'the first try and the retry: nothing after close()');
    assert.equal(upgrader.status, 'closed');
    assert.equal(upgrader.server.listening, false);
    await until(2000, 'the client is closed', () => client.destroyed || client.readableEnded);
    client.destroy();
  });

  it('an app whose serve() returns garbage: the socket is closed with a log line, nothing garbage is kept, and close() closes the listener', async function () {
    const log: string[] = [];
    const app = { serve: (socket: net.Socket) => (socket.on('error', () => {}), undefined) } as unknown as HandoverApp<null>;
    const upgrader = await start<null>({ app, log: (line) => log.push(line) });
    const port = upgrader.port;
    const client = await connect(port);
    await until(2000, () => `the client is closed; log:\n${log.join('\n')}`, () => client.destroyed || client.readableEnded);
    assert.ok(log.some((line) => line.startsWith("the app's serve() returned undefined")), log.join('\n'));
    assert.equal(upgrader.connections.size, 0);
    await upgrader.close();
    assert.equal(await probe(port), 'ECONNREFUSED');
    client.destroy();
  });

  it('an onState that returns a rejected promise is logged like one that throws, and the upgrade goes on', async function () {
    const onState: OnState = async (_side, state) => {
      if (state === 'sending-copies' || state === 'acked') throw new Error('metrics down (async)');
    };
    const pair = await startUpgradePair({ app: () => echo, onState });
    try {
      const client = await connect(pair.port);
      await pair.upgrade();
      assert.equal(pair.generation, 2);
      assert.equal(await echoes(client, 'hi'), 'hi');
      await until(2000, () => pair.logs.join('\n'), () => pair.logs.some((line) => line.includes("onState('new', 'acked') threw: metrics down (async)")));
      assert.ok(pair.logs.some((line) => line.includes("onState('old', 'sending-copies') threw: metrics down (async)")), pair.logs.join('\n'));
      client.destroy();
    } finally {
      await pair.close();
    }
  });

  it('a failed start({ signals: true }) leaves no SIGUSR2 handler and puts back the guard it released', async function () {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const before = process.listeners('SIGUSR2').length;
    const guarded: string[] = [];
    guardUpgradeSignal((line) => guarded.push(line));
    try {
      assert.equal(process.listeners('SIGUSR2').length, before + 1, 'the guard');
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          Upgrader.start({ app: echo, port: (busy.address() as net.AddressInfo).port, stateDir: path.join(tempDir(), 'state'), signals: true }),
          (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE',
        );
        assert.equal(process.listeners('SIGUSR2').length, before + 1, `after failed start ${i + 1}: the guard alone`);
      }
      process.kill(process.pid, 'SIGUSR2'); // the guard refuses it: the process lives on
      await until(2000, 'the guard said it ignored SIGUSR2', () => guarded.length === 1);
      assert.match(guarded[0], /SIGUSR2 ignored: this version is not serving yet/);
    } finally {
      // A start that succeeds releases the guard again; its close() removes its own handler.
      const upgrader = await Upgrader.start({ app: echo, port: 0, stateDir: path.join(tempDir(), 'state'), signals: true });
      await upgrader.close();
      busy.close();
    }
    assert.equal(process.listeners('SIGUSR2').length, before);
  });

  it("port is the port it served on after 'upgraded' and after close()", async function () {
    const pair = await startUpgradePair({ app: () => echo });
    try {
      const first = pair.current;
      const port = first.port;
      await pair.upgrade();
      assert.equal(first.status, 'handed-over');
      assert.equal(first.port, port);
      assert.equal(pair.current.port, port);
    } finally {
      await pair.close();
    }
    assert.equal(pair.current.port, pair.port);
  });

  it("'released' comes after start() resolved, once: a listener added once Upgrader.start resolved gets it", async function () {
    const made: Upgrader<null>[] = [];
    const log: string[] = [];
    let released = 0;
    let statusAtStart = '';
    const started = (upgrader: Upgrader<null>) => {
      statusAtStart = upgrader.status;
      upgrader.on('released', () => released++);
    };
    const v1 = await start<null>({ app: echo, standbyMs: 0, startSuccessor: inProcessSuccessor(made, log, { started }) });
    const client = await connect(v1.port);
    const result = await v1.upgrade();
    assert.equal(result.outcome, 'upgraded', JSON.stringify(result));
    await until(2000, () => `'released' seen (v2 was '${statusAtStart}' when start resolved); log:\n${log.join('\n')}`, () => released === 1);
    const v2 = made[0];
    open.push(v2 as Upgrader<unknown>);
    assert.equal(v2.status, 'serving');
    assert.equal(await echoes(client, 'still here'), 'still here');
    client.destroy();
  });

  it("close() on a new version whose predecessor stands by emits no 'released'; the old version takes everything back", async function () {
    const made: Upgrader<null>[] = [];
    const log: string[] = [];
    const v1 = await start<null>({ app: echo, standbyMs: 60_000, startSuccessor: inProcessSuccessor(made, log) });
    const client = await connect(v1.port);
    const upgrading = v1.upgrade();
    await until(5000, () => `v2 stands by its predecessor; log:\n${log.join('\n')}`, () => made.length === 1 && made[0].status === 'predecessor-standing-by');
    const v2 = made[0];
    let released = 0;
    v2.on('released', () => released++);
    await v2.close();
    assert.equal(v2.status, 'closed');
    const result = await upgrading;
    assert.equal(result.outcome, 'taken-back', JSON.stringify(result));
    await new Promise((resolve) => setImmediate(resolve)); // a deferred 'released' would have come by now
    assert.equal(released, 0);
    assert.equal(v1.status, 'serving');
    assert.equal(await echoes(client, 'back'), 'back');
    client.destroy();
  });
});
