// Lab 2 unix_socket_client (seed 000): connects to the TCP server, says its
// test message, hands the live socket over the channel and exits.
import * as net from 'node:net';
import { close, describeFd, detachSocket, FdChannel, formatFd } from 'fdlab';
import { sharedPath } from '../../src/runtime/role-env';
import { holdStill } from '../../src/runtime/hold-still';

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 9999);
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('Test message from tcp client to python server!!!');
  const { fd } = await detachSocket(socket); // waits until the message is in the kernel
  const info = describeFd(fd);
  const channel = await FdChannel.connect(sharedPath('channel_to_migrate_socket'), { waitMs: 15_000 });
  // The lab reads our fd table now (the open channel keeps us running meanwhile).
  await holdStill(`fd ${fd} inode ${info.inode}, not handed over yet`);
  await channel.send({ data: 'migrate', fds: [fd] });
  console.log(`tcp socket (fd: ${fd}) has been sent to peer Success !`);
  console.log(`handed over ${formatFd(info)}`);
  close(fd);
  channel.close();
}

void main();
