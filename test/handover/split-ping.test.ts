// Half a ping across a handover, reached on purpose: the old version has read
// 'pi' (the server's receive queue is empty, so the app holds it as its
// partial), and 'ng' reaches the kernel either after the new version serves
// or while the old one stands stopped exactly where it holds the connection
// (hook old:transferring=stop). The 'pi' must travel as pending bytes, the 'ng'
// must be read once, by the new version only: one pong, nothing closed.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tempDir, until } from '../helpers/fds';
import { soleServer, startServe, stopServing, type Serving } from '../helpers/serve';

/** Bytes in the server side's receive queue of the connection from `clientPort` (ss: Recv-Q). */
function serverReceiveQueue(serverPort: number, clientPort: number): number {
  const line = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${serverPort} and dport = :${clientPort} )`], { encoding: 'utf8' }).trim();
  assert.ok(line, `the connection from port ${clientPort} is established`);
  return Number(line.split(/\s+/)[0]);
}

function stopped(pid: number): boolean {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'T';
}

interface Client {
  socket: net.Socket;
  received(): string;
}

async function connect(serve: Serving): Promise<Client> {
  const socket = net.connect(serve.port, '127.0.0.1');
  socket.setNoDelay(true);
  let received = '';
  socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('ping');
  await until(5000, 'the first pong', () => received === 'pong');
  return { socket, received: () => received };
}

/** Writes 'pi' and waits until the serving version has read it: it is the app's partial ping now. */
async function halfAPing(serve: Serving, client: Client): Promise<void> {
  client.socket.write('pi');
  await until(5000, "the server to read 'pi'", () => serverReceiveQueue(serve.port, client.socket.localPort!) === 0, 10);
}

/** Waits for `count` pongs in all on this connection, and fails on anything else. */
async function pongs(serve: Serving, client: Client, count: number): Promise<void> {
  const expected = 'pong'.repeat(count);
  await until(5000, () => `${count} pongs (got '${client.received()}')\n${serve.log()}`, () => client.received().length >= expected.length || client.socket.destroyed, 10);
  assert.equal(client.received(), expected, serve.log());
}

/** The split ping was answered once, by the new version, from the 'pi' it got as pending bytes; whole pings follow. */
async function answeredOnceAndAligned(serve: Serving, client: Client): Promise<void> {
  await pongs(serve, client, 2);
  client.socket.write('pingping');
  await pongs(serve, client, 4);
  assert.doesNotMatch(serve.log(), /not a ping/);
  assert.match(serve.log(), /adopted connection [0-9a-f]+: 1 pings served since \S+, 2 bytes pending/, "the new version got the 'pi' as pending bytes");
  await serve.waitForLog(/upgraded 1 connections/);
  assert.notEqual(await soleServer(serve), serve.pid);
}

describe('hot-upgrade engine: a ping split across the handover', function () {
  this.timeout(30_000);

  it("'pi' read by the old version, 'ng' sent once the new one serves: one pong", async () => {
    const serve = await startServe(tempDir(), ['--standby', '300']);
    const client = await connect(serve);
    try {
      await halfAPing(serve, client);
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/took over the listener and the first 1 connections/);
      client.socket.write('ng');
      await answeredOnceAndAligned(serve, client);
    } finally {
      client.socket.destroy();
      await stopServing(serve);
    }
  });

  it("'pi' read by the old version, 'ng' arriving while it is stopped just before it holds the connection: one pong, from the new one", async () => {
    const serve = await startServe(tempDir(), ['--upgrade-timeout', '5000', '--standby', '300'], { FDLAB_HANDOVER_HOOK: 'old:transferring=stop' });
    const client = await connect(serve);
    try {
      await halfAPing(serve, client);
      process.kill(serve.pid, 'SIGUSR2');
      await serve.waitForLog(/hook: old:transferring=stop/);
      await until(5000, 'the old version to stop', () => stopped(serve.pid), 10);
      client.socket.write('ng');
      await until(5000, "'ng' in the kernel, unread", () => serverReceiveQueue(serve.port, client.socket.localPort!) === 2, 10);
      process.kill(serve.pid, 'SIGCONT');
      await answeredOnceAndAligned(serve, client);
    } finally {
      client.socket.destroy();
      await stopServing(serve);
    }
  });
});
