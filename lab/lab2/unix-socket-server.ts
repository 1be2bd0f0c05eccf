// Lab 2 unix_socket_server (seed 000): receives a live TCP socket over the
// channel and keeps writing on it, once a second, from a process that in
// Docker mode has no network but lo.
import * as os from 'node:os';
import { adoptSocket, describeFd, FdChannelServer, formatFd } from 'fdlab';
import { sharedPath } from '../../src/runtime/role-env';
import { holdStill } from '../../src/runtime/hold-still';

const MESSAGE = 'Migrate to new Process'; // 22 bytes

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 5);
  const server = await FdChannelServer.listen(sharedPath('channel_to_migrate_socket'), { mode: 0o666 });
  console.log('Socket has CHANNEL_NAME channel_to_migrate_socket');
  console.log(`network interfaces here: ${Object.keys(os.networkInterfaces()).join(', ')}`);
  const channel = await server.accept();
  const { fds } = await channel.receive();
  channel.close();
  await server.close();
  console.log(`received ${formatFd(describeFd(fds[0]))}`);
  const socket = adoptSocket(fds[0]);
  console.log(`Peer's IP address is: ${socket.remoteAddress}:${socket.remotePort}`);
  socket.on('error', () => undefined); // a failed write is reported below, with its code
  await holdStill(`the socket is fd ${fds[0]} here, nothing written yet`); // the lab reads our fd table now
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const failure = await new Promise<NodeJS.ErrnoException | null | undefined>((resolve) => socket.write(MESSAGE, resolve));
    if (failure) {
      // The socket's state came with the fd: a FIN the client sent before (shutdown) ends our writing too.
      console.log(`test_tcp_sock: write failed: ${failure.code ?? failure.message} (${failure.message})`);
      process.exitCode = 1;
      socket.destroy();
      return;
    }
    console.log(`test_tcp_sock: write ${Buffer.byteLength(MESSAGE)} bytes OK.`);
  }
  socket.end();
}

void main();
