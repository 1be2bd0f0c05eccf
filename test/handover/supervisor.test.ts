// Issue 20, item 1: `fdlab run -- fdlab serve ...`, a supervisor that stays
// the main process. SIGUSR2 (or `fdlab upgrade <its pid file>`) upgrades the
// worker in place and the new worker is the supervisor's child (before: the
// old version's detached child, an orphan once it exited); stops go to every
// worker, whatever step an upgrade is at, and end with nothing running; a
// worker that dies outside an upgrade ends the supervisor with its status;
// orphans of the workers are reaped (a subreaper; PID 1 in a pid namespace).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { processState } from '../helpers/serve';
import { endRun, parentOf, serveCommand, startRun, type Running } from '../helpers/run';
import { cliPath } from '../../src/project';

const CONNECTIONS = 100;
const STANDBY = '1000';

function pidIn(file: string): number {
  return Number(fs.readFileSync(file, 'utf8'));
}

/** Upgrades once (by `how`) and returns the new worker's pid, once the old one has exited. */
async function upgradeOnce(run: Running, how: () => void): Promise<number> {
  const old = pidIn(run.servePidFile);
  const from = run.log().length;
  how();
  const exited = await run.waitForLog(new RegExp(`worker pid ${old} exited \\(code 0\\); serving: (\\d+)\\n`), 20_000, from);
  return Number(exited[1]);
}

/** The end state of a stop: the supervisor exited 0, nothing of the tree runs, the pid files are gone, every connection closed by the server. */
async function stoppedCleanly(run: Running, pinger: Pinger): Promise<void> {
  assert.equal(await run.exited, 0, run.log());
  assert.deepEqual(run.workers(), [], `no worker left\n${run.log()}`);
  await until(5000, () => `every connection closed by the server (${pinger.disconnects} of ${CONNECTIONS})`, () => pinger.disconnects === CONNECTIONS);
  assert.equal(fs.existsSync(run.runPidFile), false, 'the supervisor\'s pid file is removed');
  assert.equal(fs.existsSync(run.servePidFile), false, 'the worker\'s pid file is removed');
}

/** The children of `pid` (from /proc: their parent pid). */
function childrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => {
    try {
      return parentOf(p) === pid;
    } catch {
      return false;
    }
  });
}

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * A worker that leaves an orphan: a shell starts `node ... orphan <dir>` in
 * the background and exits, so its parent is gone. Both name `dir` in their
 * command lines, so a failed test's teardown (killRun) finds them.
 */
function orphaningWorker(dir: string): string[] {
  const idle = 'setInterval(() => {}, 1e9)';
  const script = `require('child_process').spawn('sh', ['-c', '"${process.execPath}" -e "${idle}" orphan ${dir} &'], { stdio: 'ignore' }).on('exit', () => console.log('ready'));
${idle};`;
  return [process.execPath, '-e', script, 'worker', dir];
}

describe('fdlab run: a supervisor that stays (issue 20)', function () {
  this.timeout(90_000);
  let run: Running | null = null;
  let pinger: Pinger | null = null;

  afterEach(async () => {
    await endRun(run, pinger);
    run = pinger = null;
  });

  it(`SIGUSR2, then fdlab upgrade <pid file>: each new worker is the supervisor's child, ${CONNECTIONS} connections, 0 dropped, every ping answered; SIGTERM stops all`, async () => {
    const dir = tempDir();
    run = await startRun(dir, serveCommand(dir, ['--standby', STANDBY]));
    assert.equal(pidIn(run.runPidFile), run.pid, 'the supervisor\'s pid file names the supervisor');
    const first = pidIn(run.servePidFile);
    assert.equal(parentOf(first), run.pid, 'the first worker is the supervisor\'s child');
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    const second = await upgradeOnce(run, () => process.kill(run!.pid, 'SIGUSR2'));
    const third = await upgradeOnce(run, () => execFileSync(process.execPath, [cliPath(), 'upgrade', run!.runPidFile]));
    for (const worker of [second, third]) assert.ok(run.log().includes(`started worker pid ${worker} (generation`), `the supervisor started ${worker}\n${run.log()}`);
    assert.equal(parentOf(third), run.pid, 'the new worker is the supervisor\'s child');
    assert.deepEqual(run.workers(), [third], `one worker left once the upgrade settled\n${run.log()}`);
    assert.equal(pidIn(run.servePidFile), third, 'the worker\'s pid file names the new worker');
    assert.equal(pidIn(run.runPidFile), run.pid, 'the supervisor\'s still names the supervisor');
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, run.log());
    assert.equal(counts.pongs, counts.pings, 'every ping answered once');
    assert.equal(counts.garbage, 0);
    process.kill(run.pid, 'SIGTERM');
    await stoppedCleanly(run, pinger);
  });

  it('a worker killed outside an upgrade: the supervisor exits with its status (128 + 9), removing its pid file', async () => {
    const dir = tempDir();
    run = await startRun(dir);
    process.kill(pidIn(run.servePidFile), 'SIGKILL');
    assert.equal(await run.exited, 137, run.log());
    assert.equal(fs.existsSync(run.runPidFile), false);
    assert.deepEqual(run.workers(), []);
  });

  it('a worker that exits with code 3: the supervisor exits 3', async () => {
    run = await startRun(tempDir(), [process.execPath, '-e', 'process.exit(3)'], {}, null);
    assert.equal(await run.exited, 3, run.log());
    assert.match(run.log(), /exited \(code 3\); none left/);
  });

  it('a command that cannot start: the supervisor says so and exits 127', async () => {
    run = await startRun(tempDir(), ['/nonexistent/fdlab-worker'], {}, null);
    assert.equal(await run.exited, 127, run.log());
    assert.match(run.log(), /could not start \/nonexistent\/fdlab-worker: spawn \/nonexistent\/fdlab-worker ENOENT/);
  });

  // SIGTERM to the supervisor with a worker SIGSTOPped (by its hook) at a step
  // of an upgrade, then SIGCONT: the service stops, nothing is left running.
  const rows: [string, string][] = [
    ['old:starting-successor', 'before it asked for a successor: the supervisor refuses to start one, the old worker rolls back and stops'],
    ['new:acked', 'the successor after its ack, before the commit: it refuses the take-over, the old worker rolls back and stops'],
    ['old:standby', 'the old worker in its standby: the upgrade goes through, then the new worker stops once released'],
  ];
  for (const [hook, what] of rows) {
    it(`SIGTERM to the supervisor with ${hook} stopped (${what})`, async () => {
      const dir = tempDir();
      run = await startRun(dir, serveCommand(dir, ['--standby', STANDBY]), { FDLAB_HANDOVER_HOOK: `${hook}=stop` });
      pinger = await Pinger.connect(run.port, CONNECTIONS);
      pinger.start();
      process.kill(run.pid, 'SIGUSR2');
      const stopped = Number((await run.waitForLog(new RegExp(`pid (\\d+)\\] hook: ${hook}=stop`)))[1]);
      await until(5000, 'the worker to stop', () => processState(stopped) === 'T');
      const from = run.log().length;
      process.kill(run.pid, 'SIGTERM');
      await run.waitForLog(/SIGTERM: passing it to workers? /, 5000, from);
      process.kill(stopped, 'SIGCONT');
      await stoppedCleanly(run, pinger);
      if (hook === 'old:starting-successor') assert.match(run.log(), /the supervisor could not start the successor: the supervisor is stopping \(SIGTERM\)/);
    });
  }

  it('the old worker killed in its standby (a crash inside an upgrade): the new worker takes over alone, the supervisor serves on with it', async () => {
    const dir = tempDir();
    run = await startRun(dir, serveCommand(dir, ['--standby', STANDBY]), { FDLAB_HANDOVER_HOOK: 'old:standby=kill' });
    const first = pidIn(run.servePidFile);
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    process.kill(run.pid, 'SIGUSR2');
    const second = Number((await run.waitForLog(new RegExp(`worker pid ${first} exited \\(SIGKILL\\); serving: (\\d+)\\n`)))[1]);
    await run.waitForLog(/the old version released its copies|serving alone|is gone/);
    assert.deepEqual(run.workers(), [second]);
    assert.equal(parentOf(second), run.pid);
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, run.log());
    assert.equal(counts.pongs, counts.pings);
    process.kill(run.pid, 'SIGTERM');
    await stoppedCleanly(run, pinger);
  });

  it('fdlab upgrade: a missing pid file or a stale pid is refused with ERR_PID_FILE and what to check', async () => {
    const dir = tempDir();
    const upgrade = (file: string) => {
      try {
        execFileSync(process.execPath, [cliPath(), 'upgrade', file], { stdio: 'pipe', encoding: 'utf8' });
        return '';
      } catch (error) {
        return String((error as { stderr: string }).stderr);
      }
    };
    assert.match(upgrade(`${dir}/none.pid`), /cannot read .*none\.pid \(ENOENT\): is the service running, with --pid-file .*\[ERR_PID_FILE\]/);
    fs.writeFileSync(`${dir}/stale.pid`, '2147483647');
    assert.match(upgrade(`${dir}/stale.pid`), /pid 2147483647 from .*stale\.pid: no such process \(a stale pid file\?\).*\[ERR_PID_FILE\]/);
  });

  it('orphans of a worker are reaped (the supervisor is a subreaper)', async () => {
    const dir = tempDir();
    run = await startRun(dir, orphaningWorker(dir), {}, /ready/);
    let orphan = 0;
    await until(5000, 'the orphan re-parented to the supervisor', () => (orphan = childrenOf(run!.pid).find((p) => commandOf(p).endsWith(` orphan ${dir}`)) ?? 0) > 0);
    process.kill(orphan, 'SIGKILL');
    await until(5000, () => `the orphan reaped (state ${fs.existsSync(`/proc/${orphan}`) ? processState(orphan) : 'gone'})`, () => !fs.existsSync(`/proc/${orphan}`));
    assert.match(run.log(), new RegExp(`reaped orphan ${orphan}`));
    const worker = childrenOf(run.pid).find((p) => commandOf(p).endsWith(` worker ${dir}`))!;
    process.kill(worker, 'SIGTERM');
    assert.equal(await run.exited, 143, run.log());
  });

  it('as PID 1 of a pid namespace (unshare --pid --fork --mount-proc): orphans are reaped, the worker\'s status comes out', async function () {
    const dir = tempDir();
    try {
      execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
    } catch {
      this.skip(); // no unshare, or not allowed to (needs CAP_SYS_ADMIN)
    }
    run = await startRun(dir, orphaningWorker(dir), {}, /ready/, ['unshare', '--pid', '--fork', '--mount-proc']);
    const supervisor = childrenOf(run.pid).find((p) => commandOf(p).includes(' run --pid-file '))!;
    assert.ok(supervisor, 'the supervisor runs under unshare');
    assert.equal(pidIn(run.runPidFile), 1, 'it is PID 1 there (its pid file says so)');
    let orphan = 0;
    await until(5000, 'the orphan re-parented to PID 1', () => (orphan = childrenOf(supervisor).find((p) => commandOf(p).endsWith(` orphan ${dir}`)) ?? 0) > 0);
    process.kill(orphan, 'SIGKILL');
    await until(5000, () => `the orphan reaped (state ${fs.existsSync(`/proc/${orphan}`) ? processState(orphan) : 'gone'})`, () => !fs.existsSync(`/proc/${orphan}`));
    const worker = childrenOf(supervisor).find((p) => commandOf(p).endsWith(` worker ${dir}`))!;
    process.kill(worker, 'SIGTERM');
    assert.equal(await run.exited, 143, run.log());
    assert.match(run.log(), /reaped orphan /);
  });
});
