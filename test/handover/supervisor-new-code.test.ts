// Bad new code under `fdlab run` (issue 20): the supervisor runs the same
// command for every upgrade, so a broken build at that path is what the
// successor runs. It exits 1 before it serves, then it hangs before its hello:
// each time the old worker rolls back and serves on (the hung one is SIGKILLed
// at --upgrade-timeout), the supervisor stays, its pid file names it, no
// zombie is left; then good code upgrades.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { endRun, startRun, type Running } from '../helpers/run';
import { cliPath } from '../../src/project';

const CONNECTIONS = 30;

/** The children of `pid` in state Z (exited, not reaped). */
function zombieChildrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return state === 'Z' && Number(parent) === pid;
    } catch {
      return false;
    }
  });
}

describe('fdlab run: the new code fails (issue 20)', function () {
  this.timeout(60_000);
  let run: Running | null = null;
  let pinger: Pinger | null = null;

  afterEach(async () => {
    await endRun(run, pinger);
    run = pinger = null;
  });

  it('v2 exits 1, then v2 hangs before its hello: rolled back each time, the supervisor stays; then v3 upgrades; nothing lost', async () => {
    const dir = tempDir();
    const app = path.join(dir, 'app.js');
    // The app as deployed: a file the worker command runs; a deploy rewrites it.
    const good = `process.argv.splice(1, 1, ${JSON.stringify(cliPath())}, 'serve'); require(${JSON.stringify(cliPath())});\n`;
    fs.writeFileSync(app, good);
    const command = [process.execPath, app, '--port', '0', '--pid-file', path.join(dir, 'serve.pid'), '--state-dir', path.join(dir, 'state'), '--standby', '300', '--upgrade-timeout', '1000'];
    run = await startRun(dir, command);
    const first = Number(fs.readFileSync(run.servePidFile, 'utf8'));
    pinger = await Pinger.connect(run.port, CONNECTIONS);
    pinger.start();
    const bad: [string, RegExp][] = [
      ['console.error("v2: cannot start"); process.exit(1);', /the successor exited \(code 1\) before the commit[^\n]*rolling back/],
      ['setInterval(() => {}, 1e9);', /the upgrade deadline passed[^\n]*rolling back/],
    ];
    for (const [code, failed] of bad) {
      fs.writeFileSync(app, code);
      const from = run.log().length;
      process.kill(run.pid, 'SIGUSR2');
      const successor = Number((await run.waitForLog(/started worker pid (\d+) \(generation 2\)/, 10_000, from))[1]);
      await run.waitForLog(failed, 10_000, from);
      await run.waitForLog(/rolled back: serving 30 connections again/, 10_000, from);
      await run.waitForLog(new RegExp(`worker pid ${successor} exited \\((code 1|SIGKILL)\\); serving: ${first}\\n`), 10_000, from);
      assert.deepEqual(run.workers(), [first], run.log());
      assert.deepEqual(zombieChildrenOf(run.pid), [], 'the failed successor is reaped');
      assert.equal(Number(fs.readFileSync(run.runPidFile, 'utf8')), run.pid);
      assert.equal(Number(fs.readFileSync(run.servePidFile, 'utf8')), first);
    }
    fs.writeFileSync(app, good);
    const from = run.log().length;
    process.kill(run.pid, 'SIGUSR2');
    const next = Number((await run.waitForLog(new RegExp(`worker pid ${first} exited \\(code 0\\); serving: (\\d+)\\n`), 10_000, from))[1]);
    assert.deepEqual(run.workers(), [next]);
    assert.equal(Number(fs.readFileSync(run.servePidFile, 'utf8')), next);
    const counts = await pinger.settle();
    assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, run.log());
  });
});
