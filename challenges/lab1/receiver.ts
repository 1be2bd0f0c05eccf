// Lab 1 challenge: the receiver. It waits for one fd on the shared Unix
// socket, reads through it, then lets the sender read on. `fdlab check 1`
// runs it beside lab 1's own sender (which you do not change).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeFd, FdChannelServer, formatFd } from 'fdlab';

// The check gives each run a fresh shared directory in FDLAB_SHARED.
const socketPath = path.join(process.env.FDLAB_SHARED ?? '.', 'lab1.sock');

async function main(): Promise<void> {
  const server = await FdChannelServer.listen(socketPath, { mode: 0o666 });
  console.log(`listening on ${socketPath} for an fd`);
  const channel = await server.accept();
  const { data, fds } = await channel.receive();
  const fd = fds[0];
  console.log(`received "${data}" and fd ${formatFd(describeFd(fd))}`);
  const buffer = Buffer.alloc(5);
  const n = fs.readSync(fd, buffer, 0, 5, null);
  console.log(`read ${n} bytes through fd ${fd}: "${buffer.subarray(0, n)}" (the shared offset is now ${describeFd(fd).offset})`);
  await channel.send({ data: 'your turn' }); // the sender reads on from the shared offset
  await channel.receive().catch(() => undefined); // its "done", or its hang-up
  fs.closeSync(fd);
  channel.close();
  await server.close();
}

void main();
