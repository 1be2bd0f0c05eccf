// Issue 18, item 3: the new version cannot write the pid file (its directory
// deleted, read-only, or full). It proves it can before its ack: the pid
// file's temporary file is created and written then, and only renamed at the
// commit. A failure before the ack refuses (the old version rolls back); a
// failure at the commit hands everything back to the old version standing by
// (the new one serves nothing and exits). Each fault is made while one side
// is stopped by a hook, then that side goes on (SIGCONT). At the end: one
// version serving, named by the pid file once its directory is repaired,
// every connection open, every ping answered once, no orphan, no fd leaked,
// and the next upgrade goes through.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { cannotMount, SmallTmpfs, unmountAll } from '../helpers/mounts';
import { Pinger } from '../helpers/pinger';
import { fdCountOf, processesUsing, processState, soleServer, startServe, stopServing, type Serving } from '../helpers/serve';

const CONNECTIONS = 30;

type Fault = 'deleted' | 'read-only' | 'full';
type When = 'before the ack' | 'between the ack and the commit' | 'after the commit';

/** The hook that stops one side at the moment, and whom to continue. */
const HOOKS: Record<When, string> = {
  // The new version has the copies coming, nothing prepared yet.
  'before the ack': 'new:receiving=stop',
  // The old version stops before it reads the ack: the new one has written its temporary pid file.
  'between the ack and the commit': 'old:awaiting-ack=stop',
  // The new version has the commit, and has not renamed its pid file yet.
  'after the commit': 'new:serving-standby=stop',
};

/** Who serves at the end, and the log line that says how it ended. */
function expected(fault: Fault, when: When): { survivor: 'old' | 'new'; outcome: RegExp } {
  if (when === 'before the ack') {
    return { survivor: 'old', outcome: /upgrade failed in state 'awaiting-ack': the new version could not take over: cannot write the pid file \S+: E[A-Z]+ \(\w+\); [^\n]*\[ERR_PID_FILE\]; rolling back[^]*rolled back: serving 30 connections again/ };
  }
  // The temporary file holds the pid already: renaming it needs no space.
  if (fault === 'full') return { survivor: 'new', outcome: /upgraded 30 connections: gap \d+ ms/ };
  return { survivor: 'old', outcome: /cannot write the pid file \S+: E[A-Z]+ \(rename\); [^\n]*; serving nothing: handed everything back to the old version \(pid \d+\), which stands by \[ERR_PID_FILE\][^]*took everything back: serving 30 connections again/ };
}

async function answered(serve: Serving, pinger: Pinger): Promise<void> {
  const target = pinger.pongs + 3 * CONNECTIONS;
  await until(10_000, () => `pongs from the server left (${pinger.pongs} of ${target})\n${serve.log()}`, () => pinger.pongs >= target || pinger.disconnects > 0, 10);
}

describe('hot-upgrade engine: the new version cannot write the pid file', function () {
  this.timeout(60_000);
  let skip: string | null = null;

  before(function () {
    skip = cannotMount(tempDir());
  });
  after(unmountAll);

  const cases: [Fault, When][] = [];
  for (const when of Object.keys(HOOKS) as When[]) for (const fault of ['deleted', 'read-only', 'full'] as Fault[]) cases.push([fault, when]);

  for (const [fault, when] of cases) {
    const { survivor: who, outcome } = expected(fault, when);
    it(`its directory ${fault} ${when}: ${who === 'old' ? 'the old version keeps' : 'the new version gets'} every connection`, async function () {
      if (skip && fault !== 'deleted') {
        console.log(`      skipped: ${skip}`);
        this.skip();
      }
      const dir = tempDir();
      const pidDir = path.join(dir, 'pids');
      const pidFile = path.join(pidDir, 'serve.pid');
      const tmpfs = fault === 'deleted' ? (fs.mkdirSync(pidDir), null) : SmallTmpfs.mount(pidDir, 64);
      let serve: Serving | undefined;
      let pinger: Pinger | undefined;
      try {
        const hook = HOOKS[when];
        // The deadline is not what is tested: under load the test's own step between the hook and SIGCONT took 4.7 s once, and 5 s rolled back on the deadline instead.
        // The standby matters only where the fault comes after the commit (the old version must still stand by to take back);
        // elsewhere every upgrade of the row waits it out before the old version exits: 0.5 s, not 2 s (the file: 31 s -> ~22 s).
        const standby = when === 'after the commit' ? '2000' : '500';
        serve = await startServe(dir, ['--pid-file', pidFile, '--upgrade-timeout', '15000', '--standby', standby], { FDLAB_HANDOVER_HOOK: hook });
        const pidInFile = () => Number(fs.readFileSync(pidFile, 'utf8'));
        assert.equal(pidInFile(), serve.pid);
        pinger = await Pinger.connect(serve.port, CONNECTIONS);
        pinger.start(20);
        const fdsBefore = fdCountOf(serve.pid);
        process.kill(serve.pid, 'SIGUSR2');
        await serve.waitForLog(new RegExp(`hook: ${hook}`));
        const successor = processesUsing(dir).find((pid) => pid !== serve!.pid)!;
        if (when === 'between the ack and the commit') {
          // Deterministic: the new version's temporary pid file exists once it proved it can write.
          await until(5000, () => `the successor's temporary pid file\n${serve!.log()}`, () => fs.existsSync(`${pidFile}.${successor}.tmp`));
        }
        const stopped = when === 'between the ack and the commit' ? serve.pid : successor;
        // The hook logs, then stops itself: a SIGCONT sent between the two is lost and the process stays
        // stopped (seen twice in a loaded full run: 10 s with no line after the hook's).
        await until(5000, () => `pid ${stopped} stopped by its hook\n${serve!.log()}`, () => processState(stopped) === 'T');

        if (fault === 'deleted') fs.rmSync(pidDir, { recursive: true });
        else if (fault === 'read-only') tmpfs!.readOnly();
        else tmpfs!.fill();
        process.kill(stopped, 'SIGCONT');

        await serve.waitForLog(outcome);
        const server = await soleServer(serve);
        if (who === 'old') assert.equal(server, serve.pid, 'the old version still serves');
        else assert.equal(server, successor, 'the new version serves');
        await answered(serve, pinger);
        if (who === 'old') assert.equal(fdCountOf(server), fdsBefore, `no fd left behind in the old version\n${serve.log()}`);

        // The operator repairs the directory: the pid file names the server again (rewritten if it was lost).
        if (fault === 'deleted') fs.mkdirSync(pidDir);
        else if (fault === 'read-only') tmpfs!.readWrite();
        else tmpfs!.free();
        await until(5000, () => `the pid file to name pid ${server}\n${serve!.log()}`, () => {
          try {
            return pidInFile() === server;
          } catch {
            return false;
          }
        }, 20);

        // The next upgrade goes through, and the pid file names the last version.
        const mark = serve.log().length;
        process.kill(server, 'SIGUSR2');
        await serve.waitForLog(/upgraded 30 connections: gap \d+ ms/, 15_000, mark);
        const last = await soleServer(serve);
        assert.notEqual(last, server);
        await until(5000, 'the pid file to name the last version', () => pidInFile() === last);
        await answered(serve, pinger);

        const counts = await pinger.stop();
        assert.deepEqual({ disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { disconnects: 0, garbage: 0, lost: 0 }, serve.log());
      } finally {
        pinger?.close();
        if (serve) await stopServing(serve);
        tmpfs?.unmount();
      }
    });
  }
});
