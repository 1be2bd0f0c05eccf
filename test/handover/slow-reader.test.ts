// A client that sends and never reads must cost the server bounded memory,
// must not hold up an upgrade, and must lose nothing in it: its unanswered
// pings stay in the kernel (they travel with the fd) and the pongs the old
// version had written but not sent travel in the upgrade message.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { fdOf, queuedBytes } from 'fdlab';
import { tempDir, until } from '../helpers/fds';
import { Pinger } from '../helpers/pinger';
import { soleServer, startServe, stopServing } from '../helpers/serve';

const PINGS = 1_000_000; // 4 MB each way

function rssMiB(pid: number): number {
  const kib = Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)![1]);
  return kib / 1024;
}

/** The server side's send queue on the connection from `clientPort` (ss: Recv-Q, Send-Q). */
function serverSendQueue(serverPort: number, clientPort: number): number {
  const line = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${serverPort} and dport = :${clientPort} )`], { encoding: 'utf8' }).trim();
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

describe('hot-upgrade engine: a client that never reads', function () {
  this.timeout(60_000);

  it('costs bounded memory, does not hold up the upgrade, and gets every pong afterwards', async () => {
    const serve = await startServe(tempDir(), ['--standby', '200']);
    const pinger = await Pinger.connect(serve.port, 20);
    const hog = net.connect(serve.port, '127.0.0.1');
    try {
      pinger.start();
      await new Promise((resolve) => hog.once('connect', resolve));
      const baseline = rssMiB(serve.pid);
      // Stop reading for real: pause() alone lets Node drain the kernel buffer.
      hog.pause();
      const handle = (hog as unknown as { _handle: { readStop(): void; readStart(): void; reading: boolean } })._handle;
      handle.readStop();
      handle.reading = false;
      hog.write(Buffer.from('ping'.repeat(PINGS)));
      // The server has pongs the client will not take: its side of the connection backs up.
      await until(15_000, 'pongs backing up on the server side', () =>
        queuedBytes(fdOf(hog)).receive > 0 && serverSendQueue(serve.port, hog.localPort!) > 0, 20);
      const backlog = queuedBytes(fdOf(hog));
      process.kill(serve.pid, 'SIGUSR2');
      const upgraded = await serve.waitForLog(/upgraded 21 connections: gap (\d+) ms/, 15_000);
      assert.doesNotMatch(serve.log(), /rolled back/);
      const successor = await soleServer(serve);
      assert.notEqual(successor, serve.pid);
      const rss = rssMiB(successor);
      console.log(`      backlog at the upgrade: ${backlog.receive} B in the client's receive queue, ${backlog.send} B in its send queue; gap ${upgraded[1]} ms; RSS ${baseline.toFixed(0)} MiB before, successor ${rss.toFixed(0)} MiB`);

      let pongBytes = 0;
      hog.on('data', (data: Buffer) => (pongBytes += data.length));
      hog.resume();
      handle.reading = true;
      handle.readStart();
      await until(30_000, () => `every pong to the client that did not read (${pongBytes / 4} of ${PINGS})`, () => pongBytes >= 4 * PINGS || hog.destroyed, 20);
      assert.equal(pongBytes, 4 * PINGS);
      assert.equal(hog.destroyed, false, 'its connection stays open');
      assert.ok(rssMiB(successor) - baseline < 64, `memory stays bounded: ${rssMiB(successor).toFixed(0)} MiB against ${baseline.toFixed(0)} MiB before`);
      const counts = await pinger.stop();
      assert.deepEqual({ disconnects: counts.disconnects, lost: counts.pings - counts.pongs }, { disconnects: 0, lost: 0 });
    } finally {
      hog.destroy();
      pinger.close();
      await stopServing(serve);
    }
  });
});
