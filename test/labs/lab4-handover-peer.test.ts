// Lab 4 part C offers its listening socket on a Unix socket: whoever gets that
// fd can accept every client of the port, so only the lab's own uid may ask.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closeQuietly, FdChannel } from 'fdlab';
import { freePort } from '../helpers/ports';
import { collect } from '../helpers/process';
import { tempDir, until } from '../helpers/fds';
import { compiledPath } from '../../src/project';

const SERVER = compiledPath('lab/lab4/handover-server.ts');

describe('lab 4 part C: who may ask for the listener', function () {
  this.timeout(20_000);

  it('lets no other uid reach the socket, turns one away by SO_PEERCRED if it does, and hands the listener to its own', async () => {
    const shared = tempDir();
    const env = { ...process.env, FDLAB_SHARED: shared };
    const old = spawn(process.execPath, [SERVER, 'old', String(await freePort()), '--drain-ms', '100'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = collect(old);
    let log = '';
    old.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await until(10_000, () => `the offer:\n${log}`, () => log.includes('offering my listener'));
      assert.match(log, /\(mode 0600, uid \d+ only\)/);
      const socketPath = path.join(shared, 'lab4-listeners.sock');
      const nobody = await collect(spawn('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).connect(${JSON.stringify(socketPath)})`], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.notEqual(nobody.code, 0);
      assert.match(nobody.stderr, /PermissionError|Permission denied/);
      // Even if the socket's mode were opened up, SO_PEERCRED still turns another uid away.
      fs.chmodSync(shared, 0o711);
      fs.chmodSync(socketPath, 0o666);
      const sneaky = await collect(spawn('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(socketPath)}); print(len(s.recv(100)))`], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(sneaky.stdout.trim(), '0', `closed on it without a byte: ${sneaky.stderr}`);
      await until(5000, () => `the refusal:\n${log}`, () => /refused pid \d+ uid 65534: not my uid/.test(log));
      // Our own uid asks, and gets a listening socket.
      const channel = await FdChannel.connect(socketPath, { waitMs: 5000 });
      await channel.send({ data: '_getsocks' });
      const { fds } = await channel.receive();
      assert.equal(fds.length, 1);
      await channel.send({ data: 'serving' });
      const exit = await done;
      assert.equal(exit.code, 0, log + exit.stderr);
      channel.close();
      closeQuietly(fds);
    } finally {
      old.kill('SIGKILL');
    }
  });
});
