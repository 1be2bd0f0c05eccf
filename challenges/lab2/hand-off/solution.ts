// Lab 2 challenge "hand-off", a solution: detachSocket takes the fd out of
// Node without a FIN, and close() drops this process's reference only. The
// connection lives on in the receiver; socket.end() would have been a
// shutdown(SHUT_WR), which ends the writing side for every holder.
//
//   node sender.js <port>
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { close, describeFd, detachSocket, FdChannel, formatFd } from 'fdlab';

async function main(): Promise<void> {
  const socket = net.connect(Number(process.argv[2]), '127.0.0.1');
  await once(socket, 'connect');
  await new Promise((resolve) => socket.write('hello from the sender\n', resolve));

  const channel = await FdChannel.connect(path.join(process.env.FDLAB_SHARED ?? '.', 'migrate.sock'), { waitMs: 10_000 });
  const { fd } = await detachSocket(socket); // Node lets go of its own fd; no FIN
  await channel.send({ data: 'take it', fds: [fd] });
  console.log(`sender: handed over ${formatFd(describeFd(fd))}`);
  close(fd); // one reference less; the receiver's keeps the connection open
  channel.close();
  console.log('sender: let go of the connection; exiting');
}

void main();
