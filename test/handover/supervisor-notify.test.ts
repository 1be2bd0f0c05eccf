// Issue 20, item 2: systemd Type=notify without systemd. The supervisor sends
// READY=1 when the first worker serves, RELOADING=1 with MONOTONIC_USEC (what
// systemd >= 253 asks for) when an upgrade starts and READY=1 when it settles
// (upgraded, or rolled back), STOPPING=1 on a stop, each with a STATUS= line;
// a datagram socket at NOTIFY_SOCKET records them in order.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { recordNotifySocket, type NotifySocket } from '../helpers/notify-socket';
import { killRun, serveCommand, startArgv, startRun, type Running } from '../helpers/run';
import { execFileSync } from 'node:child_process';
import { cliPath, projectPath } from '../../src/project';

/** The sd_notify state each message carries (READY, RELOADING or STOPPING), in order. */
function states(recorder: NotifySocket): string[] {
  return recorder.fields().map((f) => ['READY', 'RELOADING', 'STOPPING'].find((key) => f[key] === '1') ?? 'STATUS');
}

function monotonicUsec(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

describe('fdlab run under systemd Type=notify: sd_notify messages (issue 20)', function () {
  this.timeout(60_000);
  let run: Running | null = null;
  let recorder: NotifySocket | null = null;

  afterEach(async () => {
    recorder?.close();
    recorder = null;
    if (run) await killRun(run);
    run = null;
  });

  it('READY=1 when the first worker serves; RELOADING=1 (MONOTONIC_USEC) and READY=1 around an upgrade; STOPPING=1; STATUS= on each', async () => {
    const dir = tempDir();
    recorder = await recordNotifySocket(path.join(tempDir(), 'notify.sock')); // not in dir: workers() looks for dir in command lines
    run = await startRun(dir, serveCommand(dir, ['--standby', '1000']), { NOTIFY_SOCKET: recorder.path });
    const first = Number(fs.readFileSync(run.servePidFile, 'utf8'));
    await until(5000, () => `READY=1 (${recorder!.messages().join(' | ')})`, () => states(recorder!).includes('READY'));
    assert.deepEqual(recorder.messages(), [`READY=1\nSTATUS=serving: pid ${first}`]);
    const before = monotonicUsec();
    process.kill(run.pid, 'SIGUSR2');
    await run.waitForLog(new RegExp(`worker pid ${first} exited \\(code 0\\); serving: (\\d+)`), 20_000);
    const after = monotonicUsec();
    const second = Number(fs.readFileSync(run.servePidFile, 'utf8'));
    await until(5000, () => `a second READY=1 (${recorder!.messages().join(' | ')})`, () => states(recorder!).filter((s) => s === 'READY').length === 2);
    const fields = recorder.fields();
    const reloading = fields.find((f) => f.RELOADING === '1')!;
    assert.equal(reloading.STATUS, `upgrading: pid ${first} is starting its successor`);
    const usec = Number(reloading.MONOTONIC_USEC);
    assert.ok(usec >= before && usec <= after, `MONOTONIC_USEC ${usec} is CLOCK_MONOTONIC at the upgrade (between ${before} and ${after})`);
    assert.equal(fields.filter((f) => f.READY === '1')[1].STATUS, `serving: pid ${second} (generation 2)`);
    // The old worker's 'handed-over' and the new one's 'serving' come in either order; the last STATUS=
    // of the upgrade (what `systemctl status` keeps) names the version serving either way.
    await until(5000, () => `the handed-over STATUS (${recorder!.messages().join(' | ')})`, () => recorder!.fields().some((f) => f.STATUS === `pid ${first}: handed-over` || f.STATUS === `serving: pid ${second} (generation 2); pid ${first} handed over`));
    assert.match(recorder.fields().at(-1)!.STATUS, new RegExp(`^serving: pid ${second} \\(generation 2\\)(; pid ${first} handed over)?$`), recorder.messages().join(' | '));
    process.kill(run.pid, 'SIGTERM');
    assert.equal(await run.exited, 0, run.log());
    await until(5000, 'STOPPING=1', () => states(recorder!).includes('STOPPING'));
    // Informational STATUS lines may come between; the states come in this order, once each.
    assert.deepEqual(states(recorder).filter((s) => s !== 'STATUS'), ['READY', 'RELOADING', 'READY', 'STOPPING'], recorder.messages().join(' | '));
    assert.equal(recorder.fields().at(-1)!.STATUS, 'stopping (SIGTERM)');
    // All from the supervisor, the main pid for good: NotifyAccess=main (the default) accepts each; the workers say nothing.
    assert.deepEqual([...new Set(recorder.senders())], [run.pid], recorder.messages().join(' | '));
  });

  it('an upgrade that rolls back (the successor killed before its hello): READY=1 again once the old worker serves again', async () => {
    const dir = tempDir();
    recorder = await recordNotifySocket(path.join(tempDir(), 'notify.sock')); // not in dir: workers() looks for dir in command lines
    run = await startRun(dir, serveCommand(dir), { NOTIFY_SOCKET: recorder.path, FDLAB_HANDOVER_HOOK: 'new:hello-sent=kill' });
    const first = Number(fs.readFileSync(run.servePidFile, 'utf8'));
    process.kill(run.pid, 'SIGUSR2');
    await until(10_000, () => `a second READY=1 (${recorder!.messages().join(' | ')})`, () => states(recorder!).filter((s) => s === 'READY').length === 2);
    assert.deepEqual(states(recorder).filter((s) => s !== 'STATUS'), ['READY', 'RELOADING', 'READY']);
    assert.ok(recorder.fields().some((f) => f.STATUS === `pid ${first}: rolled-back`), recorder.messages().join(' | '));
    assert.equal(recorder.fields().filter((f) => f.READY === '1')[1].STATUS, `serving: pid ${first}`);
    assert.deepEqual(run.workers(), [first]);
  });

  it('an abstract NOTIFY_SOCKET (@name) gets READY=1 too', async () => {
    const dir = tempDir();
    recorder = await recordNotifySocket(`@fdlab-notify-${process.pid}-${path.basename(dir)}`);
    run = await startRun(dir, serveCommand(dir), { NOTIFY_SOCKET: recorder.path });
    await until(5000, () => `READY=1 (${recorder!.messages().join(' | ')})`, () => states(recorder!).includes('READY'));
  });

  it('examples/production/fdlab.service: its ExecStart and ExecReload, as systemd would run them, give READY=1, RELOADING=1, READY=1; SIGTERM (KillMode=mixed) stops all', async () => {
    const dir = tempDir();
    recorder = await recordNotifySocket(path.join(tempDir(), 'notify.sock'));
    const unit = fs.readFileSync(projectPath('examples', 'production', 'fdlab.service'), 'utf8');
    const line = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, 'm'))![1];
    assert.equal(line('Type'), 'notify');
    // This build for /usr/bin/fdlab, a temp dir for /run/fdlab (RuntimeDirectory), port 0 for 7000.
    const start = line('ExecStart').split(' ').flatMap((word) => (word === '/usr/bin/fdlab' ? [process.execPath, cliPath()] : [word.replace('/run/fdlab', dir).replace(/^7000$/, '0')]));
    assert.deepEqual(start.slice(2, 5), ['run', '--pid-file', path.join(dir, 'run.pid')]);
    run = await startArgv(dir, start, { NOTIFY_SOCKET: recorder.path });
    const first = Number(fs.readFileSync(run.servePidFile, 'utf8'));
    await until(5000, () => `READY=1 (${recorder!.messages().join(' | ')})`, () => states(recorder!).includes('READY'));
    execFileSync('sh', ['-c', line('ExecReload')], { env: { ...process.env, MAINPID: String(run.pid) } });
    await until(20_000, () => `READY=1 after the reload (${recorder!.messages().join(' | ')})`, () => states(recorder!).filter((s) => s === 'READY').length === 2);
    const second = Number(fs.readFileSync(run.servePidFile, 'utf8'));
    assert.notEqual(second, first, 'a new worker serves');
    assert.equal(recorder.fields().filter((f) => f.READY === '1')[1].STATUS, `serving: pid ${second} (generation 2)`);
    process.kill(run.pid, 'SIGTERM');
    assert.equal(await run.exited, 0, run.log());
    assert.deepEqual(run.workers(), []);
    assert.deepEqual(states(recorder).filter((s) => s !== 'STATUS'), ['READY', 'RELOADING', 'READY', 'STOPPING']);
  });
});
