// Issue 21: the listener's accept queue. Node listens with 511 and its
// listen({ fd }) sets 511 again on a listener handed over, whatever it had:
// a reconnect storm then overflows the queue, and each dropped SYN costs a
// client the kernel's 1 s retransmission. Every version listens with the
// backlog asked (default: net.core.somaxconn), after a handover, a rollback
// and a take-back too; ss shows it (a listener's Send-Q is its backlog).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Upgrader, type HandoverApp } from 'fdlab';
import { tempDir } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { soleServer, startServe, stopServing } from '../helpers/serve';

/** The accept queue's length of the listener on `port` (ss: a LISTEN socket's Send-Q). */
function backlogOn(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `( sport = :${port} )`], { encoding: 'utf8' }).trim();
  assert.ok(line, `a listener on port ${port}`);
  return Number(line.split(/\s+/)[2]);
}

const SOMAXCONN = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

const CASES = [
  { name: 'a handover', hook: undefined, outcome: /upgraded 20 connections/ },
  { name: 'a rollback (new:acked=kill)', hook: 'new:acked=kill', outcome: /rolled back: serving 20 connections again/ },
  { name: 'a take-back (new:serving-standby=kill)', hook: 'new:serving-standby=kill', outcome: /took everything back: serving 20 connections again/ },
];

describe('hot-upgrade engine: the listen backlog', function () {
  this.timeout(60_000);

  for (const c of CASES) {
    it(`--backlog 1000 stays 1000 after ${c.name} (Node's listen({ fd }) made it 511)`, async () => {
      const serve = await startServe(tempDir(), ['--backlog', '1000', '--standby', '500', '--upgrade-timeout', '3000'], c.hook ? { FDLAB_HANDOVER_HOOK: c.hook } : {});
      const pinger = await Pinger.connect(serve.port, 20, ['plain']);
      try {
        assert.equal(backlogOn(serve.port), 1000);
        pinger.start();
        process.kill(serve.pid, 'SIGUSR2');
        await serve.waitForLog(c.outcome, 20_000);
        const pid = await soleServer(serve);
        assert.equal(serve.pidInFile(), pid);
        assert.equal(backlogOn(serve.port), 1000, `pid ${pid} listens with the backlog asked\n${serve.log()}`);
        const tally = await pinger.settleOpen();
        assert.deepEqual([tally.open, tally.closed, tally.garbage], [20, 0, 0]);
      } finally {
        pinger.close();
        await stopServing(serve);
      }
    });
  }

  it('by default the kernel\'s cap (net.core.somaxconn), not Node\'s 511', async () => {
    const serve = await startServe(tempDir());
    try {
      assert.equal(backlogOn(serve.port), SOMAXCONN);
    } finally {
      await stopServing(serve);
    }
  });

  it('a backlog above somaxconn is capped and the log says how to raise it; a wrong one is ERR_INVALID_ARG_VALUE', async () => {
    const app: HandoverApp<null> = { serve: (socket) => ({ socket, snapshot: () => ({ session: null, pending: Buffer.alloc(0) }) }) };
    const logs: string[] = [];
    const upgrader = await Upgrader.start({ app, port: 0, stateDir: tempDir(), backlog: SOMAXCONN + 1, log: (line) => logs.push(line) });
    try {
      assert.equal(backlogOn(upgrader.port), SOMAXCONN);
      assert.deepEqual(logs.filter((l) => /backlog/.test(l)), [`listen backlog ${SOMAXCONN + 1} capped at ${SOMAXCONN} by net.core.somaxconn (raise it with sysctl -w net.core.somaxconn=${SOMAXCONN + 1})`]);
    } finally {
      await upgrader.close();
    }
    for (const backlog of [0, -1, 1.5, 65_536, Number.NaN]) {
      await assert.rejects(Upgrader.start({ app, port: 0, stateDir: tempDir(), backlog }), { code: 'ERR_INVALID_ARG_VALUE', message: /backlog must be a whole number from 1 to 65535/ });
    }
  });
});
