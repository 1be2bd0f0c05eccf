// Issue 18, items 8 and 10: once a connection is the new version's, the old
// version cannot touch it (docs/handover.md, "Late writes"): its late writes
// and end()s send nothing, their callbacks get ERR_CONNECTION_HANDED_OVER, no
// 'error' event, counted and logged once; a take-back lets it write again.
// And a snapshot() that throws rolls that connection back to serving.
// Real processes (test/fixtures/upgradable-lines.ts, an app on the Upgrader
// with the default spawnSuccessor) and, for HTTP, fdlab/testing's pair with
// the real upgrade socket. The old side misbehaves on entering its standby
// (onState), so every late call lands after the switch, without a sleep.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import type { HandoverApp, ServedConnection } from 'fdlab';
import { startUpgradePair } from 'fdlab/testing';
import { until } from '../helpers/fds';
import { RawHttpClient } from '../helpers/http-client';
import { LineClient, startLines, stopAll } from '../helpers/lines';
import { fdCountOf, processesUsing } from '../helpers/serve';

const LATE_LOG = /late writes: the app wrote (\d+) time\(s\) \((\d+) bytes\) and called end\(\) (\d+) time\(s\)/g;

describe('late writes: the old version cannot touch a connection it handed over', function () {
  this.timeout(60_000);

  it("a snapshot() that throws for one connection: the upgrade rolls back, every connection (that one too) is answered again, the old version's fds are back, no successor left; fixed, the next upgrade goes through", async () => {
    const server = await startLines(0);
    try {
      const clients = await Promise.all([0, 1, 2].map(() => LineClient.connect(server.port)));
      for (const client of clients) assert.equal(await client.send('a'), 'gen 1 #1: a');
      assert.equal(await clients[1].send('throw'), 'gen 1 #2: throw');
      const fdsBefore = fdCountOf(server.pid);
      process.kill(server.pid, 'SIGUSR2');
      await server.waitForLog(/gen 1: rolled back: serving 3 connections again/);
      assert.match(server.log(), /upgrade failed in state 'transferring': the app's snapshot\(\) threw: connection \d+ is broken on purpose/);
      // Its describe() reads snapshot() too: stats() says so instead of throwing in the 'rolled-back' listener (that crashed it).
      await server.waitForLog(/gen 1: the upgrade rolled back; stats: pid \d+, 3 connections, the app's describe\(\) threw: connection \d+ is broken on purpose/);
      assert.equal(await clients[0].send('b'), 'gen 1 #2: b');
      assert.equal(await clients[1].send('b'), 'gen 1 #3: b', 'the connection whose snapshot() threw is served again');
      assert.equal(await clients[2].send('b'), 'gen 1 #2: b');
      await until(5000, () => `the old version's fds back to ${fdsBefore} (now ${fdCountOf(server.pid)})`, () => fdCountOf(server.pid) === fdsBefore);
      await until(5000, () => `no successor left: ${processesUsing(server.dir).join(', ')}`, () => processesUsing(server.dir).join() === String(server.pid));
      // Fixed, the same connections upgrade, each with its count.
      assert.equal(await clients[1].send('fix'), 'gen 1 #4: fix');
      process.kill(server.pid, 'SIGUSR2');
      await server.waitForLog(/gen 1: upgraded 3 connections/);
      await until(5000, 'the old version to exit', () => server.child.exitCode !== null);
      assert.equal(await clients[0].send('c'), 'gen 2 #3: c');
      assert.equal(await clients[1].send('c'), 'gen 2 #5: c');
      assert.equal(await clients[2].send('c'), 'gen 2 #3: c');
      assert.equal(processesUsing(server.dir).length, 1);
      assert.ok(clients.every((c) => !c.ended && !c.closed));
    } finally {
      await stopAll(server.dir);
    }
  });

  it("a late write, end() and destroy() by the old version after the switch: nothing reaches the client (no bytes, no FIN), the callbacks get ERR_CONNECTION_HANDED_OVER, logged once; the new version serves every connection on", async () => {
    const server = await startLines(500);
    try {
      const [push, end, destroyed, quiet, held] = await Promise.all([0, 1, 2, 3, 4].map(() => LineClient.connect(server.port)));
      assert.equal(await push.send('push-late'), 'gen 1 #1: push-late');
      assert.equal(await end.send('end-late'), 'gen 1 #1: end-late');
      assert.equal(await destroyed.send('destroy-late'), 'gen 1 #1: destroy-late');
      assert.equal(await quiet.send('a'), 'gen 1 #1: a');
      assert.equal(await held.send('held-late'), 'gen 1 #1: held-late');
      process.kill(server.pid, 'SIGUSR2');
      // Written while held, before the commit: waits, then is refused at the commit.
      await server.waitForLog(/gen 1: held write \d+: ERR_CONNECTION_HANDED_OVER/);
      const answered = await server.waitForLog(/gen 1: late calls answered: (.*)/);
      assert.deepEqual(answered[1].split(' ').map((a) => a.replace(/:\d+=/, '=')).sort(), ['end=ERR_CONNECTION_HANDED_OVER', 'write=ERR_CONNECTION_HANDED_OVER']);
      await server.waitForLog(/gen 1: upgraded 5 connections/);
      await until(5000, 'the old version to exit', () => server.child.exitCode !== null);
      assert.equal(server.child.exitCode, 0, 'no crash: a refused write emits no error');
      assert.deepEqual([...server.log().matchAll(LATE_LOG)].map((m) => [m[1], m[2], m[3]]), [['2', String('held write from gen 1\n'.length + 'late push from gen 1\n'.length + 'late bye from gen 1\n'.length), '1']], 'one log line, with the counts');
      assert.equal(await push.send('b'), 'gen 2 #2: b');
      assert.equal(await end.send('b'), 'gen 2 #2: b');
      assert.equal(await destroyed.send('b'), 'gen 2 #2: b', 'a late destroy() closed only the old version’s fd');
      assert.equal(await quiet.send('b'), 'gen 2 #2: b');
      assert.equal(await held.send('b'), 'gen 2 #2: b');
      for (const client of [push, end, destroyed, quiet, held]) {
        assert.equal(client.ended, false, 'no FIN from the old version');
        assert.doesNotMatch(client.received, /late (push|bye)|held write/, 'no late bytes');
      }
    } finally {
      await stopAll(server.dir);
    }
  });

  it('a write made while the connection is held, before the commit: sent, in order, when the upgrade rolls back (the successor dies on acking)', async () => {
    const server = await startLines(0, 'kill-at-acked');
    try {
      const [held, quiet] = await Promise.all([0, 1].map(() => LineClient.connect(server.port)));
      assert.equal(await held.send('held-late'), 'gen 1 #1: held-late');
      assert.equal(await quiet.send('a'), 'gen 1 #1: a');
      process.kill(server.pid, 'SIGUSR2');
      await server.waitForLog(/gen 1: rolled back: serving 2 connections again/);
      await server.waitForLog(/gen 1: held write \d+: sent/);
      assert.equal(await held.next(), 'held write from gen 1');
      assert.equal(await held.send('b'), 'gen 1 #2: b');
      assert.equal(await quiet.send('b'), 'gen 1 #2: b');
      assert.doesNotMatch(server.log(), LATE_LOG, 'nothing refused');
      await until(5000, () => `no successor left: ${processesUsing(server.dir).join(', ')}`, () => processesUsing(server.dir).join() === String(server.pid));
    } finally {
      await stopAll(server.dir);
    }
  });

  it('a late write, end() and destroy() in the standby, then the new version dies: taken back, the old version writes again on what it still holds; the destroyed one is closed, not resumed', async () => {
    const server = await startLines(30_000);
    try {
      const [push, end, destroyed, quiet] = await Promise.all([0, 1, 2, 3].map(() => LineClient.connect(server.port)));
      assert.equal(await push.send('push-late'), 'gen 1 #1: push-late');
      assert.equal(await end.send('end-late'), 'gen 1 #1: end-late');
      assert.equal(await destroyed.send('destroy-late'), 'gen 1 #1: destroy-late');
      assert.equal(await quiet.send('a'), 'gen 1 #1: a');
      const localPorts = new Map([push, end, destroyed, quiet].map((client) => [client, client.socket.localPort!]));
      const port = (client: LineClient) => localPorts.get(client)!;
      const fdsBefore = fdCountOf(server.pid);
      process.kill(server.pid, 'SIGUSR2');
      const successor = Number((await server.waitForLog(/successor pid (\d+)/))[1]);
      await server.waitForLog(/gen 1: late calls answered: .*/);
      await server.waitForLog(/gen 1: destroyed \d+ late/);
      process.kill(successor, 'SIGKILL');
      await server.waitForLog(/gen 1: took everything back: serving 3 connections again/);
      assert.equal([...server.log().matchAll(LATE_LOG)].length, 1, 'logged once');
      // The lifecycle callbacks (issue 19): handedOver() for each at the switch, takenBack() for each served again as it was.
      const ports = (pattern: RegExp) => [...server.log().matchAll(pattern)].map((m) => Number(m[1])).sort();
      assert.deepEqual(ports(/gen 1: handed over (\d+)/g), [push, end, destroyed, quiet].map(port).sort());
      assert.deepEqual(ports(/gen 1: taken back (\d+)/g), [push, end, quiet].map(port).sort(), 'not the one the old app destroyed');
      assert.equal(await push.send('b'), 'gen 1 #2: b');
      assert.equal(await end.send('b'), 'gen 1 #2: b', 'a refused end() left the connection open, served again');
      assert.equal(await quiet.send('b'), 'gen 1 #2: b');
      await until(5000, 'the destroyed connection closes for its client', () => destroyed.closed);
      for (const client of [push, end, quiet]) {
        assert.equal(client.ended, false);
        assert.doesNotMatch(client.received, /late (push|bye)/, 'the refused writes never went out, not even after the take-back');
      }
      await until(5000, () => `the old version's fds: one connection fewer than ${fdsBefore} (now ${fdCountOf(server.pid)})`, () => fdCountOf(server.pid) === fdsBefore - 1);
      assert.deepEqual(processesUsing(server.dir), [server.pid]);
      assert.equal(Number(require('node:fs').readFileSync(server.pidFile, 'utf8')), server.pid);
    } finally {
      await stopAll(server.dir);
    }
  });

  it('HTTP/1.1 keep-alive: the old version answers requests late, the new one answers them from the snapshot; each request gets exactly one response, in order, nothing extra', async () => {
    const CLIENTS = 10;
    const deferred: (() => void)[] = [];
    const logs: string[] = [];
    const pair = await startUpgradePair<HttpSession>({
      app: (generation) => httpApp(generation, deferred),
      standbyMs: 300,
      log: (line) => logs.push(line),
      onState: (side, state) => {
        // The old version answers late: the first group is the new version's by now.
        if (side === 'old' && state === 'standby') for (const answer of deferred.splice(0)) answer();
      },
    });
    try {
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => RawHttpClient.connect(pair.port)));
      for (const client of clients) assert.equal(await client.get('/1'), 'v1 answers /1 (#1)');
      const late = clients.map((client) => client.get('/late'));
      await until(5000, 'every /late deferred by v1', () => deferred.length === CLIENTS);
      await pair.upgrade();
      for (const answer of await Promise.all(late)) assert.equal(answer, 'v2 answers /late (#2)');
      for (const client of clients) assert.equal(await client.get('/3'), 'v2 answers /3 (#3)');
      for (const client of clients) {
        assert.deepEqual(client.responses.map((r) => r.body), ['v1 answers /1 (#1)', 'v2 answers /late (#2)', 'v2 answers /3 (#3)']);
        assert.equal(client.extra(), '', 'no bytes beyond the three responses');
        assert.equal(client.ended, false);
      }
      const counted = logs.join('\n').match(/v1: late writes: the app wrote (\d+) time\(s\) \(\d+ bytes\) and called end\(\) 0 time\(s\)/g) ?? [];
      assert.equal(counted.length, 1, `logged once:\n${logs.join('\n')}`);
      assert.ok(Number(/wrote (\d+)/.exec(counted[0])![1]) >= CLIENTS, counted[0]);
    } finally {
      await pair.close();
    }
  });
});

interface HttpSession {
  answered: number;
}

/**
 * node:http on the Upgrader: each socket given to an http.Server with
 * emit('connection'). The bytes of a request not answered yet travel as
 * `pending`, so the next version parses and answers it. v1 defers '/late'.
 */
function httpApp(generation: number, deferred: (() => void)[]): HandoverApp<HttpSession> {
  const server = http.createServer((req, res) => {
    const state = states.get(req.socket)!;
    state.session.answered += 1;
    const body = `v${generation} answers ${req.url} (#${state.session.answered})`;
    const answer = () => res.end(body);
    if (generation === 1 && req.url === '/late') deferred.push(answer);
    else {
      answer();
      state.unanswered = Buffer.alloc(0); // one request in flight per client
    }
  });
  const states = new WeakMap<net.Socket, { session: HttpSession; unanswered: Buffer }>();
  return {
    serve(socket, session, pending): ServedConnection<HttpSession> {
      const state = { session: { answered: session?.answered ?? 0 }, unanswered: Buffer.alloc(0) };
      states.set(socket, state);
      server.emit('connection', socket);
      // Before http's parser: a request's bytes are kept until it is answered.
      socket.prependListener('data', (chunk: Buffer) => (state.unanswered = Buffer.concat([state.unanswered, chunk])));
      if (pending && pending.length > 0) socket.emit('data', pending);
      return {
        socket,
        snapshot: () => {
          // A deferred request counts as not answered: the next version answers it.
          return { session: { answered: state.unanswered.length > 0 ? state.session.answered - 1 : state.session.answered }, pending: state.unanswered };
        },
      };
    },
  };
}
