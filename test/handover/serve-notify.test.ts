// Issue 20, item 2: `fdlab serve` run directly by systemd (Type=notify, no
// `fdlab run`), without systemd. Each version says it is the main process:
// the first with MAINPID= and READY=1; on an upgrade the old one sends
// RELOADING=1 and the new one, at the commit, MAINPID=<its pid> and READY=1;
// a rollback or a take-back makes the old one say MAINPID=<its pid> again; a
// stop sends STOPPING=1, an old version's exit after a handover nothing. A
// datagram socket at NOTIFY_SOCKET records the messages in order, with each
// sender's pid (SCM_CREDENTIALS: what systemd checks against NotifyAccess=).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { recordNotifySocket, type NotifySocket } from '../helpers/notify-socket';
import { Pinger } from '../helpers/pinger';
import { startArgv } from '../helpers/run';
import { processesUsing, startServe } from '../helpers/serve';
import { cliPath, projectPath } from '../../src/project';

const CONNECTIONS = 30;
// The standby as in operator-signals.test.ts: it must outlast a late heartbeat under load.
const STANDBY = '1000';

/** The sd_notify state each message carries (READY, RELOADING or STOPPING), in order. */
function states(recorder: NotifySocket): string[] {
  return recorder.fields().map((f) => ['READY', 'RELOADING', 'STOPPING'].find((key) => f[key] === '1') ?? 'STATUS');
}

/** The messages as "<sender pid>: <fields>", for failure messages. */
function said(recorder: NotifySocket): string {
  return recorder.messages().map((m, i) => `${recorder.senders()[i]}: ${m.replace(/\n/g, ' ')}`).join(' | ');
}

/** The last MAINPID= said: the unit's main pid as systemd would know it. */
function mainPid(recorder: NotifySocket): number {
  return Number(recorder.fields().filter((f) => f.MAINPID !== undefined).at(-1)?.MAINPID);
}

function pidInFile(dir: string): number {
  return Number(fs.readFileSync(path.join(dir, 'serve.pid'), 'utf8'));
}

describe('fdlab serve under systemd Type=notify, no supervisor: MAINPID= (issue 20)', function () {
  this.timeout(60_000);
  let recorder: NotifySocket | null = null;
  let dir = '';
  let pinger: Pinger | null = null;

  afterEach(async () => {
    pinger?.close();
    pinger = null;
    recorder?.close();
    recorder = null;
    for (const pid of processesUsing(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It exited since we looked (an old version ending its standby).
      }
    }
    await until(5000, `no process of ${dir} left`, () => processesUsing(dir).length === 0);
  });

  it(`examples/production/fdlab-serve.service: ExecStart, then ExecReload twice with the $MAINPID the messages gave, ${CONNECTIONS} connections: MAINPID= is the pid file's pid after each, every ping answered, STOPPING=1 only at the stop`, async () => {
    dir = tempDir();
    recorder = await recordNotifySocket(path.join(tempDir(), 'notify.sock')); // not in dir: processesUsing(dir) looks for dir in command lines
    const unit = fs.readFileSync(projectPath('examples', 'production', 'fdlab-serve.service'), 'utf8');
    const line = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, 'm'))![1];
    assert.equal(line('Type'), 'notify');
    assert.equal(line('NotifyAccess'), 'all');
    // This build for /usr/bin/fdlab, a temp dir for /run/fdlab (RuntimeDirectory), port 0 for 7000;
    // --standby 1000 appended (the default 5 s would make the test 8 s longer).
    const start = line('ExecStart').split(' ').flatMap((word) => (word === '/usr/bin/fdlab' ? [process.execPath, cliPath()] : [word.replace('/run/fdlab', dir).replace(/^7000$/, '0')]));
    assert.deepEqual(start.slice(2, 3), ['serve']);
    const first = await startArgv(dir, [...start, '--standby', STANDBY], { NOTIFY_SOCKET: recorder.path });
    await until(5000, () => `READY=1 (${said(recorder!)})`, () => states(recorder!).includes('READY'));
    assert.deepEqual(recorder.fields()[0], { MAINPID: String(first.pid), READY: '1', STATUS: `serving: pid ${first.pid}` });
    assert.deepEqual(recorder.senders(), [first.pid]);
    pinger = await Pinger.connect(first.port, CONNECTIONS);
    pinger.start();

    const pids = [first.pid];
    for (const generation of [2, 3]) {
      const old = pids.at(-1)!;
      const from: number = recorder.messages().length;
      // What `systemctl reload` runs: $MAINPID is the pid systemd last accepted.
      execFileSync('sh', ['-c', line('ExecReload')], { env: { ...process.env, MAINPID: String(mainPid(recorder)) } });
      await until(20_000, () => `a READY=1 naming a new main pid (${said(recorder!)})`, () => mainPid(recorder!) !== old && states(recorder!).at(-1) === 'READY');
      const next = mainPid(recorder);
      pids.push(next);
      // At the commit, not once alone: the old version still stands by (1 s) when the new one says MAINPID=.
      assert.ok(processesUsing(dir).includes(old), `pid ${old} still standing by when pid ${next} said MAINPID=\n${first.log()}`);
      // The old version goes once the new one has released it (the standby): then only the new one is left.
      await until(10_000, () => `only pid ${next} left (${processesUsing(dir).join(', ')})\n${first.log()}`, () => processesUsing(dir).join() === String(next));
      assert.equal(pidInFile(dir), next, 'MAINPID= names the pid the pid file names');
      const fields = recorder.fields().slice(from);
      const senders = recorder.senders().slice(from);
      assert.deepEqual(states(recorder).slice(from), ['RELOADING', 'READY'], said(recorder));
      assert.equal(senders[0], old, 'RELOADING=1 comes from the old version, the main pid then');
      assert.match(fields[0].MONOTONIC_USEC, /^\d+$/);
      assert.equal(fields[0].STATUS, `upgrading: pid ${old} is starting its successor`);
      // Sent by a process that is not the main pid when it sends it: only NotifyAccess=all lets it through.
      assert.equal(senders[1], next);
      assert.deepEqual(fields[1], { MAINPID: String(next), READY: '1', STATUS: `serving: pid ${next} (generation ${generation})` });
    }
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, first.log());
    assert.equal(counts.pongs, counts.pings, 'every ping answered once');

    // systemctl stop (KillMode=control-group): SIGTERM to every process of the unit; one is left.
    process.kill(pids[2], 'SIGTERM');
    await until(10_000, () => `STOPPING=1 (${said(recorder!)})`, () => states(recorder!).includes('STOPPING'));
    await until(5000, 'no process left', () => processesUsing(dir).length === 0);
    assert.deepEqual(states(recorder), ['READY', 'RELOADING', 'READY', 'RELOADING', 'READY', 'STOPPING'], said(recorder));
    assert.equal(recorder.senders().at(-1), pids[2]);
    assert.deepEqual(recorder.senders(), [pids[0], pids[0], pids[1], pids[1], pids[2], pids[2]], 'each message from the main pid of its moment, or the one becoming it');
  });

  it('an upgrade that rolls back (the successor killed before its hello): the old version says MAINPID=<its pid> and READY=1 again; the successor said nothing', async () => {
    dir = tempDir();
    recorder = await recordNotifySocket(path.join(tempDir(), 'notify.sock'));
    const serve = await startServe(dir, ['--standby', STANDBY], { NOTIFY_SOCKET: recorder.path, FDLAB_HANDOVER_HOOK: 'new:hello-sent=kill' });
    await until(5000, () => `READY=1 (${said(recorder!)})`, () => states(recorder!).includes('READY'));
    process.kill(serve.pid, 'SIGUSR2');
    await until(10_000, () => `a second READY=1 (${said(recorder!)})`, () => states(recorder!).filter((s) => s === 'READY').length === 2);
    assert.deepEqual(states(recorder), ['READY', 'RELOADING', 'READY'], said(recorder));
    assert.deepEqual(recorder.senders(), [serve.pid, serve.pid, serve.pid], said(recorder));
    assert.deepEqual(recorder.fields()[2], { MAINPID: String(serve.pid), READY: '1', STATUS: `serving: pid ${serve.pid} (the upgrade rolled back)` });
    assert.deepEqual(processesUsing(dir), [serve.pid]);
  });

  it('a take-back (the new version killed in the standby, after its MAINPID=): the old version says MAINPID=<its pid> and READY=1 again', async () => {
    dir = tempDir();
    recorder = await recordNotifySocket(path.join(tempDir(), 'notify.sock'));
    const serve = await startServe(dir, ['--standby', STANDBY], { NOTIFY_SOCKET: recorder.path, FDLAB_HANDOVER_HOOK: 'new:serving-standby=kill' });
    await until(5000, () => `READY=1 (${said(recorder!)})`, () => states(recorder!).includes('READY'));
    process.kill(serve.pid, 'SIGUSR2');
    await until(10_000, () => `a third READY=1 (${said(recorder!)})`, () => states(recorder!).filter((s) => s === 'READY').length === 3);
    assert.deepEqual(states(recorder), ['READY', 'RELOADING', 'READY', 'READY'], said(recorder));
    const [, , theirs, ours] = recorder.fields();
    const successor = Number(theirs.MAINPID);
    assert.notEqual(successor, serve.pid);
    assert.deepEqual(recorder.senders(), [serve.pid, serve.pid, successor, serve.pid], said(recorder));
    assert.deepEqual(ours, { MAINPID: String(serve.pid), READY: '1', STATUS: `serving: pid ${serve.pid} (took everything back)` });
    await until(5000, 'the old version alone again, named by the pid file', () => processesUsing(dir).join() === String(serve.pid) && pidInFile(dir) === serve.pid);
  });
});
