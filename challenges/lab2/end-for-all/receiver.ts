// Lab 2 challenge "end-for-all": the receiver. It takes a TCP connection on
// $FDLAB_SHARED/migrate.sock, writes three lines on it, hangs up and exits.
// `fdlab check 2 end-for-all` runs it beside a shipped sender that keeps its
// own fd of the same connection open the whole time.
import { once } from 'node:events';
import * as path from 'node:path';
import { adoptSocket, describeFd, FdChannelServer, formatFd } from 'fdlab';

async function main(): Promise<void> {
  const server = await FdChannelServer.listen(path.join(process.env.FDLAB_SHARED ?? '.', 'migrate.sock'));
  console.log('receiver: waiting for the connection on migrate.sock');
  const channel = await server.accept();
  const { fds } = await channel.receive();
  channel.close();
  await server.close();
  console.log(`receiver: got fd ${formatFd(describeFd(fds[0]))}`);

  const socket = adoptSocket(fds[0]);
  for (let i = 1; i <= 3; i++) await new Promise((resolve) => socket.write(`from the receiver ${i}\n`, resolve));
  socket.destroy(); // we are done: hang up
  await once(socket, 'close');
  console.log('receiver: hung up; exiting');
}

void main();
