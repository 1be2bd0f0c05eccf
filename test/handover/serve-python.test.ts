// Issue acceptance: a client in another language, sharing no code with the
// server, sees 0 lost pongs over 5 upgrades in a row of `fdlab serve`.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { tempDir } from '../helpers/fds';
import { collect } from '../helpers/process';
import { startServe, stopServing, waitForPidFile } from '../helpers/serve';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLIENT = path.join(ROOT, 'test', 'interop', 'ping_client.py');

describe('fdlab serve under a Python asyncio client', function () {
  this.timeout(90_000);

  it('100 connections, pipelined and split pings: 0 lost over 5 upgrades in a row', async () => {
    const dir = tempDir();
    const serve = startServe(7021, dir);
    try {
      await waitForPidFile(serve.pidFile);
      const client = spawn('python3', [CLIENT, '7021', serve.pidFile, '100', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const done = await collect(client);
      assert.equal(done.code, 0, `client failed: ${done.stderr}\nserver log:\n${serve.log()}`);
      const result = JSON.parse(done.stdout) as { pids: number[]; lost: number; duplicated: number; pings: number; pongs: number; disconnects: number; garbage: number; max_delay_ms: number };
      assert.equal(new Set(result.pids).size, 6, `6 different server pids over 5 upgrades: ${result.pids}`);
      assert.ok(result.pings > 1000, `pinged enough: ${result.pings}`);
      assert.deepEqual(
        { lost: result.lost, duplicated: result.duplicated, disconnects: result.disconnects, garbage: result.garbage },
        { lost: 0, duplicated: 0, disconnects: 0, garbage: 0 },
        `server log:\n${serve.log()}`,
      );
      assert.equal(result.pongs, result.pings);
      console.log(`      ${result.pings} pings, ${result.pongs} pongs, largest delay ${result.max_delay_ms.toFixed(1)} ms, pids ${result.pids.join(' -> ')}`);
    } finally {
      stopServing(serve.pidFile);
      serve.child.kill();
    }
  });
});
