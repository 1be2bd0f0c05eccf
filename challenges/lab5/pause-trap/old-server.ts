// Lab 5 challenge "pause-trap": the old version of a ping/pong server. On
// SIGUSR2 it hands every connection to the new version (which `fdlab check 5`
// starts beside it, listening on $FDLAB_SHARED/handover.sock) and exits.
// The protocol: the client sends "ping" (4 bytes), the server answers "pong".
// The handover: one message per connection, its fd and, as data, the bytes
// the new version must serve first; then a message "done" without fds.
import * as net from 'node:net';
import * as path from 'node:path';
import { close, dup, FdChannel, fdOf } from 'fdlab';

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
  for (const socket of connections.keys()) socket.pause(); // stop reading, so that no ping is left behind
  // Finish what is under way first, as a real server would (here: pongs already on their way,
  // and the pings they bring back).
  await new Promise((resolve) => setTimeout(resolve, 50));
  const channel = await FdChannel.connect(path.join(process.env.FDLAB_SHARED ?? '.', 'handover.sock'), { waitMs: 5000 });
  let handed = 0;
  for (const [socket, state] of connections) {
    handed += 1;
    const fd = dup(fdOf(socket));
    await channel.send({ data: state.partial, fds: [fd] });
    close(fd);
  }
  await channel.send({ data: 'done' });
  console.log(`old: handed over ${handed} connections; exiting`);
  channel.close();
  process.exit(0);
});
