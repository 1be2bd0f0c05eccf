// Issue 18, item 13: the files the engine keeps. The pid file, deleted while
// a version serves or while the old version stands by, is rewritten by
// whoever it should name (within PID_FILE_CHECK_MS); a state dir on a
// read-only file system refuses a start, or rolls an upgrade back, with a
// coded error that names the path and the fix (EROFS was reported raw).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { cannotMount, SmallTmpfs, unmountAll } from '../helpers/mounts';
import { Pinger } from '../helpers/pinger';
import { collect } from '../helpers/process';
import { fdCountOf, soleServer, startServe, stopServing } from '../helpers/serve';
import { cliPath } from '../../src/project';

const CLI = cliPath();

describe('hot-upgrade engine: the pid file and the state dir', function () {
  this.timeout(60_000);
  after(unmountAll);

  it('rewrites the pid file deleted while serving, within about a second', async () => {
    const serve = await startServe(tempDir());
    try {
      const mark = serve.log().length;
      fs.rmSync(serve.pidFile);
      const deleted = Date.now();
      await until(3000, () => `the pid file rewritten\n${serve.log()}`, () => fs.existsSync(serve.pidFile) && serve.pidInFile() === serve.pid, 10);
      console.log(`      rewritten ${Date.now() - deleted} ms after it was deleted`);
      await serve.waitForLog(/the pid file \S+ was missing: rewritten/, 1000, mark);
    } finally {
      await stopServing(serve);
    }
  });

  it('rewrites the pid file deleted while the old version stands by: the new version, which it names, does', async () => {
    const serve = await startServe(tempDir(), ['--standby', '5000'], { FDLAB_HANDOVER_HOOK: 'old:standby=stop' });
    const pinger = await Pinger.connect(serve.port, 10);
    try {
      pinger.start(20);
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/took over the listener and the first 10 connections/);
      const successor = Number(serve.log().match(/started the successor: pid (\d+)/)![1]);
      await until(3000, 'the pid file to name the new version', () => serve.pidInFile() === successor);
      fs.rmSync(serve.pidFile);
      await until(3000, () => `the pid file rewritten by the new version\n${serve.log()}`, () => fs.existsSync(serve.pidFile) && serve.pidInFile() === successor, 10);
      process.kill(serve.pid, 'SIGCONT');
      await serve.waitForLog(/standby over: released our copies of 10 connections/);
      assert.equal(await soleServer(serve), successor);
      assert.equal(serve.pidInFile(), successor);
      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 }, serve.log());
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  describe('a state dir on a read-only file system', function () {
    let skip: string | null = null;
    before(function () {
      skip = cannotMount(tempDir());
      if (skip) console.log(`      skipped: ${skip}`);
    });

    it('refuses a start with ERR_STATE_DIR naming the path and the fix', async function () {
      if (skip) this.skip();
      const dir = tempDir();
      const stateDir = path.join(dir, 'state');
      const tmpfs = SmallTmpfs.mount(stateDir, 64);
      try {
        fs.chmodSync(stateDir, 0o700);
        tmpfs.readOnly();
        const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--pid-file', path.join(dir, 'x.pid'), '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
        const run = await collect(child);
        assert.notEqual(run.code, 0);
        const lock = path.join(stateDir, 'owner.lock');
        assert.match(run.stderr, new RegExp(`cannot open the state dir lock ${lock}: EROFS \\(open\\); its file system is mounted read-only: remount it read-write, or pick another stateDir \\(fdlab serve: --state-dir\\) \\[ERR_STATE_DIR\\]`));
      } finally {
        tmpfs.unmount();
      }
    });

    it('rolls an upgrade back with ERR_UPGRADE_SOCKET naming the path and the fix, and upgrades once it is writable', async function () {
      if (skip) this.skip();
      const dir = tempDir();
      const tmpfs = SmallTmpfs.mount(path.join(dir, 'state'), 64);
      const pinger = { current: undefined as Pinger | undefined };
      let serve;
      try {
        fs.chmodSync(tmpfs.dir, 0o700);
        serve = await startServe(dir);
        pinger.current = await Pinger.connect(serve.port, 10);
        pinger.current.start(20);
        const fdsBefore = fdCountOf(serve.pid);
        tmpfs.readOnly();
        process.kill(serve.pid, 'SIGUSR2');
        const socket = path.join(serve.stateDir, 'upgrade.sock');
        await serve.waitForLog(new RegExp(`upgrade failed in state 'starting-successor': cannot create the upgrade socket ${socket}: EROFS \\(\\w+\\); its file system is mounted read-only: remount it read-write, or pick another stateDir \\(fdlab serve: --state-dir\\); rolling back`));
        await serve.waitForLog(/rolled back: serving 10 connections again \[ERR_UPGRADE_SOCKET\]/);
        assert.equal(await soleServer(serve), serve.pid);
        assert.equal(fdCountOf(serve.pid), fdsBefore, 'no fd left behind');
        tmpfs.readWrite();
        const mark = serve.log().length;
        process.kill(serve.pid, 'SIGUSR2');
        await serve.waitForLog(/upgraded 10 connections: gap \d+ ms/, 15_000, mark);
        const last = await soleServer(serve);
        await until(5000, 'the pid file to name the new version', () => serve!.pidInFile() === last);
        const counts = await pinger.current.stop();
        assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 }, serve.log());
      } finally {
        pinger.current?.close();
        if (serve) await stopServing(serve);
        tmpfs.unmount();
      }
    });
  });
});
