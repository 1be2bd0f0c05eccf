// Lab 3 challenge "greedy-read": a server that answers one request on a
// connection, then hands the connection to the other server. Two copies run:
//
//   node server.js <me> <other> [--listen]
//
// Requests and replies are lab 3's frames: 1 length byte, then that many bytes.
// It reads greedily (whatever Node's 'data' event brings), so one read may hold
// many requests. `fdlab check 3` writes 200 requests in one go and expects 200
// replies, alternating between the two servers.
import * as net from 'node:net';
import * as path from 'node:path';
import { adoptSocket, close, detachSocket, FdChannel, FdChannelServer } from 'fdlab';

const [me, other] = process.argv.slice(2);
const shared = (name: string) => path.join(process.env.FDLAB_SHARED ?? '.', `${name}.sock`);
let toOther: Promise<FdChannel> | undefined;

/** Serves the first request of `socket`, then hands the connection to the other server. */
function serveOne(socket: net.Socket): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length < 1 + buffered[0]) return; // the first request is not complete yet
    const length = 1 + buffered[0];
    const request = buffered.subarray(1, length).toString();
    const leftover = buffered.subarray(length); // requests after the first: already read, by us
    socket.pause(); // from here on, what Node reads waits in its buffer
    socket.off('data', onData);
    const body = Buffer.from(`rsp from ${me}: ${request}`);
    socket.write(Buffer.concat([Buffer.from([body.length]), body]));
    void handOver(socket, leftover);
  };
  socket.on('data', onData);
}

async function handOver(socket: net.Socket, leftover: Buffer): Promise<void> {
  const { fd } = await detachSocket(socket); // Node stops reading; the kernel keeps what we did not read
  toOther ??= FdChannel.connect(shared(other), { waitMs: 10_000 });
  await (await toOther).send({ data: Buffer.alloc(0), fds: [fd] });
  close(fd); // the other server has its own fd now
}

async function main(): Promise<void> {
  const fromOther = await FdChannelServer.listen(shared(me));
  fromOther.on('channel', (channel: FdChannel) => {
    channel.on('message', ({ data, fds }) => serveOne(adoptSocket(fds[0], { unread: data })));
  });
  if (process.argv.includes('--listen')) {
    const tcp = net.createServer(serveOne).listen(0, '127.0.0.1', () => {
      console.log(`${me}: listening on 127.0.0.1:${(tcp.address() as net.AddressInfo).port}`);
    });
  } else {
    console.log(`${me}: waiting for connections from ${other}`);
  }
}

void main();
