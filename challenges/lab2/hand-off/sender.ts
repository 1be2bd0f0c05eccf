// Lab 2 challenge "hand-off": the sender. It connects to a TCP peer, says
// hello, hands the connection to a receiver over $FDLAB_SHARED/migrate.sock,
// lets go of it and exits. `fdlab check 2` runs it beside a shipped receiver,
// which writes on the connection once your sender has exited.
//
//   node sender.js <port>
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { close, describeFd, dup, FdChannel, fdOf, formatFd } from 'fdlab';

async function main(): Promise<void> {
  const socket = net.connect(Number(process.argv[2]), '127.0.0.1');
  await once(socket, 'connect');
  await new Promise((resolve) => socket.write('hello from the sender\n', resolve));

  const channel = await FdChannel.connect(path.join(process.env.FDLAB_SHARED ?? '.', 'migrate.sock'), { waitMs: 10_000 });
  const fd = dup(fdOf(socket)); // a second fd for the same socket, to send
  await channel.send({ data: 'take it', fds: [fd] });
  console.log(`sender: handed over ${formatFd(describeFd(fd))}`);
  close(fd);
  channel.close();

  socket.destroySoon(); // we are done with the connection: let go of it once our writes are out, then exit
  await once(socket, 'close');
  console.log('sender: let go of the connection; exiting');
}

void main();
