// Lab 3 server (seed 001): reads one request from a connection, answers
// "rsp from port: <port>", hands the connection to the other server, forgets it.
//
//   node server.js <port> <otherPort> exact|greedy [drop-leftover]
//
// exact:  reads the length byte, then exactly that many bytes: later requests
//         stay in the kernel buffer and travel with the fd.
// greedy: reads whatever is there and sends the bytes beyond the first
//         request along with the fd; `drop-leftover` forgets them (what breaks).
import * as net from 'node:net';
import {
  close,
  detachSocket,
  FdChannel,
  FdChannelServer,
  isErrorWithCode,
  recvFds,
  sendFds,
  watchFd,
  type FdMessage,
} from 'fdlab';
import { sharedPath } from '../../src/runtime/role-env';
import { frame } from './protocol';

const [port, otherPort] = [Number(process.argv[2]), Number(process.argv[3])];
const greedy = process.argv[4] === 'greedy';
const dropLeftover = process.argv[5] === 'drop-leftover';
const reply = frame(`rsp from port: ${port}`);
let served = 0;
let toOther: Promise<FdChannel> | undefined;

function other(): Promise<FdChannel> {
  toOther ??= FdChannel.connect(sharedPath(`lab3-${otherPort}.sock`), { waitMs: 15_000 });
  return toOther;
}

/** Serves one request on `fd` (starting with bytes `pending`), then hands it over. */
function serve(fd: number, pending: Buffer): void {
  let buffered = pending;
  let watcher: ReturnType<typeof watchFd> | undefined;

  const finish = (closeIt: boolean) => {
    watcher?.close();
    if (closeIt) close(fd);
  };

  const requestLength = () => (buffered.length > 0 ? 1 + buffered[0] : Infinity);

  const tryServe = (): boolean => {
    if (buffered.length < requestLength()) return false;
    const length = requestLength();
    const request = buffered.subarray(1, length).toString();
    const leftover = buffered.subarray(length);
    try {
      sendFds(fd, [], reply); // a plain write on the TCP socket: no fds ride here
    } catch {
      finish(true); // the client is gone
      return true;
    }
    served += 1;
    console.log(`#${served} port ${port} answered "${request}"`);
    watcher?.close();
    watcher = undefined;
    void other()
      .then((channel) => channel.send({ data: dropLeftover ? Buffer.alloc(0) : leftover, fds: [fd] }))
      .finally(() => close(fd));
    return true;
  };

  const readMore = (): 'again' | 'wait' | 'closed' => {
    // exact: never read past the current request, so the rest stays in the kernel.
    const want = greedy ? 65536 : buffered.length === 0 ? 1 : requestLength() - buffered.length;
    try {
      const { data } = recvFds(fd, { maxData: want, maxFds: 0 });
      if (data.length === 0) return 'closed';
      buffered = buffered.length ? Buffer.concat([buffered, data]) : data;
      return 'again';
    } catch (error) {
      if (isErrorWithCode(error, 'EAGAIN')) return 'wait';
      if (isErrorWithCode(error, 'ECONNRESET')) return 'closed';
      throw error;
    }
  };

  const step = () => {
    for (;;) {
      if (tryServe()) return;
      const outcome = readMore();
      if (outcome === 'closed') return finish(true);
      if (outcome === 'wait') {
        watcher ??= watchFd(fd, (error) => (error ? finish(true) : step()));
        watcher.want(true);
        return;
      }
    }
  };
  step();
}

async function main(): Promise<void> {
  const fromOther = await FdChannelServer.listen(sharedPath(`lab3-${port}.sock`), { mode: 0o666 });
  fromOther.on('channel', (channel: FdChannel) => {
    channel.on('message', (message: FdMessage) => serve(message.fds[0], message.data));
  });
  const tcp = net.createServer({ pauseOnConnect: true }, (socket) => {
    void detachSocket(socket).then(({ fd, unread }) => serve(fd, unread));
  });
  tcp.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port} (${greedy ? 'greedy' : 'exact'} reads${dropLeftover ? ', dropping leftover bytes' : ''})`));
  process.once('SIGTERM', () => {
    console.log(`served ${served} requests`);
    process.exit(0);
  });
}

void main();
