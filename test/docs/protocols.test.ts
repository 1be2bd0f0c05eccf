// docs/protocols.md, statement by statement, against the running code.
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import * as net from 'node:net';
import { closeQuietly, FdChannel, sendFds, socketpair } from 'fdlab';
import { encodeMessage, FRAME_HEADER_BYTES } from 'fdlab/wire';
import { PingPongApp } from '../../src/serve/ping-pong';
import { listeningOnAnyPort } from '../helpers/ports';

/** Writes `writes` one by one on a fresh connection; resolves with all it got back and whether the server closed. */
async function exchange(port: number, writes: string[], pongsExpected: number): Promise<{ received: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  let closed = false;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (received.length >= pongsExpected * 4 && pongsExpected > 0 && !writes.some((w) => w.includes('\n'))) resolve();
    });
    socket.on('close', () => {
      closed = true;
      resolve();
    });
  });
  for (const write of writes) {
    socket.write(write);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  socket.destroy();
  return { received, closed };
}

describe('docs/protocols.md', function () {
  this.timeout(5000);
  let server: net.Server;
  let port: number;
  const logged: string[] = [];

  before(async function () {
    const app = new PingPongApp((line) => logged.push(line));
    ({ server, port } = await listeningOnAnyPort(net.createServer((socket) => app.serve(socket))));
  });
  after(() => server.close());

  it('ping/pong: pipelined pings get one pong each', async function () {
    const { received, closed } = await exchange(port, ['pingpingping'], 3);
    assert.equal(received, 'pongpongpong');
    assert.equal(closed, false);
  });

  it('ping/pong: a ping split across writes is one ping', async function () {
    const { received } = await exchange(port, ['pi', 'ng'], 1);
    assert.equal(received, 'pong');
  });

  it('ping/pong: "ping\\n" gets one pong and waits; the next "ping\\n" closes the connection', async function () {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('ping\n');
    const [first] = (await once(socket, 'data')) as [Buffer];
    assert.equal(first.toString(), 'pong');
    socket.write('ping\n');
    await closed;
    assert.match(logged.join('\n'), /not a ping \(0a70696e\); closing it/);
  });

  it('frame: "boy" with one fd is the 13 bytes the doc shows, one frame', function () {
    const frames = encodeMessage(Buffer.from('boy'), Int32Array.of(7));
    assert.equal(frames.length, 1);
    assert.equal(FRAME_HEADER_BYTES, 10);
    assert.equal(frames[0].bytes.toString('hex'), 'fd1a0100000100000003626f79');
    assert.deepEqual([...frames[0].fds], [7]);
  });

  it('frame: 300 fds become a frame of 253 fds with the data and MORE, then one of 47 fds and no payload', function () {
    const frames = encodeMessage(Buffer.from('xy'), Int32Array.from({ length: 300 }, (_, i) => i + 3));
    assert.deepEqual(frames.map((f) => [f.bytes[3], f.bytes.readUInt16BE(4), f.bytes.readUInt32BE(6), f.fds.length]), [
      [1, 253, 2, 253],
      [0, 47, 0, 47],
    ]);
  });

  it('frame: a wrong magic closes the channel with ERR_CHANNEL_GARBLED, unknown flags too', async function () {
    for (const header of ['fd1b0100000000000000', 'fd1a0102000000000000']) {
      const [ours, theirs] = socketpair();
      const channel = FdChannel.fromFd(theirs);
      try {
        sendFds(ours, [], Buffer.from(header, 'hex'));
        await assert.rejects(channel.receive(), { code: 'ERR_CHANNEL_GARBLED' });
      } finally {
        channel.close();
        closeQuietly([ours]);
      }
    }
  });

  it('frame: a peer that hangs up inside a frame: ERR_CHANNEL_TRUNCATED', async function () {
    const [ours, theirs] = socketpair();
    const channel = FdChannel.fromFd(theirs);
    try {
      sendFds(ours, [], Buffer.from('fd1a010000000000000a6869', 'hex')); // announces 10 bytes, sends 2
      closeQuietly([ours]);
      await assert.rejects(channel.receive(), { code: 'ERR_CHANNEL_TRUNCATED' });
    } finally {
      channel.close();
    }
  });
});
