// An operator's bad day under `fdlab run` (issues 18 and 20): SIGUSR2 at the
// wrong moment. A worker that has no handler yet dies of SIGUSR2 (its default
// action), so the supervisor passes it on only to a worker that said it
// serves; a successor killed by a signal is named (its status alone, 140, hid
// it, and the old worker's back-off never started); every worker starts with
// the preload guard in NODE_OPTIONS. A worker is held before Node starts by a
// FIFO (sh -c 'read < fifo; exec node ...': the same pid), so each test reaches
// its moment without sleeping.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { fifoIn, gated, endRun, release, serveCommand, startRun, type Running } from '../helpers/run';

const CONNECTIONS = 30;

function pidIn(file: string): number {
  return Number(fs.readFileSync(file, 'utf8'));
}

async function allAnswered(run: Running, pinger: Pinger): Promise<void> {
  const counts = await pinger.settle();
  assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, run.log());
}

describe('fdlab run: SIGUSR2 at the wrong moment (issues 18 and 20)', function () {
  this.timeout(60_000);
  let run: Running | null = null;
  let pinger: Pinger | null = null;

  afterEach(async () => {
    await endRun(run, pinger);
    run = pinger = null;
  });

  it('SIGUSR2 while the first worker starts is not passed on (before: the worker died of it and the supervisor exited 140); a later one upgrades', async () => {
    const dir = tempDir();
    const fifo = fifoIn(dir);
    run = await startRun(dir, gated(fifo, 'first', serveCommand(dir, ['--standby', '300'])), {}, /started worker pid (\d+)/);
    const first = Number((await run.waitForLog(/started worker pid (\d+)/))[1]);
    process.kill(run.pid, 'SIGUSR2');
    await run.waitForLog(new RegExp(`SIGUSR2 ignored: worker pid ${first} has not said it serves yet`));
    await release(fifo);
    const [, port, serving] = await run.waitForLog(/serving on 127\.0\.0\.1:(\d+) as pid (\d+)/);
    assert.equal(Number(serving), first, 'the worker held at the gate serves (sh exec\'d node: the same pid)');
    pinger = await Pinger.connect(Number(port), CONNECTIONS);
    pinger.start();
    process.kill(run.pid, 'SIGUSR2');
    const second = Number((await run.waitForLog(new RegExp(`worker pid ${first} exited \\(code 0\\); serving: (\\d+)\\n`), 20_000))[1]);
    assert.deepEqual(run.workers(), [second]);
    assert.equal(pidIn(run.servePidFile), second);
    assert.equal(pidIn(run.runPidFile), run.pid);
    await allAnswered(run, pinger);
  });

  it('SIGUSR2 to every process of the tree while the successor starts: it dies of it, named (ERR_SUCCESSOR_SIGNALLED, not "code 140"); the old worker backs off and serves every connection', async () => {
    const dir = tempDir();
    const fifo = fifoIn(dir);
    run = await startRun(dir, gated(fifo, 'successors', serveCommand(dir)));
    const first = pidIn(run.servePidFile);
    assert.match(fs.readFileSync(`/proc/${first}/environ`, 'utf8'), /(^|\0)NODE_OPTIONS=--require "[^"]*\/preload-guard\.js"(\0|$)/, 'the worker starts with the preload guard');
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    process.kill(run.pid, 'SIGUSR2');
    const successor = Number((await run.waitForLog(/started worker pid (\d+) \(generation 2\)/))[1]);
    // pkill -USR2 -f <dir>: the supervisor, the old worker and the successor (held at the gate: no handler can be in).
    for (let round = 0; round < 20; round++) {
      for (const pid of [run.pid, ...run.workers()]) {
        try {
          process.kill(pid, 'SIGUSR2');
        } catch {
          // Gone between the listing and the signal.
        }
      }
    }
    await run.waitForLog(new RegExp(`worker pid ${successor} exited \\(SIGUSR2\\); serving: ${first}`));
    await run.waitForLog(/the successor exited \(killed by SIGUSR2\) before the commit; a signal reached it while Node started/);
    await run.waitForLog(/rolled back: serving 30 connections again \[ERR_SUCCESSOR_SIGNALLED\]/);
    await run.waitForLog(/SIGUSR2 ignored for 1000 ms: a signal killed the successor while it started/);
    assert.doesNotMatch(run.log(), /code 140/, 'the signal is named, not a status');
    assert.equal(run.log().match(/started worker pid/g)!.length, 2, `one successor started in all\n${run.log()}`);
    assert.deepEqual(run.workers(), [first]);
    assert.equal(pidIn(run.servePidFile), first);
    await allAnswered(run, pinger);
  });

  it('a preload guard from another install in NODE_OPTIONS is replaced, not kept: a deploy then deletes it and the upgrade still works (before: every successor died "Cannot find module")', async () => {
    const dir = tempDir();
    // The guard of a release directory the supervisor was started from, deleted by the next deploy.
    const release = path.join(dir, 'release-1', 'dist', 'handover');
    fs.mkdirSync(release, { recursive: true });
    const old = path.join(release, 'preload-guard.js');
    fs.copyFileSync(path.join(path.dirname(require.resolve('fdlab')), 'handover', 'preload-guard.js'), old);
    run = await startRun(dir, serveCommand(dir, ['--standby', '300']), { NODE_OPTIONS: `--require ${JSON.stringify(old)} --max-old-space-size=512` });
    const first = pidIn(run.servePidFile);
    const options = /(?:^|\0)NODE_OPTIONS=([^\0]*)/.exec(fs.readFileSync(`/proc/${first}/environ`, 'utf8'))![1];
    assert.doesNotMatch(options, /release-1/);
    assert.match(options, /^--require "[^"]*\/preload-guard\.js" --max-old-space-size=512$/, 'the current guard, and the other options kept');
    fs.rmSync(path.join(dir, 'release-1'), { recursive: true });
    process.kill(run.pid, 'SIGUSR2');
    const second = Number((await run.waitForLog(new RegExp(`worker pid ${first} exited \\(code 0\\); serving: (\\d+)\\n`), 20_000))[1]);
    assert.deepEqual(run.workers(), [second]);
  });
});
