// Lab 2 challenge "hand-off", the receiver (shipped, not the learner's): it
// takes one TCP connection on $FDLAB_SHARED/migrate.sock and, on SIGUSR2 (the
// check sends it once your sender has exited), writes three lines on it and
// ends it. Each write's outcome is logged: "ok", or the error the kernel gave.
import { once } from 'node:events';
import * as path from 'node:path';
import { adoptSocket, describeFd, FdChannelServer, formatFd } from 'fdlab';

const LINES = 3;

async function main(): Promise<void> {
  const server = await FdChannelServer.listen(path.join(process.env.FDLAB_SHARED ?? '.', 'migrate.sock'));
  console.log('receiver: waiting for the connection on migrate.sock');
  const channel = await server.accept();
  const { fds } = await channel.receive();
  channel.close();
  await server.close();
  console.log(`receiver: got fd ${formatFd(describeFd(fds[0]))}`);
  const socket = adoptSocket(fds[0]);
  socket.on('error', () => undefined); // each write reports its own error below
  const keepAlive = setInterval(() => undefined, 60_000); // the socket alone may not keep us alive: it may be ended already
  await once(process, 'SIGUSR2');
  clearInterval(keepAlive);
  for (let i = 1; i <= LINES; i++) {
    const error = await new Promise<Error | null | undefined>((resolve) => socket.write(`from the receiver ${i}\n`, resolve));
    console.log(`receiver: write ${i}: ${error ? ((error as NodeJS.ErrnoException).code ?? error.message) : 'ok'}`);
  }
  socket.end();
  console.log('receiver: done');
}

void main();
