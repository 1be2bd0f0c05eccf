import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { adoptServer, adoptSocket, close, detachSocket, dup, FdChannel, fdOf, queuedBytes } from 'fdlab';
import { openFdCount, tempFile, until, within } from '../helpers/fds';
import { startFixture } from '../helpers/process';
import { tcpConnection } from '../helpers/tcp';

function readUntil(socket: net.Socket, wanted: string, ms = 3000): Promise<string> {
  let text = '';
  return within(ms, `reading "${wanted}"`, new Promise<string>((resolve) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes(wanted)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  }));
}

describe('detachSocket / adoptSocket', () => {
  it('shows the trap: socket.pause() does not stop Node draining the kernel buffer', async () => {
    const c = await tcpConnection();
    try {
      c.accepted.on('data', () => {});
      c.accepted.pause();
      c.client.write(Buffer.alloc(1000, 1));
      // Fails (times out) if pause() did keep Node from reading: the bytes would stay in the kernel.
      await until(3000, 'Node to read all 1000 bytes of a paused socket', () => c.accepted.readableLength === 1000);
      assert.equal(c.accepted.readableLength, 1000, 'paused, yet Node read all 1000 bytes');
      assert.equal(queuedBytes(fdOf(c.accepted)).receive, 0, 'nothing left in the kernel');
    } finally {
      c.end();
    }
  });

  it('returns a dup of the fd plus the bytes Node read but the app did not consume', async () => {
    const c = await tcpConnection();
    const consumed: string[] = [];
    c.accepted.on('data', (chunk) => consumed.push(chunk.toString()));
    c.client.write('first;');
    await until(2000, 'first chunk', () => consumed.length > 0);
    c.accepted.pause();
    c.client.write('second;');
    // It lands in Node's buffer (the trap above), not in the app: wait until it is there.
    await until(2000, "'second;' in Node's buffer", () => c.accepted.readableLength === 'second;'.length);
    const before = openFdCount();
    const detached = await detachSocket(c.accepted);
    assert.deepEqual(consumed, ['first;']);
    assert.equal(detached.unread.toString(), 'second;');
    assert.equal(detached.ended, false);
    assert.equal(c.accepted.destroyed, true);
    assert.equal(openFdCount(), before, 'one fd closed with the old socket, one dup returned');

    c.client.write('third;'); // arrives after the detach: waits in the kernel for the new owner
    const adopted = adoptSocket(detached.fd, { unread: detached.unread });
    const text = await readUntil(adopted, 'third;');
    assert.equal(text, 'second;third;');
    adopted.write('still connected');
    assert.equal(await readUntil(c.client, 'still connected'), 'still connected');
    adopted.destroy();
    c.end();
  });

  it('hands a live TCP connection to another process without losing a byte', async () => {
    const c = await tcpConnection();
    const [ours, theirs] = FdChannel.pair();
    const child = startFixture('adopt-echo', [], [theirs.fd]);
    theirs.close(); // the child has its own copy now
    try {
      const localPort = c.client.localPort;
      c.accepted.on('data', (chunk) => c.accepted.write(`parent:${chunk.toString()}`));
      c.client.write('a');
      await readUntil(c.client, 'parent:a');
      c.accepted.pause();
      c.client.write('b'); // read by Node, not by the app: must travel as "unread"
      await until(2000, "'b' in Node's buffer", () => c.accepted.readableLength === 1);
      const { fd, unread } = await detachSocket(c.accepted);
      await ours.send({ data: JSON.stringify({ kind: 'socket', unread: unread.toString('base64') }), fds: [fd] });
      close(fd);
      const ack = await within(5000, 'child adopts', ours.receive());
      assert.equal(ack.data.toString(), `adopted socket ${localPort}`);
      const echoed = await readUntil(c.client, 'child:b');
      assert.match(echoed, /child:b/);
      c.client.write('c');
      assert.match(await readUntil(c.client, 'child:c'), /child:c/);
      assert.equal(c.client.localPort, localPort, 'same connection throughout');
    } finally {
      ours.close();
      child.kill();
      c.end();
    }
  });

  it('hands a listener to another process, which then accepts on it', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const [ours, theirs] = FdChannel.pair();
    const child = startFixture('adopt-echo', [], [theirs.fd]);
    theirs.close();
    try {
      await ours.send({ data: JSON.stringify({ kind: 'server' }), fds: [fdOf(server)] });
      assert.equal((await within(5000, 'child listens', ours.receive())).data.toString(), 'adopted server');
      await new Promise<void>((resolve) => server.close(() => resolve())); // only the child accepts now
      const socket = net.connect(port, '127.0.0.1');
      assert.equal(await readUntil(socket, 'served by'), `served by child ${child.pid}`);
      socket.destroy();
    } finally {
      ours.close();
      child.kill();
    }
  });

  it('refuses what it cannot adopt or detach, with a code', async () => {
    const file = tempFile('x');
    assert.throws(() => adoptSocket(file.fd), { code: 'ERR_FD_WRONG_KIND' });
    await assert.rejects(adoptServer(file.fd), { code: 'ERR_FD_WRONG_KIND' });
    close(file.fd);
    assert.throws(() => adoptSocket(file.fd), { code: 'EBADF' });

    const c = await tcpConnection();
    assert.throws(() => adoptSocket(fdOf(c.server)), /not a connected stream socket/);
    const copy = dup(fdOf(c.client));
    await assert.rejects(adoptServer(copy), { code: 'ERR_FD_WRONG_KIND' });
    close(copy);
    c.accepted.setEncoding('utf8');
    await assert.rejects(detachSocket(c.accepted), { code: 'ERR_SOCKET_NOT_DETACHABLE' });
    c.client.destroy();
    await assert.rejects(detachSocket(c.client), { code: 'ERR_SOCKET_NOT_DETACHABLE' });
    c.end();
  });

  it('gives up cleanly when pending writes cannot flush: the socket keeps working', async () => {
    const c = await tcpConnection();
    try {
      c.client.pause();
      (c.client as unknown as { _handle: { readStop(): void } })._handle.readStop(); // the peer stops reading
      const big = Buffer.alloc(32 * 1024 * 1024);
      c.accepted.write(big);
      await assert.rejects(detachSocket(c.accepted, { flushTimeoutMs: 200 }), { code: 'ERR_DETACH_FLUSH_TIMEOUT' });
      assert.equal(c.accepted.destroyed, false);
      c.client.write('after');
      assert.equal(await readUntil(c.accepted, 'after'), 'after', 'reading resumed');
    } finally {
      c.end();
    }
  });
});
