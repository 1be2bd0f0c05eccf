// Lab 5 challenge "carry-state", a solution: the fd carries the connection
// and the kernel's bytes; the session (how many pongs this connection has had)
// lives in this process only, so it travels as the message's first line.
// A numbered ping/pong server. The client sends "ping\n"; the answer is
// "pong <n>\n", n counting this connection's pongs from 1. On SIGUSR2 it
// hands every connection to the new version (which `fdlab check 5
// carry-state` starts beside it, listening on $FDLAB_SHARED/handover.sock)
// and exits.
// The handover: one message per connection, its fd and, as data, optionally a
// first line with the session as JSON ({"answered": n}), then the bytes the
// new version must serve first; then a message "done" without fds.
import * as net from 'node:net';
import * as path from 'node:path';
import { close, detachSocket, FdChannel } from 'fdlab';

interface Session {
  answered: number;
  partial: Buffer; // a line split across reads waits here (bytes: detachSocket refuses a socket with setEncoding)
}

const sessions = new Map<net.Socket, Session>();

const server = net.createServer((socket) => {
  const session: Session = { answered: 0, partial: Buffer.alloc(0) };
  sessions.set(socket, session);
  socket.on('data', (chunk: Buffer) => {
    session.partial = Buffer.concat([session.partial, chunk]);
    let reply = '';
    for (let end = session.partial.indexOf('\n'); end >= 0; end = session.partial.indexOf('\n')) {
      if (session.partial.subarray(0, end).toString() === 'ping') reply += `pong ${++session.answered}\n`;
      session.partial = session.partial.subarray(end + 1);
    }
    if (reply) socket.write(reply);
  });
  socket.on('close', () => sessions.delete(socket));
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  console.log(`old: serving on 127.0.0.1:${(server.address() as net.AddressInfo).port} as pid ${process.pid}`);
});

process.once('SIGUSR2', async () => {
  server.close(); // new connections: not part of this challenge
  const channel = await FdChannel.connect(path.join(process.env.FDLAB_SHARED ?? '.', 'handover.sock'), { waitMs: 5000 });
  let handed = 0;
  for (const [socket, session] of sessions) {
    handed += 1;
    const { fd, unread } = await detachSocket(socket); // reading stops at the handle: nothing is left behind
    const state = Buffer.from(`${JSON.stringify({ answered: session.answered })}\n`); // the session: ours alone
    await channel.send({ data: Buffer.concat([state, session.partial, unread]), fds: [fd] });
    close(fd);
  }
  await channel.send({ data: 'done' });
  console.log(`old: handed over ${handed} connections; exiting`);
  channel.close();
  process.exit(0);
});
