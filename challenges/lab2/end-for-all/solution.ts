// Lab 2 challenge "end-for-all", a solution: socket.end() is shutdown(SHUT_WR)
// on the socket itself, so the FIN goes out although the sender still holds
// an fd of it. destroy() was a close(): it dropped our reference only.
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
  socket.end(); // FIN for the connection, whoever else holds it
  await once(socket, 'close'); // the peer's FIN back, then our fd closes
  console.log('receiver: hung up; exiting');
}

void main();
