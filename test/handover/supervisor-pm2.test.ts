// Issue 20, item 4: pm2 (from npm) runs `fdlab run` in fork mode with
// examples/production/ecosystem.config.js as it is; `pm2 sendSignal SIGUSR2`
// upgrades in place: 0 disconnects over 100 ping connections, 0 restarts
// counted by pm2, one process in its list (the supervisor, whose pid stays),
// nothing left after `pm2 delete`. Before the supervisor, pm2 restarted the
// app when the old version exited (78 restarts looping on EADDRINUSE) while
// the real server ran on as an orphan. PM2_HOME is a temp dir: ~/.pm2 is never
// touched, and the daemon is killed after each test.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { processesUsing } from '../helpers/serve';
import { parentOf } from '../helpers/run';
import { cliPath, projectPath } from '../../src/project';

const run = promisify(execFile);
const PM2 = projectPath('node_modules', 'pm2', 'bin', 'pm2');
const ECOSYSTEM = projectPath('examples', 'production', 'ecosystem.config.js');
const CONNECTIONS = 100;

function alive(pid: number): boolean {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => {
    try {
      return parentOf(p) === pid && alive(p);
    } catch {
      return false;
    }
  });
}

interface Pm2App {
  name: string;
  pid: number;
  pm2_env: { status: string; restart_time: number; unstable_restarts: number };
}

describe('fdlab run under pm2 (issue 20)', function () {
  this.timeout(120_000);
  let home = '';
  let dir = '';
  const name = `fdlab-test-${process.pid}`;
  let pinger: Pinger | null = null;

  const env = () => ({ ...process.env, PM2_HOME: home, FDLAB_DIR: dir, FDLAB_NAME: name, FDLAB_CLI: cliPath(), FDLAB_PORT: '0' });
  const pm2 = async (...args: string[]) => (await run(process.execPath, [PM2, ...args], { env: env() })).stdout;
  const list = async () => (JSON.parse(await pm2('jlist')) as Pm2App[]).filter((app) => app.name === name);
  const log = () => ['out.log', 'err.log'].map((f) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : '')).join('');
  const waitForLog = async (pattern: RegExp, from = 0, ms = 20_000): Promise<RegExpMatchArray> => {
    let match: RegExpMatchArray | null = null;
    await until(ms, () => `${pattern} in the log:\n${log()}`, () => (match = log().slice(from).match(pattern)) !== null, 20);
    return match!;
  };

  beforeEach(() => {
    home = tempDir('fdlab-pm2-home-');
    dir = tempDir('fdlab-pm2-');
  });

  afterEach(async () => {
    pinger?.close();
    pinger = null;
    const daemonPidFile = path.join(home, 'pm2.pid');
    const daemon = fs.existsSync(daemonPidFile) ? Number(fs.readFileSync(daemonPidFile, 'utf8')) : 0;
    await pm2('kill').catch(() => '');
    if (daemon > 0) {
      await until(10_000, `the pm2 daemon (pid ${daemon}) gone`, () => !fs.existsSync(`/proc/${daemon}`) || fs.readFileSync(`/proc/${daemon}/stat`, 'utf8').includes(') Z'), 20);
    }
    for (const pid of processesUsing(dir)) process.kill(pid, 'SIGKILL');
  });

  it(`pm2 sendSignal SIGUSR2, twice: ${CONNECTIONS} connections, 0 dropped, 0 restarts, one process (the supervisor); pm2 delete leaves nothing running`, async () => {
    await pm2('start', ECOSYSTEM);
    const serving = await waitForLog(/serving on 127\.0\.0\.1:(\d+) as pid (\d+)/);
    const supervisor = Number(fs.readFileSync(path.join(dir, 'run.pid'), 'utf8'));
    assert.equal((await list())[0].pid, supervisor, 'pm2 watches the supervisor');
    pinger = await Pinger.connect(Number(serving[1]), CONNECTIONS);
    pinger.start();
    let worker = Number(serving[2]);
    for (let i = 0; i < 2; i++) {
      const from = log().length;
      await pm2('sendSignal', 'SIGUSR2', name);
      worker = Number((await waitForLog(new RegExp(`worker pid ${worker} exited \\(code 0\\); serving: (\\d+)\\n`), from))[1]);
      assert.equal(parentOf(worker), supervisor, 'the new worker is the supervisor\'s child');
    }
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, log());
    assert.equal(counts.pongs, counts.pings, 'every ping answered once');
    const apps = await list();
    assert.equal(apps.length, 1, 'one process in pm2 ls');
    assert.equal(apps[0].pid, supervisor, 'the same supervisor');
    assert.equal(apps[0].pm2_env.status, 'online');
    assert.equal(apps[0].pm2_env.restart_time, 0, 'pm2 restarted nothing');
    assert.equal(apps[0].pm2_env.unstable_restarts, 0);
    // pm2 runs the supervisor through its ProcessContainerFork.js: its command line does not name dir, the worker's does.
    assert.deepEqual(processesUsing(dir), [worker], 'one worker runs');
    assert.deepEqual(childrenOf(supervisor), [worker], 'the supervisor\'s only child');

    await pm2('delete', name);
    await until(20_000, () => `nothing of the service left: ${processesUsing(dir).join(', ')}\n${log()}`, () => processesUsing(dir).length === 0 && !alive(supervisor), 20);
    await until(5000, () => `every connection closed by the server (${pinger!.disconnects})`, () => pinger!.disconnects === CONNECTIONS);
    assert.deepEqual(await list(), [], 'pm2 lists nothing');
    assert.equal(fs.existsSync(path.join(dir, 'run.pid')), false, 'the supervisor removed its pid file');
  });

  it('a worker that dies outside an upgrade: the supervisor exits with its status and pm2 restarts it (one restart, no loop)', async () => {
    await pm2('start', ECOSYSTEM);
    const serving = await waitForLog(/serving on 127\.0\.0\.1:(\d+) as pid (\d+)/);
    const supervisor = (await list())[0].pid;
    const from = log().length;
    process.kill(Number(serving[2]), 'SIGKILL');
    await waitForLog(/exiting with status 137/, from);
    await waitForLog(/serving on 127\.0\.0\.1:(\d+) as pid (\d+)/, from);
    await until(10_000, 'pm2 to count one restart', () => fs.existsSync(path.join(dir, 'run.pid')) && Number(fs.readFileSync(path.join(dir, 'run.pid'), 'utf8')) !== supervisor, 20);
    const apps = await list();
    assert.equal(apps.length, 1);
    assert.equal(apps[0].pm2_env.restart_time, 1, 'restarted once');
    assert.equal(apps[0].pm2_env.status, 'online');
    assert.ok(alive(apps[0].pid), 'a new supervisor');
    assert.deepEqual(childrenOf(apps[0].pid), processesUsing(dir), 'and its one worker');
    assert.equal(processesUsing(dir).length, 1);
    assert.equal(alive(supervisor), false, 'the old supervisor is gone');
  });
});
