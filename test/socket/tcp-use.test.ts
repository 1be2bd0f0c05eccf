// The kernel's counts a take-back judges connections by (socket/tcp-use.ts):
// they move when a process reads or writes, and only then. Arriving data, an
// arriving FIN and reading the EOF leave them alone; urgent data (which cuts
// SIOCINQ short at its mark) leaves the socket without a count.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { fdOf, queuedBytes, tcpUseOf } from 'fdlab';
import { until } from '../helpers/fds';

/** A connection whose server side nobody reads but us (fs.readSync on its fd). */
async function pair(): Promise<{ server: net.Server; client: net.Socket; fd: number; close(): void }> {
  let accepted!: net.Socket;
  const server = net.createServer((socket) => {
    accepted = socket;
    const handle = (socket as unknown as { _handle: { readStop(): void; reading: boolean } })._handle;
    handle.readStop();
    handle.reading = false;
    socket.pause();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  await until(5000, 'the connection accepted', () => accepted !== undefined);
  return { server, client, fd: fdOf(accepted), close: () => (accepted.destroy(), client.destroy(), server.close()) };
}

function state(port: number): string {
  return execFileSync('ss', ['-tnH', `( sport = :${port} )`], { encoding: 'utf8' }).trim().split(/\s+/)[0] ?? '';
}

describe('tcpUseOf: the counts a take-back judges by', () => {
  it('moves on our reads and writes; not on arriving data, an arriving FIN or reading the EOF', async () => {
    const { server, client, fd, close } = await pair();
    try {
      const at = () => tcpUseOf([fd])[0]!;
      const start = at();
      client.write('abcd');
      await until(5000, 'the bytes queued on the server side', () => queuedBytes(fd).receive === 4);
      assert.deepEqual(at(), start, 'data arriving is not a use');
      const buffer = Buffer.alloc(16);
      assert.equal(fs.readSync(fd, buffer), 4);
      assert.deepEqual(at(), { consumed: start.consumed + 4, written: start.written }, 'reading is');
      fs.writeSync(fd, 'xy');
      await until(5000, 'the reply acknowledged', () => queuedBytes(fd).send === 0);
      assert.deepEqual(at(), { consumed: start.consumed + 4, written: start.written + 2 }, 'writing is, acknowledged or not');
      client.end();
      const port = (server.address() as net.AddressInfo).port;
      await until(5000, 'the FIN received (CLOSE-WAIT)', () => state(port) === 'CLOSE-WAIT');
      assert.deepEqual(at(), { consumed: start.consumed + 4, written: start.written + 2 }, 'a FIN arriving is not a use');
      assert.equal(fs.readSync(fd, buffer), 0, 'EOF');
      assert.deepEqual(at(), { consumed: start.consumed + 4, written: start.written + 2 }, 'nor is reading the EOF');
    } finally {
      close();
    }
  });

  it('has no count while urgent data is pending, and none for a listener or a non-TCP socket', async () => {
    const { server, fd, close } = await pair();
    const port = (server.address() as net.AddressInfo).port;
    let urgent = -1; // the server side of the Python client's connection (pair() stops it reading too)
    server.on('connection', (socket: net.Socket) => {
      if (fdOf(socket) !== fd) urgent = fdOf(socket);
    });
    // Node cannot send MSG_OOB: a Python client does, then waits to be killed.
    const script = `import socket,time\ns=socket.create_connection(('127.0.0.1',${port}))\ns.send(b'ab')\ns.send(b'X',socket.MSG_OOB)\nprint('sent',flush=True)\ntime.sleep(60)`;
    const python = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve) => python.stdout!.once('data', resolve));
      await until(5000, 'the urgent byte arrived', () => urgent >= 0 && queuedBytes(urgent).receive >= 2);
      assert.equal(tcpUseOf([urgent])[0], null, 'urgent data pending: no count (a take-back closes such a connection)');
      assert.ok(tcpUseOf([fd])[0], 'an ordinary connection has one');
      assert.deepEqual(tcpUseOf([fdOf(server), 0]), [null, null], 'a listener and stdin have none');
    } finally {
      python.kill('SIGKILL');
      close();
    }
  });
});
