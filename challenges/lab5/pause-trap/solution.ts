// Lab 5 challenge "pause-trap", a solution: detachSocket instead of pause()
// and dup(): Node stops reading at the handle, and the bytes it had read that
// we had not processed (`unread`) travel with the fd, after our `partial`.
// The protocol: the client sends "ping" (4 bytes), the server answers "pong".
// The handover: one message per connection, its fd and, as data, the bytes
// the new version must serve first; then a message "done" without fds.
import * as net from 'node:net';
import * as path from 'node:path';
import { close, detachSocket, FdChannel } from 'fdlab';

const connections = new Map<net.Socket, { partial: Buffer }>();

const server = net.createServer((socket) => {
  const state = { partial: Buffer.alloc(0) }; // a ping split across reads waits here
  connections.set(socket, state);
  socket.on('data', (chunk: Buffer) => {
    state.partial = Buffer.concat([state.partial, chunk]);
    let pongs = 0;
    while (state.partial.length >= 4 && state.partial.subarray(0, 4).toString() === 'ping') {
      state.partial = state.partial.subarray(4);
      pongs += 1;
    }
    if (pongs > 0) socket.write('pong'.repeat(pongs));
  });
  socket.on('close', () => connections.delete(socket));
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  console.log(`old: serving on 127.0.0.1:${(server.address() as net.AddressInfo).port} as pid ${process.pid}`);
});

process.once('SIGUSR2', async () => {
  server.close(); // new connections: not part of this challenge
  const channel = await FdChannel.connect(path.join(process.env.FDLAB_SHARED ?? '.', 'handover.sock'), { waitMs: 5000 });
  let handed = 0;
  for (const [socket, state] of connections) {
    handed += 1;
    const { fd, unread } = await detachSocket(socket); // reading stops at the handle: nothing is left behind
    await channel.send({ data: Buffer.concat([state.partial, unread]), fds: [fd] });
    close(fd);
  }
  await channel.send({ data: 'done' });
  console.log(`old: handed over ${handed} connections; exiting`);
  channel.close();
  process.exit(0);
});
