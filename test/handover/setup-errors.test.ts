// An operator's bad day before the handover even starts: a state dir that is
// too deep, someone else's, open to others or a symlink is refused at start;
// a file squatting on the upgrade socket's name, a deleted state dir and
// running out of fds during an upgrade roll back (or recover) with a log line
// and every connection still served.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { collect } from '../helpers/process';
import { soleServer, startServe, stopServing, type Serving } from '../helpers/serve';
import { cliPath } from '../../src/project';

const CLI = cliPath();

/**
 * A RLIMIT_NOFILE that leaves `pid` no fd to open: the kernel gives the
 * lowest free number, and refuses (EMFILE) any number at or above the limit.
 */
function noFreeFd(pid: number): number {
  const open = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
  let lowestFree = 0;
  while (open.has(lowestFree)) lowestFree += 1;
  return lowestFree;
}

function processState(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

async function serveFails(stateDir: string): Promise<{ code: number | null; stderr: string }> {
  const dir = tempDir();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--pid-file', path.join(dir, 'x.pid'), '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = await collect(child);
  assert.equal(fs.existsSync(path.join(dir, 'x.pid')), false, 'no pid file for a server that never served');
  return done;
}

/** One upgrade attempt that must roll back, then one that must go through. */
async function rollsBackThenRecovers(serve: Serving, pinger: Pinger, why: RegExp, repair: () => void, start = () => process.kill(serve.pid, 'SIGUSR2')): Promise<void> {
  let mark = serve.log().length;
  start();
  await serve.waitForLog(why, 10_000, mark);
  await serve.waitForLog(/rolled back: serving 12 connections again/, 10_000, mark);
  assert.equal(await soleServer(serve), serve.pid);
  repair();
  mark = serve.log().length;
  process.kill(serve.pid, 'SIGUSR2');
  await serve.waitForLog(/upgraded 12 connections/, 15_000, mark);
  const counts = await pinger.stop();
  assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 }, serve.log());
}

describe('hot-upgrade engine: setup errors', function () {
  this.timeout(40_000);

  it('refuses at start a state dir whose socket path would not fit in sun_path', async () => {
    const deep = path.join(tempDir(), 'd'.repeat(100));
    const run = await serveFails(deep);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the upgrade socket path .* is \d+ bytes; a Unix socket path holds at most 107: use a shorter stateDir \(fdlab serve: --state-dir\) \[ERR_SOCKET_PATH_TOO_LONG\]/);
  });

  it("refuses at start a state dir that is someone else's, open to others, or a symlink, and leaves it as it was", async () => {
    const foreign = tempDir();
    fs.chownSync(foreign, 12345, 12345);
    const open = tempDir();
    fs.chmodSync(open, 0o755);
    const link = path.join(tempDir(), 'link');
    fs.symlinkSync(tempDir(), link);
    for (const [dir, problem] of [[foreign, /belongs to uid 12345, not to us/], [open, /has mode 755: others may enter it/], [link, /is not a directory \(a symlink or a file\)/]] as const) {
      const run = await serveFails(dir);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, problem);
      assert.match(run.stderr, /remove it or pick another stateDir \(fdlab serve: --state-dir; .*\[ERR_STATE_DIR_UNSAFE\]/);
    }
    assert.equal(fs.statSync(foreign).uid, 12345, 'never repaired: someone may have made it on purpose');
    assert.equal(fs.statSync(open).mode & 0o777, 0o755);
  });

  it('rolls back when a plain file squats on upgrade.sock, and upgrades once it is gone', async () => {
    const serve = await startServe(tempDir(), ['--standby', '200']);
    const pinger = await Pinger.connect(serve.port, 12);
    try {
      pinger.start();
      const squatter = path.join(serve.stateDir, 'upgrade.sock');
      fs.writeFileSync(squatter, 'not a socket');
      await rollsBackThenRecovers(serve, pinger, /upgrade failed in state 'starting-successor': .*upgrade\.sock exists and is not a socket; remove it/, () => fs.rmSync(squatter));
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('makes the state dir again when it was deleted while serving', async () => {
    const serve = await startServe(tempDir(), ['--standby', '200']);
    const pinger = await Pinger.connect(serve.port, 12);
    try {
      pinger.start();
      fs.rmSync(serve.stateDir, { recursive: true });
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/upgraded 12 connections/, 15_000);
      assert.equal(fs.statSync(serve.stateDir).mode & 0o777, 0o700);
      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 });
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('rolls back when it runs out of fds as it copies the listener and connections (EMFILE), and upgrades once the limit is raised', async () => {
    const serve = await startServe(tempDir(), ['--standby', '200'], { FDLAB_HANDOVER_HOOK: 'old:sending-copies=stop' });
    const pinger = await Pinger.connect(serve.port, 12);
    try {
      pinger.start();
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/hook: old:sending-copies=stop/);
      await until(5000, 'the old version to stop', () => processState(serve.pid) === 'T');
      // No free fd: its copy of the listener fails.
      execFileSync('prlimit', ['--pid', String(serve.pid), `--nofile=${noFreeFd(serve.pid)}:`]);
      await rollsBackThenRecovers(serve, pinger, /out of file descriptors .*raise the limit \(ulimit -n\) and upgrade again/, () =>
        execFileSync('prlimit', ['--pid', String(serve.pid), '--nofile=4096:']), () => process.kill(serve.pid, 'SIGCONT'));
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('rolls back when it runs out of fds before the upgrade socket exists (EMFILE), and upgrades once the limit is raised', async () => {
    const serve = await startServe(tempDir(), ['--standby', '200']);
    const pinger = await Pinger.connect(serve.port, 12);
    try {
      pinger.start();
      // No room for one more fd: the upgrade socket itself cannot be made.
      const limit = noFreeFd(serve.pid);
      execFileSync('prlimit', ['--pid', String(serve.pid), `--nofile=${limit}:`]);
      await rollsBackThenRecovers(serve, pinger, /out of file descriptors .*raise the limit \(ulimit -n\) and upgrade again|EMFILE/, () =>
        execFileSync('prlimit', ['--pid', String(serve.pid), '--nofile=4096:']));
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });
});
