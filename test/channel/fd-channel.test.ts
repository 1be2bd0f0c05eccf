import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { closeQuietly, FdChannel, FdChannelServer, fdOf, sendFds, socketpair, type FdMessage } from 'fdlab';
import { encodeMessage } from 'fdlab/wire';
import { openFdCount, readSome, tempDir, tempFile, until, within } from '../helpers/fds';
import { tcpConnection } from '../helpers/tcp';

function closeAll(message: FdMessage): void {
  closeQuietly(message.fds);
}

describe('FdChannel', () => {
  let a: FdChannel;
  let b: FdChannel;
  beforeEach(() => ([a, b] = FdChannel.pair()));
  afterEach(() => {
    a.close();
    b.close();
  });

  it('keeps each message\'s bytes and fds together, in order', async () => {
    const file = tempFile('hello world');
    await a.send({ data: 'boy', fds: [file.fd] });
    await a.send({ data: Buffer.from([1, 2, 3]) });
    await a.send({ fds: [file.fd, file.fd] });
    const first = await b.receive();
    assert.equal(first.data.toString(), 'boy');
    assert.equal(readSome(first.fds[0], 5), 'hello');
    assert.deepEqual([...(await b.receive()).data], [1, 2, 3]);
    const third = await b.receive();
    assert.equal(third.data.length, 0);
    assert.equal(third.fds.length, 2);
    assert.equal(readSome(file.fd, 100), ' world', 'one open file description behind all copies');
    closeQuietly([file.fd, ...first.fds, ...third.fds]);
  });

  it('splits more than 253 fds across frames and rejoins them', async () => {
    const file = tempFile('x');
    const before = openFdCount();
    await a.send({ data: 'many', fds: new Array(1000).fill(file.fd) });
    const message = await within(5000, '1000 fds', b.receive());
    assert.equal(message.data.toString(), 'many');
    assert.equal(message.fds.length, 1000);
    closeAll(message);
    assert.equal(openFdCount(), before);
    closeQuietly([file.fd]);
  });

  it('waits for writability instead of failing or spinning when the socket is full', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 7); // far beyond the socket buffer
    const sent = a.send({ data: big });
    const cpuBefore = process.cpuUsage();
    const received = await within(10_000, '8 MiB message', b.receive());
    await sent;
    const cpu = process.cpuUsage(cpuBefore);
    assert.equal(received.data.length, big.length);
    assert.ok(received.data.equals(big));
    assert.ok(cpu.user + cpu.system < 2_000_000, `used ${cpu.user + cpu.system} us of CPU`);
  });

  it('delivers to message listeners and to async iteration', async () => {
    const seen: string[] = [];
    const done = new Promise<void>((resolve) =>
      b.on('message', (m) => {
        seen.push(m.data.toString());
        if (seen.length === 3) resolve();
      }),
    );
    for (const word of ['one', 'two', 'three']) await a.send({ data: word });
    await within(2000, 'three messages', done);
    assert.deepEqual(seen, ['one', 'two', 'three']);

    const [c, d] = FdChannel.pair();
    await c.send({ data: 'x' });
    await c.send({ data: 'y' });
    c.close();
    const words: string[] = [];
    for await (const m of d) words.push(m.data.toString());
    assert.deepEqual(words, ['x', 'y'], 'iteration ends when the peer closes');
  });

  it('keeps the order when a listener comes after messages queued: the queued ones first, then one read before they are delivered', async () => {
    await a.send({ data: 'one' });
    await a.send({ data: 'two' });
    // Nobody listens or receives: b's poller reads them into its inbox (private; no public sign of it).
    await until(2000, 'b to read two messages', () => (b as unknown as { inbox: unknown[] }).inbox.length === 2);
    const seen: string[] = [];
    b.on('message', (m) => seen.push(m.data.toString()));
    // In b's socket now, so read in this loop's poll phase: before the check phase that delivers the inbox.
    await a.send({ data: 'three' });
    await until(2000, 'three messages', () => seen.length === 3);
    assert.deepEqual(seen, ['one', 'two', 'three']);
  });

  it('closes the channel and every held fd on a garbled frame', async () => {
    const [raw, theirs] = socketpair();
    const channel = FdChannel.fromFd(theirs);
    const file = tempFile('x');
    const before = openFdCount();
    const failed = new Promise<Error>((resolve) => channel.once('error', resolve));
    sendFds(raw, [file.fd, file.fd], 'GET / HTTP/1.1\r\n');
    const error = await within(2000, 'garbled error', failed);
    assert.equal((error as Error & { code: string }).code, 'ERR_CHANNEL_GARBLED');
    assert.equal(channel.closed, true);
    await assert.rejects(channel.receive(), { code: 'ERR_CHANNEL_GARBLED' });
    assert.equal(openFdCount(), before - 1, 'the 2 received fds and the channel fd are closed');
    closeQuietly([raw, file.fd]);
  });

  it('refuses an oversized message without reading it all', async () => {
    const [small, peer] = FdChannel.pair({ maxMessageBytes: 1024 });
    const failed = new Promise<Error>((resolve) => small.once('error', resolve));
    void peer.send({ data: Buffer.alloc(4096) }).catch(() => {});
    const error = (await within(2000, 'oversized', failed)) as Error & { code: string };
    assert.equal(error.code, 'ERR_CHANNEL_OVERSIZED');
    assert.match(error.message, /4096 bytes exceeds maxMessageBytes=1024/);
    peer.close();
  });

  it('reports a peer that closes in the middle of a message and closes its fds', async () => {
    const [raw, theirs] = socketpair();
    const channel = FdChannel.fromFd(theirs);
    const file = tempFile('x');
    const before = openFdCount();
    // A valid header announcing 2 fds and 100 bytes, then only 3 bytes and a hang-up.
    const header = Buffer.from([0xfd, 0x1a, 1, 0, 0, 2, 0, 0, 0, 100]);
    sendFds(raw, [file.fd, file.fd], Buffer.concat([header, Buffer.from('abc')]));
    closeQuietly([raw]);
    await assert.rejects(within(2000, 'truncated', channel.receive()), { code: 'ERR_CHANNEL_TRUNCATED' });
    assert.equal(openFdCount(), before - 2, 'channel fd and both received fds closed, our raw end too');
    closeQuietly([file.fd]);
  });

  it('decodes whatever reads the kernel makes of frames written in arbitrary pieces', async () => {
    const file = tempFile('x');
    const before = openFdCount();
    const message = fc.record({ data: fc.uint8Array({ maxLength: 300 }), fds: fc.integer({ min: 0, max: 3 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 12 }), async (messages, cuts) => {
        const [raw, theirs] = socketpair();
        const channel = FdChannel.fromFd(theirs);
        try {
          // Each frame is written in pieces; its fds ride on its first piece.
          for (const { data, fds } of messages) {
            for (const frame of encodeMessage(data, new Int32Array(fds).fill(file.fd))) {
              const points = [...new Set([0, ...cuts.map((c) => c % frame.bytes.length), frame.bytes.length])].sort((x, y) => x - y);
              for (let i = 0; i + 1 < points.length; i++) {
                sendFds(raw, i === 0 ? [...frame.fds] : [], frame.bytes.subarray(points[i], points[i + 1]));
              }
            }
          }
          for (const { data, fds } of messages) {
            const received = await within(2000, 'a message', channel.receive());
            closeAll(received);
            assert.deepEqual([...received.data], [...data]);
            assert.equal(received.fds.length, fds);
          }
        } finally {
          channel.close();
          closeQuietly([raw]);
        }
        assert.equal(openFdCount(), before, 'no fd left behind');
      }),
      { numRuns: 25 },
    );
    closeQuietly([file.fd]);
  });

  it('refuses a send with a value that is not an fd, and stays open', async () => {
    await assert.rejects(a.send({ data: 'x', fds: [-1] }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(a.send({ data: 42 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(a.closed, false);
    await a.send({ data: 'still here' });
    assert.equal((await b.receive()).data.toString(), 'still here');
  });

  it('closes with a coded error when the kernel refuses a send (EBADF, EPIPE)', async () => {
    const file = tempFile('x');
    closeQuietly([file.fd]);
    await assert.rejects(a.send({ data: 'x', fds: [file.fd] }), { code: 'EBADF', syscall: 'sendmsg' });
    assert.equal(a.closed, true);
    assert.equal((a.closeReason as Error & { code: string }).code, 'EBADF');

    const [c, d] = FdChannel.pair();
    const closed = new Promise<boolean>((resolve) => c.once('close', resolve));
    d.close();
    await assert.rejects(c.send({ data: 'to nobody' }), (e: Error & { code: string }) => ['EPIPE', 'ECONNRESET'].includes(e.code));
    assert.equal(await closed, true, 'closed with an error');
  });

  it('reports a peer that died with our bytes unread as ECONNRESET (libuv says EBADF), after the messages it had sent', async () => {
    const [mine, theirs] = socketpair();
    const channel = FdChannel.fromFd(mine);
    const waiting = channel.receive(); // reading: the poller watches the fd
    await channel.send({ data: 'never read' });
    // The peer sends one message, then dies without reading ours: the kernel sets ECONNRESET on our end.
    const [frame] = encodeMessage(Buffer.from('last words'), new Int32Array(0));
    sendFds(theirs, [], frame.bytes);
    closeQuietly([theirs]);
    assert.equal((await waiting).data.toString(), 'last words');
    await assert.rejects(channel.receive(), { code: 'ECONNRESET' });
    assert.equal(channel.closed, true);
  });

  it('still delivers what a peer sent before it went, when our send to it fails (EPIPE)', async () => {
    const [mine, theirs] = socketpair();
    const channel = FdChannel.fromFd(mine);
    for (const text of ['group 2', 'done']) sendFds(theirs, [], encodeMessage(Buffer.from(text), new Int32Array(0))[0].bytes);
    closeQuietly([theirs]);
    // Nobody read yet (no receive, no listener), as a new version sending 'serving' first.
    await assert.rejects(channel.send({ data: 'serving' }), (e: Error & { code: string }) => ['EPIPE', 'ECONNRESET'].includes(e.code));
    assert.equal((await channel.receive()).data.toString(), 'group 2');
    assert.equal((await channel.receive()).data.toString(), 'done');
    await assert.rejects(channel.receive(), (e: Error & { code: string }) => ['EPIPE', 'ECONNRESET', 'ERR_CHANNEL_CLOSED'].includes(e.code));
    assert.equal(channel.closed, true);
  });

  it('refuses a TCP socket as its transport', async () => {
    const tcp = await tcpConnection();
    try {
      assert.throws(() => FdChannel.fromFd(fdOf(tcp.client)), { code: 'ERR_CHANNEL_NOT_UNIX_STREAM' });
    } finally {
      tcp.end();
    }
  });

  it('rejects sends and receives after close, and closes unclaimed fds', async () => {
    const file = tempFile('x');
    const before = openFdCount();
    await a.send({ data: 'unclaimed', fds: [file.fd] });
    await new Promise((r) => setTimeout(r, 50)); // let b read it into its inbox
    b.close();
    assert.equal(openFdCount(), before - 1, 'b\'s socket and the unclaimed fd are closed');
    await assert.rejects(b.send({ data: 'x' }), { code: 'ERR_CHANNEL_CLOSED' });
    await assert.rejects(b.receive(), { code: 'ERR_CHANNEL_CLOSED' });
    closeQuietly([file.fd]);
  });
});

describe('FdChannelServer', () => {
  it('listens on a path with mode 0600 and hands out one channel per peer', async () => {
    const sock = path.join(tempDir(), 'channel_to_migrate_socket');
    const server = await FdChannelServer.listen(sock);
    try {
      assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
      const [client, accepted] = await Promise.all([FdChannel.connect(sock), server.accept()]);
      assert.equal(accepted.peer().pid, process.pid);
      const file = tempFile('over a path');
      await client.send({ data: 'hi', fds: [file.fd] });
      const message = await accepted.receive();
      assert.equal(readSome(message.fds[0], 100), 'over a path');
      closeQuietly([...message.fds, file.fd]);
      client.close();
      accepted.close();
    } finally {
      await server.close();
    }
    assert.equal(fs.existsSync(sock), false, 'socket file removed on close');
  });

  it('replaces a stale socket file but refuses a live one', async () => {
    const sock = path.join(tempDir(), 'stale.sock');
    const first = await FdChannelServer.listen(sock);
    await assert.rejects(FdChannelServer.listen(sock), { code: 'EADDRINUSE' });
    await first.close();
    // A crashed owner: the socket file stays behind, nobody listens on it.
    const dead = spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(sock)})`]);
    assert.equal(dead.status, 0, dead.stderr.toString());
    assert.ok(fs.lstatSync(sock).isSocket());
    const second = await FdChannelServer.listen(sock);
    await second.close();
    const notSocket = path.join(tempDir(), 'file');
    fs.writeFileSync(notSocket, 'x');
    await assert.rejects(FdChannelServer.listen(notSocket), { code: 'ERR_PATH_NOT_SOCKET' });
  });

  it('connect to a path nobody listens on says what to do', async () => {
    await assert.rejects(FdChannel.connect(path.join(tempDir(), 'nobody.sock')), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ENOENT');
      assert.match(e.message, /start the receiving side first/);
      return true;
    });
  });
});
