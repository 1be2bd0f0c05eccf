// Lab 3 challenge "exact-read", a solution: never read past the current
// request (first the length byte, then exactly that many bytes), so every
// later request is still in the kernel's receive queue, which travels with
// the fd. Nothing needs to ride beside it. Two copies run:
//
//   node server.js <me> <other> [--listen]
//
// Requests and replies are lab 3's frames: 1 length byte, then that many bytes.
// It reads the connection's fd itself (recvFds, as lab/lab3/server.ts does),
// whenever the fd is readable. `fdlab check 3 exact-read` writes 200 requests
// in one go and expects 200 replies, alternating between the two servers.
import * as net from 'node:net';
import * as path from 'node:path';
import { close, detachSocket, FdChannel, FdChannelServer, isErrorWithCode, recvFds, sendFds, watchFd, type FdWatcher } from 'fdlab';

const [me, other] = process.argv.slice(2);
const shared = (name: string) => path.join(process.env.FDLAB_SHARED ?? '.', `${name}.sock`);
let toOther: Promise<FdChannel> | undefined;

/** Up to `max` bytes from the connection; null: nothing there yet; empty: the client closed. */
function readUpTo(fd: number, max: number): Buffer | null {
  try {
    return recvFds(fd, { maxData: max, maxFds: 0 }).data;
  } catch (error) {
    if (isErrorWithCode(error, 'EAGAIN')) return null;
    if (isErrorWithCode(error, 'ECONNRESET')) return Buffer.alloc(0);
    throw error;
  }
}

/** Serves the first request on `fd`, then hands the connection to the other server. */
function serveOne(fd: number): void {
  let buffered = Buffer.alloc(0);
  let watcher: FdWatcher | undefined;
  const step = () => {
    for (;;) {
      const length = buffered.length > 0 ? 1 + buffered[0] : Infinity;
      if (buffered.length >= length) {
        watcher?.close();
        const body = Buffer.from(`rsp from ${me}: ${buffered.subarray(1, length)}`);
        sendFds(fd, [], Buffer.concat([Buffer.from([body.length]), body])); // a plain write on the TCP socket
        void handOver(fd);
        return;
      }
      const chunk = readUpTo(fd, buffered.length === 0 ? 1 : length - buffered.length); // this request's bytes, no more
      if (chunk === null) {
        watcher ??= watchFd(fd, (error) => (error ? (watcher?.close(), close(fd)) : step()));
        watcher.want(true);
        return;
      }
      if (chunk.length === 0) {
        watcher?.close();
        close(fd);
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
    }
  };
  step();
}

async function handOver(fd: number): Promise<void> {
  toOther ??= FdChannel.connect(shared(other), { waitMs: 10_000 });
  await (await toOther).send({ data: Buffer.alloc(0), fds: [fd] }); // only the fd: the rest waits in the kernel
  close(fd);
}

async function main(): Promise<void> {
  const fromOther = await FdChannelServer.listen(shared(me));
  fromOther.on('channel', (channel: FdChannel) => channel.on('message', ({ fds }) => serveOne(fds[0])));
  if (process.argv.includes('--listen')) {
    const tcp = net.createServer({ pauseOnConnect: true }, (socket) => void detachSocket(socket).then(({ fd }) => serveOne(fd)));
    tcp.listen(0, '127.0.0.1', () => console.log(`${me}: listening on 127.0.0.1:${(tcp.address() as net.AddressInfo).port}`));
  } else {
    console.log(`${me}: waiting for connections from ${other}`);
  }
}

void main();
