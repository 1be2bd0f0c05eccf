// Issue 18, item 5: `fdlab serve`'s stdout and stderr go to a log shipper that
// died. Its log lines are best-effort: a write that fails with EPIPE must not
// crash the server (an unhandled 'error' on process.stdout did, and took every
// connection with it), neither the old version during an upgrade nor the
// successor, which inherits the same dead pipes.
import { strict as assert } from 'node:assert';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { closeLogPipes, exitOf, processesUsing, soleServer, startServe, stopServing, type Serving } from '../helpers/serve';

const CONNECTIONS = 30;

/** Pongs on every connection from whoever serves now (each connection pings at least once in 3 rounds). */
async function answered(serve: Serving, pinger: Pinger): Promise<void> {
  const target = pinger.pongs + 3 * CONNECTIONS;
  await until(10_000, () => `pongs (${pinger.pongs} of ${target}), disconnects ${pinger.disconnects}, processes ${processesUsing(serve.dir).join(', ')}`, () => pinger.pongs >= target || pinger.disconnects > 0, 10);
  assert.equal(pinger.disconnects, 0, 'no connection dropped');
}

/** SIGUSR2 to `pid`; resolves with the successor once it alone serves and the pid file names it. */
async function upgrade(serve: Serving, pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await until(15_000, () => `a successor of ${pid} named by the pid file, alone: processes ${processesUsing(serve.dir).join(', ')}`, () => {
    const left = processesUsing(serve.dir);
    return left.length === 1 && left[0] !== pid && serve.pidInFile() === left[0];
  }, 20);
  return soleServer(serve);
}

describe('fdlab serve with a dead log pipe', function () {
  this.timeout(60_000);

  it('serves on when a log line hits the dead pipe (SIGWINCH stats)', async () => {
    const serve = await startServe(tempDir());
    const pinger = await Pinger.connect(serve.port, CONNECTIONS);
    try {
      pinger.start();
      closeLogPipes(serve);
      // A stats line each, to stdout, one at a time (signals sent at once merge into one).
      for (let i = 0; i < 3; i++) {
        process.kill(serve.pid, 'SIGWINCH');
        await answered(serve, pinger);
      }
      assert.deepEqual(processesUsing(serve.dir), [serve.pid], 'still serving');
      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 });
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('upgrades with every ping answered once; the successor, on the same dead pipes, serves on and upgrades again', async () => {
    const serve = await startServe(tempDir(), ['--standby', '300']);
    const pinger = await Pinger.connect(serve.port, CONNECTIONS);
    try {
      pinger.start();
      closeLogPipes(serve);
      const second = await upgrade(serve, serve.pid);
      assert.equal(await exitOf(serve), 0, 'the old version exits 0 after handing over, not of EPIPE');
      await answered(serve, pinger);
      // The successor logged its whole take-over into the dead pipes: alive, and upgradable.
      const third = await upgrade(serve, second);
      assert.notEqual(third, second);
      await answered(serve, pinger);
      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 });
      assert.deepEqual(processesUsing(serve.dir), [third], 'no orphan: one server left');
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });
});
