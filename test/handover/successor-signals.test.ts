// Issue 18, item 11: a signal to the successor while it starts. `pkill -USR2
// -f 'fdlab serve'` during an upgrade reaches the successor too; before any
// handler is in, SIGUSR2's default action kills it. spawnSuccessor starts it
// with a preload guard (`--require`), so only Node's own bootstrap is left
// unguarded (docs/handover.md, "Operator signals"). Whatever kills it, the
// old version names the signal, says what to do, rolls back and serves every
// connection; nothing is left behind.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { fdCountOf, processesUsing, soleServer, startServe, stopServing, type Serving } from '../helpers/serve';

const CONNECTIONS = 30;

/** Pongs on every connection from whoever serves now, and none dropped. */
async function answered(serve: Serving, pinger: Pinger): Promise<void> {
  const target = pinger.pongs + 3 * CONNECTIONS;
  await until(10_000, () => `pongs (${pinger.pongs} of ${target})\n${serve.log()}`, () => pinger.pongs >= target || pinger.disconnects > 0, 10);
  assert.equal(pinger.disconnects, 0, `no connection dropped\n${serve.log()}`);
}

/** One version left, named by the pid file, every ping answered once, no connection dropped. */
async function endState(serve: Serving, pinger: Pinger, expected: number, fdsBefore?: number): Promise<void> {
  const survivor = await soleServer(serve);
  assert.equal(survivor, expected, serve.log());
  await until(5000, 'the pid file to name the server left', () => serve.pidInFile() === survivor);
  await answered(serve, pinger);
  if (fdsBefore !== undefined) assert.equal(fdCountOf(survivor), fdsBefore, `no fd left behind\n${serve.log()}`);
  const counts = await pinger.stop();
  assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, serve.log());
}

describe('fdlab serve: a signal to the successor while it starts (issue 18, item 11)', function () {
  this.timeout(60_000);

  it('a successor killed by SIGKILL after its hello: logged and rolled back naming SIGKILL; the old version serves every connection', async () => {
    const serve = await startServe(tempDir(), ['--upgrade-timeout', '3000'], { FDLAB_HANDOVER_HOOK: 'new:hello-sent=kill' });
    const pinger = await Pinger.connect(serve.port, CONNECTIONS);
    try {
      pinger.start();
      const fdsBefore = fdCountOf(serve.pid);
      process.kill(serve.pid, 'SIGUSR2');
      const [, successor] = await serve.waitForLog(/started the successor: pid (\d+)/);
      await serve.waitForLog(new RegExp(`the successor pid ${successor} was killed by SIGKILL`));
      await serve.waitForLog(/upgrade failed in state '[a-z-]+': the successor exited \(killed by SIGKILL\) before the commit; kill -9, or the OOM killer[^\n]*rolling back/);
      await serve.waitForLog(/rolled back: serving 30 connections again/);
      assert.doesNotMatch(serve.log(), /code 128/, 'the signal is named, not a made-up exit code');
      await endState(serve, pinger, serve.pid, fdsBefore);
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('SIGUSR2 to the successor as soon as the old version names its pid: one version serves every connection, a death is named', async () => {
    const serve = await startServe(tempDir(), ['--upgrade-timeout', '5000', '--standby', '1000']);
    const pinger = await Pinger.connect(serve.port, CONNECTIONS);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      const [, pid] = await serve.waitForLog(/started the successor: pid (\d+)/);
      // Started with the preload guard ahead of the app (alive until our signal: nothing else ends it).
      assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /--require\0[^\0]*\/handover\/preload-guard\.js\0/);
      process.kill(Number(pid), 'SIGUSR2'); // what `pkill -USR2 -f` does a moment into the upgrade
      const [outcome] = await serve.waitForLog(/upgraded 30 connections|rolled back: serving 30 connections again/);
      if (outcome.startsWith('rolled back')) {
        // It died in Node's bootstrap, before the preload guard: named, with what to do.
        assert.match(serve.log(), new RegExp(`the successor pid ${pid} was killed by SIGUSR2`));
        assert.match(serve.log(), /the successor exited \(killed by SIGUSR2\) before the commit; a signal reached it while Node started[^\n]*send SIGUSR2 to the pid in the pid file only/);
        await endState(serve, pinger, serve.pid);
      } else {
        // The guard was in: the signal was refused and the upgrade went through.
        assert.match(serve.log(), /SIGUSR2 ignored/);
        await endState(serve, pinger, Number(pid));
      }
      assert.deepEqual(processesUsing(serve.dir).length, 1, 'no orphan');
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('a burst of SIGUSR2 to every process of the tree (pkill -f): one successor at most per back-off, then one version serves every connection', async () => {
    const serve = await startServe(tempDir(), ['--upgrade-timeout', '5000', '--standby', '1000']);
    const pinger = await Pinger.connect(serve.port, CONNECTIONS);
    try {
      pinger.start();
      // 20 rounds, 30 ms apart: before the back-off, 10 successors were started and killed in such a burst.
      const started = Date.now();
      for (let round = 0; round < 20; round++) {
        for (const pid of processesUsing(serve.dir)) {
          try {
            process.kill(pid, 'SIGUSR2');
          } catch {
            // Gone between the listing and the signal.
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 30)); // the burst's pacing, not a synchronization
      }
      const burstMs = Date.now() - started;
      // Settled: no upgrade under way, whoever serves now.
      await until(15_000, () => `the last upgrade to settle\n${serve.log()}`, () => {
        const log = serve.log();
        const starts = (log.match(/started the successor/g) ?? []).length;
        const ends = (log.match(/rolled back: serving|upgraded 30 connections/g) ?? []).length;
        return starts === ends;
      }, 20);
      const log = serve.log();
      const successors = (log.match(/started the successor/g) ?? []).length;
      const killed = (log.match(/killed by SIGUSR2\) before the commit/g) ?? []).length;
      if (killed > 0) assert.match(log, /SIGUSR2 ignored for 1000 ms: a signal killed the successor while it started/);
      // One successor per back-off at most (and one more if an upgrade went through and its successor was signalled in turn).
      assert.ok(successors <= Math.ceil(burstMs / 1000) + 1, `${successors} successors in a ${burstMs} ms burst\n${log}`);
      const survivor = await soleServer(serve);
      await endState(serve, pinger, survivor);
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });
});
