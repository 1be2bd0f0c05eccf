// Issue 18, items 6, 9 and 12: what the standby must get right.
// 6. A take-back never replays a stale state: the new version reports the
//    state of each connection it used in the tick it used it, with the
//    kernel's counts of that connection's use; the old version restores a
//    connection from the last report whose counts still match, and closes
//    (and says so) only one used after its last report.
// 9. A connection the new version closes reaches its client at once, not
//    when the old version lets go of its copies at the end of the standby.
// 12. An old version stopped in its standby (SIGSTOP, a debugger) is declared
//    gone a bounded time after its standby should have ended (killed: all it
//    had left to do was let go and end): the new one serves alone and can be
//    upgraded again.
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import type { HandoverApp } from 'fdlab';
import { startUpgradePair } from 'fdlab/testing';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { exitOf, processState, soleServer, startServe, stopServing, type Serving } from '../helpers/serve';

/** A client that sends garbage once the new version serves it: the server closes it ("not a ping"). */
async function rawClient(serve: Serving): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  const socket = net.connect(serve.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  socket.write('ping');
  await new Promise((resolve) => socket.once('data', resolve));
  return { socket, closed };
}

/** The stats line of whoever serves now: how many pings its sessions say they served. */
async function pingsServed(serve: Serving, pid: number): Promise<number> {
  const from = serve.log().length;
  process.kill(pid, 'SIGWINCH');
  const stats = await serve.waitForLog(new RegExp(`stats: pid ${pid}, \\d+ connections, (\\d+) pings served on them`), 5000, from);
  return Number(stats[1]);
}

describe('hot-upgrade engine: the standby keeps state and closes honest', function () {
  this.timeout(90_000);

  it('a take-back after split pings answered by the new version: every session as the new version left it, nothing replayed', async () => {
    const CONNECTIONS = 300;
    const serve = await startServe(tempDir(), ['--standby', '30000']);
    const pinger = await Pinger.connect(serve.port, CONNECTIONS, ['split']);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/took over all 300 connections/);
      const successor = Number((await serve.waitForLog(/successor pid (\d+) \(/))[1]);
      // The new version answers a few rounds of split pings ('pi' then 'ng'), each a state the old one never saw.
      const target = pinger.pongs + 5 * CONNECTIONS;
      await until(20_000, () => `the new version answering (${pinger.pongs} of ${target} pongs)`, () => pinger.pongs >= target);
      process.kill(successor, 'SIGKILL');
      const took = await serve.waitForLog(/took everything back: serving (\d+) connections again/);
      const restored = serve.log().match(/take-back: (\d+) connections served with the state the new version last reported(?:; (\d+) closed)?/);
      assert.ok(restored, `the take-back says what it restored\n${serve.log()}`);
      const closedByTakeBack = Number(restored[2] ?? 0);
      if (process.env.SHOW) console.log(restored[0]);
      const after = pinger.pongs + 3 * CONNECTIONS;
      await until(20_000, () => `the old version answering again (${pinger.pongs} of ${after})\n${serve.log().slice(-3000)}`, () => pinger.pongs >= after);
      const tally = await pinger.settleOpen();
      assert.equal(tally.garbage, 0, 'no stray bytes');
      assert.equal(tally.closed, closedByTakeBack, `only the connections the take-back said it closed are closed\n${serve.log()}`);
      assert.equal(tally.open, CONNECTIONS - closedByTakeBack);
      // Before: every connection restarted from the old version's stale 'pi' and was closed as 'pipi' (300 of 300).
      // Typically 0 or 1 of 300 (the one in the middle of its 'data' handler at the kill); 43 once with four other test runs on 2 cores.
      assert.ok(closedByTakeBack < CONNECTIONS / 2, `a connection is closed only if used after its last report (${closedByTakeBack} of ${CONNECTIONS})\n${serve.log()}`);
      assert.doesNotMatch(serve.log(), /not a ping/);
      // Sessions intact: the pings the sessions say they served are the pongs the open connections got.
      assert.equal(await pingsServed(serve, serve.pid), tally.pongs, `sessions count every pong (took back ${took[1]})`);
      assert.equal(serve.pidInFile(), serve.pid);
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('a connection the new version closes during the standby: its client sees the close at once', async () => {
    const serve = await startServe(tempDir(), ['--standby', '20000']);
    const pinger = await Pinger.connect(serve.port, 30);
    const client = await rawClient(serve);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/took over all 31 connections/);
      const sent = Date.now();
      client.socket.write('xxxx'); // read by the new version, which closes it
      const closedAt = await client.closed;
      await serve.waitForLog(/not a ping/);
      assert.doesNotMatch(serve.log(), /standby over/, 'closed while the old version still stood by with its copy');
      assert.ok(closedAt - sent < 10_000, `closed ${closedAt - sent} ms after the garbage`);
      const tally = await pinger.settleOpen();
      assert.deepEqual([tally.closed, tally.garbage, tally.pongs === tally.pings], [0, 0, true]);
    } finally {
      pinger.close();
      client.socket.destroy();
      await stopServing(serve);
    }
  });

  it('connections the new version closes as it adopts them (before its link to the old one exists): closed for their clients at once, not at the end of the standby', async () => {
    // v1 echoes; v2 closes every connection it adopts (a version that drops old sessions).
    const app = (generation: number): HandoverApp<null> => ({
      serve: (socket) => {
        if (generation === 1) socket.on('data', (data) => socket.write(data));
        else socket.destroy();
        return { socket, snapshot: () => ({ session: null, pending: Buffer.alloc(0) }) };
      },
    });
    const pair = await startUpgradePair({ app, standbyMs: 4000 });
    const clients = await Promise.all([0, 1, 2].map(async () => {
      const socket = net.connect(pair.port, '127.0.0.1');
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('hi');
      await new Promise((resolve) => socket.once('data', resolve));
      return { socket, closed };
    }));
    try {
      let upgraded = false;
      const upgrading = pair.upgrade().then(() => (upgraded = true));
      upgrading.catch(() => {});
      await Promise.all(clients.map((c) => c.closed));
      // Before: their closes were said before the new version's link existed, so lost: the old
      // version's copies kept the connections open until its standby ended (4 s here).
      assert.equal(upgraded, false, 'every client saw its close while the old version still stood by');
    } finally {
      for (const c of clients) c.socket.destroy();
      await pair.close();
    }
  });

  it('the old version stopped in its standby: declared gone after a bound (killed, its standby over); the new one serves alone, closes at once, upgrades again', async () => {
    const serve = await startServe(tempDir(), ['--standby', '500']);
    const pinger = await Pinger.connect(serve.port, 30);
    const client = await rawClient(serve);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/took over all 31 connections/);
      const v2 = Number((await serve.waitForLog(/successor pid (\d+) \(/))[1]);
      process.kill(serve.pid, 'SIGSTOP'); // after 'done': stopped where it stands by
      await until(5000, 'the old version stopped', () => processState(serve.pid) === 'T');
      // Before: v2 refused upgrades for as long as v1 stayed stopped, and its closes reached no client.
      await serve.waitForLog(new RegExp(`the old version \\(pid ${serve.pid}\\) did not release us: no release 2500 ms after 'done' \\(stopped or stuck\\?\\); killed it`), 15_000);
      assert.equal(await exitOf(serve), 'SIGKILL');
      client.socket.write('xxxx');
      await client.closed; // v2 closes it, and no copy holds it open
      process.kill(v2, 'SIGUSR2');
      await serve.waitForLog(new RegExp(`handed over; exiting; stats: pid ${v2}`), 20_000);
      const tally = await pinger.settleOpen();
      assert.deepEqual([tally.closed, tally.open, tally.garbage], [0, 30, 0], `${JSON.stringify(tally)}\n${serve.log()}`);
      assert.doesNotMatch(serve.log(), /took everything back/);
      const v3 = await soleServer(serve);
      assert.equal(serve.pidInFile(), v3);
    } finally {
      pinger.close();
      client.socket.destroy();
      await stopServing(serve);
    }
  });

  it("the old version busy for 3 s before its 'done' (its event loop blocked: a long GC pause, synchronous work), running all the while: not taken for stuck, the upgrade goes through, nothing lost", async () => {
    const serve = await startServe(tempDir(), ['--standby', '300'], { FDLAB_HANDOVER_HOOK: 'old:standby=block' });
    const pinger = await Pinger.connect(serve.port, 30);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/hook: old:standby=block/);
      // 2 s without a message and it runs (state R): before, the new version killed it here.
      await serve.waitForLog(/the old version has sent nothing for \d+ ms before 'done' and is not stopped \(busy connections wait until its deadline\): waiting/, 10_000);
      await serve.waitForLog(/upgraded 30 connections/, 15_000);
      assert.equal(await exitOf(serve), 0, serve.log());
      assert.doesNotMatch(serve.log(), /killed it|took everything back/);
      const counts = await pinger.settle();
      assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, serve.log());
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });
});
