// Issue 18, item 1: an operator's stop request (SIGINT: Ctrl-C; SIGHUP: a
// `systemctl reload`-style signal; SIGTERM) to `fdlab serve`. One meaning,
// docs/handover.md "Operator signals": serving, it stops cleanly (connections
// and listener closed, pid file removed, exit 0); during an upgrade the stop
// waits until the upgrade settles: upgraded, this version exits as it always
// does and the new one serves every connection; rolled back, then it stops.
// Each state is reached with a fault hook that SIGSTOPs the old version there:
// the signal is sent to the stopped process, then SIGCONT.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { exitOf, processesUsing, processState, soleServer, startServe, stopServing, type Serving } from '../helpers/serve';

const CONNECTIONS = 30;
// The standby must outlast a late heartbeat (every 200 ms): with 300 ms, a successor starved of
// CPU (3 busy loops on 2 cores) said nothing in it once in 7 runs, and was taken back.
const STANDBY = '1000';

async function answered(serve: Serving, pinger: Pinger): Promise<void> {
  const target = pinger.pongs + 3 * CONNECTIONS;
  await until(10_000, () => `pongs (${pinger.pongs} of ${target})\n${serve.log()}`, () => pinger.pongs >= target || pinger.disconnects > 0, 10);
  assert.equal(pinger.disconnects, 0, `no connection dropped\n${serve.log()}`);
}

/** The old version stopped (SIGSTOP, by its hook) on entering `state` of an upgrade. */
async function stoppedAt(serve: Serving, state: string): Promise<void> {
  process.kill(serve.pid, 'SIGUSR2');
  await serve.waitForLog(new RegExp(`hook: old:${state}=stop`));
  await until(5000, 'the old version to stop', () => processState(serve.pid) === 'T');
}

/** The end state when the stop won: nothing serves, nothing is left behind. */
async function stoppedCleanly(serve: Serving, pinger: Pinger): Promise<void> {
  assert.equal(await exitOf(serve), 0, serve.log());
  await until(5000, () => `every connection closed by the server (${pinger.disconnects} of ${CONNECTIONS})`, () => pinger.disconnects === CONNECTIONS);
  await until(5000, 'no process of this server left', () => processesUsing(serve.dir).length === 0);
  assert.equal(fs.existsSync(serve.pidFile), false, 'the pid file is removed');
  assert.equal(fs.existsSync(path.join(serve.stateDir, 'upgrade.sock')), false, 'upgrade.sock is removed');
}

describe('fdlab serve: operator signals (SIGINT, SIGHUP, SIGTERM)', function () {
  this.timeout(60_000);

  for (const signal of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) {
    it(`${signal} while serving: closes every connection, removes the pid file, exits 0`, async () => {
      const serve = await startServe(tempDir());
      const pinger = await Pinger.connect(serve.port, CONNECTIONS);
      try {
        pinger.start();
        process.kill(serve.pid, signal);
        await serve.waitForLog(new RegExp(`${signal}: stopping; stats: pid ${serve.pid}, ${CONNECTIONS} connections`));
        await stoppedCleanly(serve, pinger);
      } finally {
        pinger.close();
        await stopServing(serve);
      }
    });
  }

  const rows: ['SIGINT' | 'SIGHUP', string][] = [
    ['SIGINT', 'starting-successor'],
    ['SIGINT', 'sending-copies'],
    ['SIGINT', 'transferring'],
    ['SIGINT', 'awaiting-ack'],
    ['SIGINT', 'standby'],
    ['SIGHUP', 'starting-successor'],
    ['SIGHUP', 'sending-copies'],
    ['SIGHUP', 'standby'],
  ];
  for (const [signal, state] of rows) {
    it(`${signal} in '${state}': the upgrade goes through, the new version serves every connection, every ping answered once`, async () => {
      const serve = await startServe(tempDir(), ['--standby', STANDBY], { FDLAB_HANDOVER_HOOK: `old:${state}=stop` });
      const pinger = await Pinger.connect(serve.port, CONNECTIONS);
      try {
        pinger.start();
        await stoppedAt(serve, state);
        process.kill(serve.pid, signal);
        process.kill(serve.pid, 'SIGCONT');
        await serve.waitForLog(new RegExp(`${signal} during the upgrade: stopping once it settles`));
        await serve.waitForLog(new RegExp(`upgraded ${CONNECTIONS} connections[^]*${signal} during the upgrade: it went through; exiting, the new version serves`));
        assert.equal(await exitOf(serve), 0, serve.log());
        const survivor = await soleServer(serve);
        assert.notEqual(survivor, serve.pid, 'the new version serves');
        await until(5000, 'the pid file to name the new version', () => serve.pidInFile() === survivor);
        await answered(serve, pinger);
        const counts = await pinger.stop();
        assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, serve.log());
        assert.equal(fs.existsSync(path.join(serve.stateDir, 'upgrade.sock')), false, 'upgrade.sock is removed');
      } finally {
        pinger.close();
        await stopServing(serve);
      }
    });
  }

  for (const signal of ['SIGINT', 'SIGHUP'] as const) {
    it(`${signal} in 'sending-copies', then the upgrade rolls back: the stop wins, every connection closed, nothing left`, async () => {
      // The successor dies as it takes the copies: a rollback, after the stop request.
      const serve = await startServe(tempDir(), ['--standby', '300'], { FDLAB_HANDOVER_HOOK: 'old:sending-copies=stop,new:receiving=kill' });
      const pinger = await Pinger.connect(serve.port, CONNECTIONS);
      try {
        pinger.start();
        await stoppedAt(serve, 'sending-copies');
        process.kill(serve.pid, signal);
        process.kill(serve.pid, 'SIGCONT');
        // Both are pending when it goes on: the stop request, and (if the successor has died by
        // then) the hang-up that rolls back. Which one Node handles first depends on that death
        // (under load it came first in 3 of 8 runs), and both orders must end the same way:
        // stopped at once after the rollback, or on the next turn while serving again.
        const during = `${signal} during the upgrade: stopping once it settles[^]*rolled back: serving ${CONNECTIONS} connections again[^]*the upgrade rolled back: stopping now \\(${signal}\\)`;
        const after = `rolled back: serving ${CONNECTIONS} connections again[^]*${signal}: stopping; stats`;
        await serve.waitForLog(new RegExp(`${during}|${after}`));
        await stoppedCleanly(serve, pinger);
      } finally {
        pinger.close();
        await stopServing(serve);
      }
    });
  }

  it('a second stop request while the upgrade settles only logs', async () => {
    const serve = await startServe(tempDir(), ['--standby', STANDBY], { FDLAB_HANDOVER_HOOK: 'old:sending-copies=stop' });
    const pinger = await Pinger.connect(serve.port, CONNECTIONS);
    try {
      pinger.start();
      await stoppedAt(serve, 'sending-copies');
      // Both pending while it is stopped. Either may be handled first: each may go to another of
      // Node's threads, which pass it on in their own time (seen once under load: SIGTERM first).
      process.kill(serve.pid, 'SIGINT');
      process.kill(serve.pid, 'SIGTERM');
      process.kill(serve.pid, 'SIGCONT');
      await serve.waitForLog(/(SIGINT|SIGTERM) during the upgrade: stopping once it settles/);
      const first = /(SIGINT|SIGTERM) during the upgrade: stopping once it settles/.exec(serve.log())![1];
      const second = first === 'SIGINT' ? 'SIGTERM' : 'SIGINT';
      await serve.waitForLog(new RegExp(`${second}: already stopping \\(${first}\\), once the upgrade settles`));
      await serve.waitForLog(/upgraded 30 connections/);
      assert.equal(await exitOf(serve), 0, serve.log());
      assert.notEqual(await soleServer(serve), serve.pid);
      await answered(serve, pinger);
      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 }, serve.log());
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });
});
