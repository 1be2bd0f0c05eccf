// Lab 2 challenge "end-for-all", the sender (shipped, not the learner's): it
// connects to the check's TCP peer, says hello, hands a copy of the connection
// to your receiver on $FDLAB_SHARED/migrate.sock, and keeps its own fd open
// until SIGTERM, as a careless process (or a forgotten child) would.
//
//   node lab2-sender.js <port>
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { describeFd, detachSocket, FdChannel, formatFd } from 'fdlab';

async function main(): Promise<void> {
  const socket = net.connect(Number(process.argv[2]), '127.0.0.1');
  await once(socket, 'connect');
  socket.write('hello from the sender\n');
  const { fd } = await detachSocket(socket); // ours, a raw fd nobody reads: it only keeps the socket alive
  const channel = await FdChannel.connect(path.join(process.env.FDLAB_SHARED ?? '.', 'migrate.sock'), { waitMs: 10_000 });
  await channel.send({ data: 'take it', fds: [fd] });
  channel.close();
  console.log(`sender: handed over a copy of ${formatFd(describeFd(fd))}; I keep mine open until SIGTERM`);
  const keepAlive = setInterval(() => undefined, 60_000);
  await once(process, 'SIGTERM');
  clearInterval(keepAlive);
}

void main();
