// Issue acceptance: a client in another language, sharing no code with the
// server, sees 0 lost pongs over 5 upgrades in a row of `fdlab serve`.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { tempDir } from '../helpers/fds';
import { collect } from '../helpers/process';
import { soleServer, startServe, stopServing } from '../helpers/serve';
import { projectPath } from '../../src/project';

const CLIENT = projectPath('test', 'interop', 'ping_client.py');

describe('fdlab serve under a Python asyncio client', function () {
  this.timeout(90_000);

  it('100 connections, pipelined and split pings: 0 lost over 5 upgrades in a row', async () => {
    // A short standby: each new version accepts the next SIGUSR2 only once its predecessor has released it.
    const serve = await startServe(tempDir(), ['--standby', '300']);
    try {
      const client = spawn('python3', [CLIENT, String(serve.port), serve.pidFile, '100', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      assert.equal(await soleServer(serve), result.pids.at(-1), 'only the last version is left');
      console.log(`      ${result.pings} pings, ${result.pongs} pongs, largest delay ${result.max_delay_ms.toFixed(1)} ms, pids ${result.pids.join(' -> ')}`);
    } finally {
      await stopServing(serve);
    }
  });
});
