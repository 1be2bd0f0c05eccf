// Issue 20, item 2, with a real systemd: the machine's own (Debian 12:
// systemd 252) booted as PID 1 of a pid + mount namespace
// (test/helpers/systemd.ts) runs docs/production.md's two unit files
// (examples/production/fdlab.service and fdlab-serve.service) and the test
// drives it with systemctl: start (READY, MainPID), two `systemctl reload`s
// (ExecReload=kill -USR2 $MAINPID) under 100 ping/pong connections, each
// followed by `systemctl show`, then `systemctl stop`, after which no process
// is left in the namespace. The units are run as written but for: this
// build for /usr/bin/fdlab, port 0 for 7000, --standby 1000 appended to the
// `fdlab serve` command (as in serve-notify.test.ts), and a drop-in sending
// the service's output to a file (no journald runs).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { bootSystemd, cannotBoot, pollUntil, type Systemd } from '../helpers/systemd';
import { cliPath, projectPath } from '../../src/project';

const CONNECTIONS = 100;
const SHOWN = ['MainPID', 'ActiveState', 'SubState', 'StatusText', 'Result', 'ExecMainCode', 'ExecMainStatus'];

/** An example unit as this test runs it (see the header). */
function unitFrom(file: string): string {
  return fs
    .readFileSync(projectPath('examples', 'production', file), 'utf8')
    .replace(/\/usr\/bin\/fdlab/g, `${process.execPath} ${cliPath()}`)
    .replace(/ --port 7000 /, ' --port 0 ')
    .replace(/^(ExecStart=.*)$/m, '$1 --standby 1000');
}

describe('a real systemd (252, PID 1 of a namespace) runs the documented units (issue 20)', function () {
  this.timeout(60_000);
  let sd: Systemd | null = null;
  let pinger: Pinger | null = null;
  const logs = tempDir('fdlab-systemd-logs-');
  const output = (unit: string) => `[Service]\nStandardOutput=append:${path.join(logs, unit)}.log\nStandardError=inherit\n`;
  const logOf = (unit: string) => fs.readFileSync(path.join(logs, `${unit}.log`), 'utf8');
  // The serve unit without its ExecStop: what systemd does to a stop then.
  const withoutStop = unitFrom('fdlab-serve.service').replace(/^ExecStop=.*\n/m, '');

  before(async function () {
    assert.notEqual(withoutStop, unitFrom('fdlab-serve.service'), 'the serve unit has an ExecStop= line');
    let reason = cannotBoot();
    if (!reason) {
      try {
        sd = await bootSystemd({
          'fdlab.service': unitFrom('fdlab.service'),
          'fdlab.service.d/output.conf': output('fdlab'),
          'fdlab-serve.service': unitFrom('fdlab-serve.service'),
          'fdlab-serve.service.d/output.conf': output('fdlab-serve'),
          'fdlab-serve-nostop.service': withoutStop,
          'fdlab-serve-nostop.service.d/output.conf': output('fdlab-serve-nostop'),
        });
      } catch (error) {
        reason = `systemd did not boot: ${(error as Error).message}`;
      }
    }
    if (reason) {
      if (process.env.FDLAB_REQUIRE_SYSTEMD === '1') throw new Error(`FDLAB_REQUIRE_SYSTEMD=1 but ${reason}`);
      console.log(`      (skipping the real systemd tests: ${reason.split('\n')[0]}; set FDLAB_REQUIRE_SYSTEMD=1 to make this a failure)`);
      return this.skip();
    }
  });

  afterEach(async () => {
    pinger?.close();
    pinger = null;
    // A failed test leaves its unit running: the next one must start from nothing.
    if (sd) for (const unit of ['fdlab', 'fdlab-serve', 'fdlab-serve-nostop']) await sd.systemctl('stop', `${unit}.service`).catch(() => '');
  });

  after(async () => {
    if (!sd) return;
    const pid = sd.pid;
    await sd.stop();
    sd = null;
    assert.ok(!fs.existsSync(`/proc/${pid}`), `systemd (pid ${pid}) is gone`);
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes('fdlab-systemd-'), `no mount of the namespace left here:\n${mounts}`);
  });

  async function show(unit: string): Promise<Record<string, string>> {
    return sd!.show(unit, SHOWN);
  }

  /** `systemctl stop`: it returns once the unit is stopped; then nothing may be left running. */
  async function stopAndCheck(unit: string): Promise<Record<string, string>> {
    pinger?.close();
    pinger = null;
    const cgroup = (await sd!.show(unit, ['ControlGroup'])).ControlGroup;
    assert.match(cgroup, /\/system\.slice\//);
    await sd!.systemctl('stop', unit);
    const after = await show(unit);
    assert.equal(after.MainPID, '0', JSON.stringify(after));
    assert.deepEqual(sd!.processes(), [], `no process left in systemd's namespace but systemd (${unit}: ${JSON.stringify(after)})`);
    // The unit's cgroup is gone (systemd removes it once empty) in every hierarchy it tracks processes in.
    for (const root of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup']) {
      const procs = path.join(root, cgroup, 'cgroup.procs');
      if (fs.existsSync(procs)) assert.equal(fs.readFileSync(procs, 'utf8'), '', `${procs} is empty`);
    }
    return after;
  }

  it(`fdlab.service (the supervisor): start → READY, MainPID = the supervisor; 2 × systemctl reload under ${CONNECTIONS} connections: MainPID stays, the status names the new worker, 0 lost; stop: nothing left`, async () => {
    const unit = 'fdlab.service';
    await sd!.systemctl('start', unit); // Type=notify: returns once READY=1 came
    const supervisor = Number(sd!.read('/run/fdlab/run.pid'));
    const first = Number(sd!.read('/run/fdlab/serve.pid'));
    assert.deepEqual(await show(unit), { MainPID: String(supervisor), ActiveState: 'active', SubState: 'running', StatusText: `serving: pid ${first}`, Result: 'success', ExecMainCode: '0', ExecMainStatus: '0' });
    const port = Number(logOf('fdlab').match(/serving on 127\.0\.0\.1:(\d+)/)![1]);
    pinger = await Pinger.connect(port, CONNECTIONS);
    pinger.start();

    let worker = first;
    for (const generation of [2, 3]) {
      const old = worker;
      await sd!.systemctl('reload', unit); // returns when `kill -USR2` has exited, not when the upgrade has
      let shown: Record<string, string> = {};
      await pollUntil(20_000, () => `the status naming generation ${generation} (${JSON.stringify(shown)})\n${logOf('fdlab')}`, async () => {
        shown = await show(unit);
        return shown.ActiveState === 'active' && shown.StatusText.includes(`(generation ${generation})`);
      });
      worker = Number(sd!.read('/run/fdlab/serve.pid'));
      assert.notEqual(worker, old);
      // systemd itself took the upgrade's RELOADING=1 (a reload state) and READY=1, from the supervisor.
      assert.match(sd!.log(), new RegExp(`fdlab\\.service: Got notification message from PID ${supervisor} \\(RELOADING=1, MONOTONIC_USEC=\\d+, STATUS=upgrading: pid ${old} is starting its successor\\)`));
      assert.match(sd!.log(), new RegExp(`fdlab\\.service: Got notification message from PID ${supervisor} \\(READY=1, STATUS=serving: pid ${worker} \\(generation ${generation}\\)\\)`));
      // The next reload once the old worker has gone (a reload during the standby is ignored).
      await until(10_000, () => `worker ${old} exited\n${logOf('fdlab')}`, () => logOf('fdlab').includes(`worker pid ${old} exited (code 0); serving: ${worker}`));
      // The status systemd keeps still names the worker serving: the old worker's 'handed-over' and the new
      // one's 'serving' reach the supervisor in either order, and its last STATUS= of the upgrade says both.
      const status = new RegExp(`^serving: pid ${worker} \\(generation ${generation}\\)(; pid ${old} handed over)?$`);
      const handedOver = new RegExp(`STATUS=(pid ${old}: handed-over|.*; pid ${old} handed over)\\)`);
      await until(5000, () => `systemd got pid ${old}'s handed-over status`, () => handedOver.test(sd!.log()));
      shown = await show(unit);
      assert.match(shown.StatusText, status);
      assert.deepEqual({ ...shown, StatusText: '' }, { MainPID: String(supervisor), ActiveState: 'active', SubState: 'running', StatusText: '', Result: 'success', ExecMainCode: '0', ExecMainStatus: '0' });
    }
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, logOf('fdlab'));
    assert.equal(counts.pongs, counts.pings, 'every ping answered once');

    const after = await stopAndCheck(unit);
    assert.deepEqual([after.ActiveState, after.SubState, after.Result], ['inactive', 'dead', 'success']);
    assert.match(logOf('fdlab'), /exiting with status 0 \(the last worker's\)/);
  });

  it(`fdlab-serve.service (no supervisor, NotifyAccess=all): MainPID follows each new version over 2 reloads under ${CONNECTIONS} connections, 0 lost; its ExecStop makes the stop a clean one`, async () => {
    const unit = 'fdlab-serve.service';
    await sd!.systemctl('start', unit);
    const first = Number(sd!.read('/run/fdlab/serve.pid'));
    assert.deepEqual(await show(unit), { MainPID: String(first), ActiveState: 'active', SubState: 'running', StatusText: `serving: pid ${first}`, Result: 'success', ExecMainCode: '0', ExecMainStatus: '0' });
    const port = Number(logOf('fdlab-serve').match(/serving on 127\.0\.0\.1:(\d+)/)![1]);
    pinger = await Pinger.connect(port, CONNECTIONS);
    pinger.start();

    let main = first;
    for (const generation of [2, 3]) {
      const old = main;
      await sd!.systemctl('reload', unit); // ExecReload=kill -USR2 $MAINPID: the pid of the last MAINPID= systemd took
      let shown: Record<string, string> = {};
      await pollUntil(20_000, () => `a new MainPID (${JSON.stringify(shown)})\n${logOf('fdlab-serve')}`, async () => {
        shown = await show(unit);
        return shown.ActiveState === 'active' && shown.MainPID !== String(old);
      });
      main = Number(shown.MainPID);
      assert.deepEqual(shown, { MainPID: String(main), ActiveState: 'active', SubState: 'running', StatusText: `serving: pid ${main} (generation ${generation})`, Result: 'success', ExecMainCode: '0', ExecMainStatus: '0' });
      assert.equal(Number(sd!.read('/run/fdlab/serve.pid')), main, 'MainPID is the pid the pid file names');
      assert.match(sd!.log(), new RegExp(`fdlab-serve\\.service: Got notification message from PID ${main} \\(MAINPID=${main}, READY=1, `), 'the new version said MAINPID= itself, before it was the main pid: NotifyAccess=all let it through');
      // Only the new version once the old one's standby is over (1 s): the next reload would be ignored before.
      await until(10_000, () => `pid ${old} gone (${sd!.processes().join(', ')})`, () => !sd!.processes().includes(old));
    }
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, logOf('fdlab-serve'));
    assert.equal(counts.pongs, counts.pings, 'every ping answered once');

    const after = await stopAndCheck(unit);
    assert.deepEqual([after.ActiveState, after.SubState, after.Result], ['inactive', 'dead', 'success'], JSON.stringify(after));
    assert.match(logOf('fdlab-serve'), new RegExp(`\\[v1 gen 3 pid ${main}\\] SIGTERM: stopping`));
    assert.match(sd!.log(), new RegExp(`fdlab-serve\\.service: Got notification message from PID ${main} \\(STOPPING=1`));
    assert.match(sd!.log(), /fdlab-serve\.service: Main process exited, code=exited, status=0\/SUCCESS/);
  });

  it('the same unit without ExecStop: after a reload systemd does not wait after its SIGTERM (the main pid is "not our child") and goes straight to SIGKILL', async () => {
    const unit = 'fdlab-serve-nostop.service';
    await sd!.systemctl('start', unit);
    const first = Number((await show(unit)).MainPID);
    await sd!.systemctl('reload', unit);
    let shown: Record<string, string> = {};
    await pollUntil(20_000, () => `a new MainPID (${JSON.stringify(shown)})`, async () => {
      shown = await show(unit);
      return shown.ActiveState === 'active' && shown.MainPID !== String(first);
    });
    const next = Number(shown.MainPID);
    assert.match(sd!.log(), new RegExp(`fdlab-serve-nostop\\.service: Supervising process ${next} which is not our child`));
    await until(10_000, () => `pid ${first} gone`, () => !sd!.processes().includes(first));
    const from = sd!.log().length;
    const after = await stopAndCheck(unit);
    const stopLog = sd!.log().slice(from);
    // The SIGTERM goes out (unlogged) and, nothing to wait for, the SIGKILL right after it: the version
    // serving rarely gets to stop (measured: 9 of 10 stops ended failed, Result=signal, status 9/KILL).
    // Whether the SIGKILL still finds it is that race (a CI run on Node 24 saw it exit first): the
    // state systemd goes to is not.
    assert.match(stopLog, /fdlab-serve-nostop\.service: Changed running -> stop-sigkill/);
    assert.doesNotMatch(stopLog, /-> stop-sigterm/);
    console.log(`      (without ExecStop the stop ended ${after.ActiveState}, Result=${after.Result}, ExecMainStatus=${after.ExecMainStatus})`);
    await sd!.systemctl('reset-failed', unit).catch(() => '');
  });
});
