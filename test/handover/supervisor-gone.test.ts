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
import { fifoIn, gated, killRun, release, serveCommand, startRun, type Running } from '../helpers/run';

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
    await run.waitForLog(/SIGTERM[^\n]*stopping/, 5000); // the worker stopped as on a stop
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

  it('while the successor starts (held before Node runs): it finds the supervisor gone and refuses to start (ERR_SUPERVISOR_GONE; before: it took over and served on, an orphan); the old worker rolls back and stops, nothing is left', async () => {
    const dir = tempDir();
    const fifo = fifoIn(dir);
    const run = await startRun(dir, gated(fifo, 'successors', serveCommand(dir, ['--standby', '300', '--upgrade-timeout', '2000'])));
    runs.push(run);
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    process.kill(run.pid, 'SIGUSR2');
    const successor = Number((await run.waitForLog(/started worker pid (\d+) \(generation 2\)/))[1]);
    process.kill(run.pid, 'SIGKILL');
    assert.equal(await run.exited, 'SIGKILL');
    await release(fifo);
    await run.waitForLog(/the supervisor \(pid \d+\) is gone: nobody would stop or upgrade this worker, so it does not start[^\n]*ERR_SUPERVISOR_GONE/, 10_000);
    await until(5000, 'the successor to exit', () => !run.workers().includes(successor));
    await run.waitForLog(/the upgrade rolled back: stopping now \(SIGTERM\)/, 10_000);
    await until(10_000, () => `every worker gone (${run.workers().join(', ')})\n${run.log()}`, () => run.workers().length === 0);
    await until(5000, () => `every connection closed by the server (${pinger!.disconnects} of ${CONNECTIONS})`, () => pinger!.disconnects === CONNECTIONS);
    assert.equal(fs.existsSync(run.servePidFile), false, 'the worker removed its pid file');
  });

  it('a command that wraps the server in a shell without exec: the worker refuses to start (ERR_SUPERVISOR_WRAPPED, saying to exec), nothing serves', async () => {
    const dir = tempDir();
    const run = await startRun(dir, ['sh', '-c', `"$@"; echo "the server exited $?"`, 'sh', ...serveCommand(dir)], {}, null);
    runs.push(run);
    await run.exited;
    await run.waitForLog(/the server exited 1/, 5000);
    await run.waitForLog(/is not its supervisor \(pid \d+\): the command after -- must be the server or exec it[^\n]*ERR_SUPERVISOR_WRAPPED/, 5000);
  });
});
