// Issue 19, item 3: the per-connection lifecycle any app gets. A connection
// the app marks busy (markBusy) is not switched until it is idle again
// (markIdle): it is held back to a later group, served by the old version
// meanwhile, and the last group waits for it, up to the upgrade's deadline
// (then it is switched anyway: ERR_BUSY_AT_DEADLINE). handedOver() is called
// when a connection is switched; heldBack() once the upgrade has committed and
// waits for a busy one (never for an upgrade that rolls back). A session JSON cannot carry as it is fails
// the upgrade with ERR_SESSION_NOT_JSON naming the connection and the field.
// fdlab/testing's pair: two Upgraders in this process, the real protocol.
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { markBusy, markIdle, type HandoverApp, type ServedConnection } from 'fdlab';
import { startUpgradePair, UpgradeFailedError, type UpgradePair } from 'fdlab/testing';
import { until } from '../helpers/fds';

interface Session {
  lines: number;
  /** The request in flight when it was snapshotted (a busy connection switched at the deadline). */
  inFlight?: string;
  extra?: unknown;
}

/** What each version did: answers deferred by 'slow' lines, handedOver() calls by client port. */
interface Version {
  slow: (() => void)[];
  handedOver: number[];
  /** heldBack() calls, by client port. */
  heldBack: number[];
  /** heldBack() answers the deferred lines at once (what fdlab/http's endForUpgrade lets an SSE app do). */
  answerWhenHeldBack?: boolean;
}

/**
 * A line server: "v<g> #<n>: <line>". 'slow' marks the connection busy and
 * is answered when the test calls the deferred answer (then idle). 'map',
 * 'set', ... put a value JSON cannot carry in the session ('fix' removes it).
 */
function lineApp(generation: number, versions: Map<number, Version>): HandoverApp<Session> {
  const version: Version = { slow: [], handedOver: [], heldBack: [] };
  versions.set(generation, version);
  return {
    serve(socket, carried, pending): ServedConnection<Session> {
      const session: Session = { lines: carried?.lines ?? 0 };
      if (carried?.inFlight) socket.write(`v${generation}: '${carried.inFlight}' was in flight at the switch\n`);
      let partial = Buffer.alloc(0);
      const consume = (chunk: Buffer) => {
        partial = Buffer.concat([partial, chunk]);
        for (let end = partial.indexOf('\n'); end >= 0; end = partial.indexOf('\n')) {
          const line = partial.subarray(0, end).toString();
          partial = partial.subarray(end + 1);
          session.lines += 1;
          const answer = `v${generation} #${session.lines}: ${line}\n`;
          if (line === 'slow') {
            markBusy(socket);
            session.inFlight = line;
            version.slow.push(() => {
              socket.write(answer);
              delete session.inFlight;
              markIdle(socket);
            });
            continue;
          }
          const bad = BAD[line];
          if (bad) session.extra = bad();
          if (line === 'fix') delete session.extra;
          socket.write(answer);
        }
      };
      if (pending && pending.length > 0) consume(pending);
      socket.on('data', consume);
      socket.on('error', () => {});
      return {
        socket,
        snapshot: () => ({ session, pending: partial }),
        handedOver: () => version.handedOver.push(socket.remotePort!),
        heldBack: () => {
          version.heldBack.push(socket.remotePort!);
          if (version.answerWhenHeldBack) for (const answer of version.slow.splice(0)) answer();
        },
      };
    },
  };
}

/** Values JSON.stringify changes or drops silently (or throws on), and the path the error must name. */
const BAD: Record<string, () => unknown> = {
  map: () => ({ rooms: new Map([['a', 1]]) }),
  set: () => ({ rooms: new Set([1]) }),
  date: () => ({ seen: new Date(0) }),
  fn: () => ({ onMessage: () => 1 }),
  bigint: () => ({ users: [{ id: 10n }] }),
  cycle: () => {
    const room: Record<string, unknown> = {};
    room.self = room;
    return { room };
  },
  undef: () => ({ list: [1, undefined] }),
  nan: () => ({ score: NaN }),
};

const PATHS: Record<string, RegExp> = {
  map: /session\.extra\.rooms is a Map/,
  set: /session\.extra\.rooms is a Set/,
  date: /session\.extra\.seen is a Date/,
  fn: /session\.extra\.onMessage is a function/,
  bigint: /session\.extra\.users\[0\]\.id is a BigInt/,
  cycle: /session\.extra\.room\.self is a cycle/,
  undef: /session\.extra\.list\[1\] is undefined/,
  nan: /session\.extra\.score is NaN/,
};

class LineClient {
  received = '';
  closed = false;
  private read = 0;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.received += chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<LineClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    return new LineClient(socket);
  }

  get port(): number {
    return this.socket.localPort!;
  }

  write(line: string): void {
    this.socket.write(`${line}\n`);
  }

  send(line: string): Promise<string> {
    this.write(line);
    return this.next(`an answer to '${line}'`);
  }

  async next(what = 'a line'): Promise<string> {
    await until(5000, () => `${what} (received: ${JSON.stringify(this.received)})`, () => this.received.indexOf('\n', this.read) >= 0);
    const end = this.received.indexOf('\n', this.read);
    const line = this.received.slice(this.read, end);
    this.read = end + 1;
    return line;
  }

  /** Lines received but not read yet. */
  unread(): string {
    return this.received.slice(this.read);
  }
}

describe('busy connections, handedOver(), and sessions checked at snapshot time', function () {
  this.timeout(30_000);
  let pair: UpgradePair<Session> | undefined;
  const logs: string[] = [];

  afterEach(async () => {
    await pair?.close();
    pair = undefined;
    logs.length = 0;
  });

  it('a busy connection is not switched until its answer is out: the old version answers it, once; the idle ones are switched first, and each gets handedOver() as it is switched', async () => {
    const versions = new Map<number, Version>();
    pair = await startUpgradePair<Session>({ app: (g) => lineApp(g, versions), log: (line) => logs.push(line) });
    const [busy, idle] = await Promise.all([0, 1].map(() => LineClient.connect(pair!.port)));
    assert.equal(await busy.send('a'), 'v1 #1: a');
    assert.equal(await idle.send('a'), 'v1 #1: a');
    busy.write('slow');
    const v1 = versions.get(1)!;
    await until(5000, 'v1 to defer the slow line', () => v1.slow.length === 1);
    const upgraded = pair.upgrade();
    // The idle one is the new version's while the busy one is still the old one's.
    await until(5000, () => `v1 to hand the idle connection over (handed: ${v1.handedOver})`, () => v1.handedOver.length === 1);
    assert.deepEqual(v1.handedOver, [idle.port]);
    assert.equal(await idle.send('b'), 'v2 #2: b', 'the idle connection is served by v2 meanwhile');
    assert.equal(busy.unread(), '', 'nothing for the busy one yet');
    v1.slow.shift()!(); // v1 answers: the connection is idle, and switched
    assert.equal(await busy.next(), 'v1 #2: slow', 'answered by the version it asked, once');
    await upgraded;
    assert.deepEqual(v1.handedOver, [idle.port, busy.port]);
    assert.equal(await busy.send('c'), 'v2 #3: c');
    assert.equal(await idle.send('c'), 'v2 #3: c');
    assert.equal(busy.unread() + idle.unread(), '', 'nothing extra');
    assert.ok(!busy.closed && !idle.closed);
    assert.match(logs.join('\n'), /v1: switched all 2 connections in 2 group\(s\)/);
  });

  it('a connection still busy at the upgrade deadline is switched anyway, as its snapshot() says then (ERR_BUSY_AT_DEADLINE, logged with it); the old version cannot answer it any more', async () => {
    const versions = new Map<number, Version>();
    const TIMEOUT_MS = 1500;
    pair = await startUpgradePair<Session>({ app: (g) => lineApp(g, versions), timeoutMs: TIMEOUT_MS, log: (line) => logs.push(line) });
    const [busy, idle] = await Promise.all([0, 1].map(() => LineClient.connect(pair!.port)));
    assert.equal(await busy.send('a'), 'v1 #1: a');
    busy.write('slow');
    await until(5000, 'v1 to defer the slow line', () => versions.get(1)?.slow.length === 1);
    const started = Date.now();
    await pair.upgrade();
    const tookMs = Date.now() - started;
    assert.ok(tookMs >= TIMEOUT_MS - 50, `the last group waited for the deadline (${tookMs} ms)`);
    assert.match(logs.join('\n'), new RegExp(`v1: 1 connection\\(s\\) still busy at the upgrade deadline \\(${TIMEOUT_MS} ms\\): switched anyway, as their snapshot\\(\\) says \\(from 127\\.0\\.0\\.1:${busy.port}\\) \\[ERR_BUSY_AT_DEADLINE\\]`));
    // v2 got the session with the request in flight, and said so (this app's choice).
    assert.equal(await busy.next(), "v2: 'slow' was in flight at the switch");
    versions.get(1)!.slow.shift()!(); // too late: refused, never sent
    assert.equal(await busy.send('c'), 'v2 #3: c');
    assert.equal(await idle.send('c'), 'v2 #1: c');
    assert.equal(busy.unread(), '', 'the old version wrote nothing after the switch');
    await until(5000, 'the late write to be counted', () => /v1: late writes: the app wrote 1 time/.test(logs.join('\n')));
  });

  it('heldBack(): not called for an upgrade that rolls back before the commit; called once after the commit, and a connection it makes idle moves at once, not at the deadline', async () => {
    const versions = new Map<number, Version>();
    pair = await startUpgradePair<Session>({ app: (g) => lineApp(g, versions), timeoutMs: 20_000, log: (line) => logs.push(line) });
    const [busy, other] = await Promise.all([0, 1].map(() => LineClient.connect(pair!.port)));
    busy.write('slow');
    const v1 = versions.get(1)!;
    await until(5000, 'v1 to defer the slow line', () => v1.slow.length === 1);
    assert.equal(await other.send('map'), 'v1 #1: map'); // a session that cannot travel: the upgrade rolls back before the commit
    await assert.rejects(pair.upgrade(), (error: unknown) => error instanceof UpgradeFailedError && (error.result as { code?: string }).code === 'ERR_SESSION_NOT_JSON');
    assert.deepEqual(v1.heldBack, [], 'a rollback asks nothing of the busy connections: they were never going to move');
    assert.equal(await other.send('fix'), 'v1 #2: fix');
    v1.answerWhenHeldBack = true;
    const started = Date.now();
    await pair.upgrade();
    const took = Date.now() - started;
    assert.deepEqual(v1.heldBack, [busy.port], 'once, for the busy one');
    assert.ok(took < 10_000, `it moved once idle, not at the 20 s deadline (${took} ms)`);
    assert.equal(await busy.next(), 'v1 #1: slow', 'answered by v1 in heldBack(), once');
    assert.equal(await busy.send('c'), 'v2 #2: c');
    assert.doesNotMatch(logs.join('\n'), /ERR_BUSY_AT_DEADLINE/);
  });

  it('a session JSON cannot carry as it is (Map, Set, Date, function, BigInt, cycle, undefined in an array, NaN): the upgrade rolls back with ERR_SESSION_NOT_JSON naming the connection and the field; fixed, it goes through', async () => {
    const versions = new Map<number, Version>();
    pair = await startUpgradePair<Session>({ app: (g) => lineApp(g, versions), log: (line) => logs.push(line) });
    const [client, other] = await Promise.all([0, 1].map(() => LineClient.connect(pair!.port)));
    let lines = 0;
    let others = 0;
    for (const kind of Object.keys(BAD)) {
      assert.equal(await client.send(kind), `v1 #${++lines}: ${kind}`);
      const failed = await pair.upgrade().then(() => null, (error: unknown) => error);
      assert.ok(failed instanceof UpgradeFailedError, `${kind}: the upgrade failed (${failed})`);
      const result = failed.result as { outcome: string; code: string; reason: string };
      assert.equal(result.outcome, 'rolled-back', kind);
      assert.equal(result.code, 'ERR_SESSION_NOT_JSON', kind);
      assert.match(result.reason, new RegExp(`the session of connection from 127\\.0\\.0\\.1:${client.port} cannot travel to the next version`), kind);
      assert.match(result.reason, PATHS[kind], kind);
      assert.equal(await other.send('x'), `v1 #${++others}: x`, `${kind}: still served by v1`);
      assert.equal(await client.send('fix'), `v1 #${++lines}: fix`);
    }
    await pair.upgrade();
    assert.equal(await client.send('y'), `v2 #${++lines}: y`, 'the count came through');
    assert.equal(await other.send('y'), `v2 #${++others}: y`);
  });
});
