// Issue 18, item 13: one state dir has one owner. Two `fdlab serve` on one
// state dir each replaced the other's upgrade socket and both rolled back
// every upgrade, forever. Now the second is refused at start, naming the
// owner's pid and the fix; ownership passes with an upgrade (the successor
// shares the lock while the old version stands by, then holds it alone), and
// is free again once the server stops.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { collect } from '../helpers/process';
import { exitOf, soleServer, startServe, stopServing } from '../helpers/serve';
import { cliPath } from '../../src/project';

const CLI = cliPath();

/** A second `fdlab serve` on `stateDir` (its own pid file and port): how it ended. */
async function second(stateDir: string): Promise<{ code: number | null; stderr: string; pidFile: string }> {
  const dir = tempDir();
  const pidFile = path.join(dir, 'second.pid');
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--pid-file', pidFile, '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  return { ...(await collect(child)), pidFile };
}

function refusedNaming(run: { code: number | null; stderr: string; pidFile: string }, stateDir: string, owners: number[]): void {
  assert.notEqual(run.code, 0, run.stderr);
  const pattern = new RegExp(`the state dir ${stateDir} belongs to another running server \\(pid ${owners.join(', pid ')}\\): .*another stateDir \\(fdlab serve: --state-dir\\), or stop pid ${owners[0]} first \\[ERR_STATE_DIR_IN_USE\\]`);
  assert.match(run.stderr, pattern);
  assert.equal(fs.existsSync(run.pidFile), false, 'the refused server never wrote its pid file');
}

describe('hot-upgrade engine: one state dir, one owner', function () {
  this.timeout(60_000);

  it('refuses a second server on the state dir, before and after an upgrade, and lets one start once the owner stopped', async () => {
    const serve = await startServe(tempDir(), ['--standby', '300']);
    const pinger = await Pinger.connect(serve.port, 10);
    try {
      pinger.start(20);
      refusedNaming(await second(serve.stateDir), serve.stateDir, [serve.pid]);

      // The owner is untouched: its upgrade goes through, and ownership passes to the new version.
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/upgraded 10 connections: gap \d+ ms/);
      assert.equal(await exitOf(serve), 0);
      const successor = await soleServer(serve);
      assert.notEqual(successor, serve.pid);
      refusedNaming(await second(serve.stateDir), serve.stateDir, [successor]);

      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 }, serve.log());

      // Stopped, the state dir is free: a new server takes it.
      process.kill(successor, 'SIGTERM');
      await until(5000, 'the server to stop', () => !fs.existsSync(`/proc/${successor}`));
      const next = await startServe(serve.dir);
      try {
        assert.notEqual(next.pid, successor);
      } finally {
        await stopServing(next);
      }
    } finally {
      pinger.close();
      await stopServing(serve);
    }
  });

  it('while the old version stands by, both hold the state dir: a second server is refused naming both', async () => {
    const serve = await startServe(tempDir(), ['--standby', '5000'], { FDLAB_HANDOVER_HOOK: 'old:standby=stop' });
    try {
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/took over the listener and the first 0 connections/);
      const successor = Number(serve.log().match(/started the successor: pid (\d+)/)![1]);
      const run = await second(serve.stateDir);
      const owners = [serve.pid, successor].sort((a, b) => a - b);
      assert.match(run.stderr, /\[ERR_STATE_DIR_IN_USE\]/);
      for (const pid of owners) assert.match(run.stderr, new RegExp(`pid ${pid}\\b`));
      process.kill(serve.pid, 'SIGCONT');
      await serve.waitForLog(/standby over: released our copies/);
      assert.equal(await soleServer(serve), successor);
    } finally {
      await stopServing(serve);
    }
  });
});
