// `kill -9` of the supervisor (an operator's slip, the OOM killer): before,
// its worker served on as an orphan of PID 1, unupgradable (the supervisor's
// pid file named a dead pid) and in the way of a new `fdlab run` on the same
// state dir (ERR_STATE_DIR_IN_USE: exit 1, what a manager's Restart= loops
// on). Now each worker gets SIGTERM when its supervisor dies
// (PR_SET_PDEATHSIG) and stops as on any stop; a new supervisor then serves.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { processState } from '../helpers/serve';
import { killRun, serveCommand, startRun, type Running } from '../helpers/run';

const CONNECTIONS = 30;

describe('fdlab run: the supervisor killed with SIGKILL (issue 20)', function () {
  this.timeout(60_000);
  const runs: Running[] = [];
  let pinger: Pinger | null = null;

  afterEach(async () => {
    pinger?.close();
    pinger = null;
    for (const run of runs.splice(0)) await killRun(run);
  });

  /** SIGKILL to the supervisor; then every worker stops, every connection is closed by the server, and a new supervisor serves on the same files. */
  async function killSupervisor(run: Running, stopped?: number): Promise<void> {
    const workers = run.workers();
    process.kill(run.pid, 'SIGKILL');
    assert.equal(await run.exited, 'SIGKILL');
    if (stopped) process.kill(stopped, 'SIGCONT');
    await until(10_000, () => `every worker gone (${run.workers().join(', ')} of ${workers.join(', ')})\n${run.log()}`, () => run.workers().length === 0);
    await until(5000, () => `every connection closed by the server (${pinger!.disconnects} of ${CONNECTIONS})`, () => pinger!.disconnects === CONNECTIONS);
    assert.match(run.log(), /SIGTERM[^\n]*stopping/, `the worker stopped as on a stop\n${run.log()}`);
    assert.equal(fs.existsSync(run.servePidFile), false, 'the worker removed its pid file');
    const again = await startRun(run.dir, serveCommand(run.dir, ['--standby', '300']));
    runs.push(again);
    assert.deepEqual(again.workers().length, 1, again.log());
  }

  it('with one worker serving: it stops (SIGTERM from the kernel), and a new fdlab run on the same state dir serves', async () => {
    const dir = tempDir();
    const run = await startRun(dir, serveCommand(dir, ['--standby', '300']));
    runs.push(run);
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    await killSupervisor(run);
  });

  it('during an upgrade (the old worker stopped in its standby): both workers stop once the old one runs again', async () => {
    const dir = tempDir();
    const run = await startRun(dir, serveCommand(dir, ['--standby', '300']), { FDLAB_HANDOVER_HOOK: 'old:standby=stop' });
    runs.push(run);
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    process.kill(run.pid, 'SIGUSR2');
    const stopped = Number((await run.waitForLog(/pid (\d+)\] hook: old:standby=stop/))[1]);
    await until(5000, 'the old worker to stop', () => processState(stopped) === 'T');
    assert.equal(run.workers().length, 2);
    await killSupervisor(run, stopped);
  });
});
