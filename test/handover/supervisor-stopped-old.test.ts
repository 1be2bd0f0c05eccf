// The old worker SIGSTOPped as it enters its standby, before its 'done' (a
// debugger, a freezer), under `fdlab run`. The new worker's bound counted
// from 'done' only, so it stayed in 'serving-standby' without bound: every
// upgrade refused ("an upgrade is under way", 8 s and on). Now QUIET_BEFORE_DONE_MS
// without a message before 'done', while it is stopped (state T), and it is declared gone: killed (checked
// to be the same process), the new worker serves alone and upgrades again.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { processState } from '../helpers/serve';
import { endRun, serveCommand, startRun, type Running } from '../helpers/run';

const CONNECTIONS = 30;

describe('fdlab run: the old worker stopped before its done (issues 18 and 20)', function () {
  this.timeout(60_000);
  let run: Running | null = null;
  let pinger: Pinger | null = null;

  afterEach(async () => {
    await endRun(run, pinger);
    run = pinger = null;
  });

  it('declared gone 2 s after its last message: killed, the new worker serves alone, the next upgrade works, nothing lost', async () => {
    const dir = tempDir();
    run = await startRun(dir, serveCommand(dir, ['--standby', '300']), { FDLAB_HANDOVER_HOOK: 'old:standby=stop' });
    const first = Number(fs.readFileSync(run.servePidFile, 'utf8'));
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    process.kill(run.pid, 'SIGUSR2');
    await run.waitForLog(/hook: old:standby=stop/);
    await until(5000, 'the old worker to stop', () => processState(first) === 'T');
    const second = Number((await run.waitForLog(/started worker pid (\d+) \(generation 2\)/))[1]);
    await run.waitForLog(new RegExp(`pid ${second}\\] the old version \\(pid ${first}\\) did not release us: no message for \\d+ ms before 'done', and it is stopped \\(stopped or stuck\\?\\); killed it`), 10_000);
    await run.waitForLog(new RegExp(`worker pid ${first} exited \\(SIGKILL\\); serving: ${second}\\n`));
    const from = run.log().length;
    process.kill(run.pid, 'SIGUSR2');
    const third = Number((await run.waitForLog(new RegExp(`worker pid ${second} exited \\(code 0\\); serving: (\\d+)\\n`), 10_000, from))[1]);
    assert.deepEqual(run.workers(), [third]);
    assert.equal(Number(fs.readFileSync(run.servePidFile, 'utf8')), third);
    const counts = await pinger.settle();
    assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, run.log());
  });
});
