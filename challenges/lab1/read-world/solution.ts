// Lab 1 challenge "read-world", a solution: read all 11 bytes through the
// passed fd instead of 5. The same open file description, so "world" is
// there; the sender then reads from offset 11 and gets nothing.
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
  const buffer = Buffer.alloc(11);
  const n = fs.readSync(fd, buffer, 0, 11, null);
  console.log(`read ${n} bytes through fd ${fd}: "${buffer.subarray(0, n)}" (the shared offset is now ${describeFd(fd).offset})`);
  await channel.send({ data: 'your turn' }); // the sender reads on from the shared offset
  await channel.receive().catch(() => undefined); // its "done", or its hang-up
  fs.closeSync(fd);
  channel.close();
  await server.close();
}

void main();
