// Lab 1 receiver: waits on the shared volume for one fd, reads 5 bytes
// through it when the lab says go (SIGUSR2: step 3), then lets the sender
// read on. It cannot open the file itself. Until the go, both processes hold
// the file open, which `--pause` lets a learner look at.
import { once } from 'node:events';
import * as fs from 'node:fs';
import { describeFd, FdChannelServer, formatFd } from 'fdlab';
import { sharedPath } from '../../src/runtime/role-env';
import { holdStill } from '../../src/runtime/hold-still';

async function main(): Promise<void> {
  const socketPath = sharedPath('lab1.sock');
  const server = await FdChannelServer.listen(socketPath, { mode: 0o666 });
  console.log(`listening on ${socketPath} for an fd`);
  const channel = await server.accept();
  const peer = channel.peer();
  console.log(`sender connected (SO_PEERCRED pid ${peer.pid}${peer.pid === 0 ? ': it lives in another pid namespace' : ''}, uid ${peer.uid})`);
  const { data, fds } = await channel.receive();
  const fd = fds[0];
  const info = describeFd(fd);
  console.log(`received the ${data.length}-byte message "${data}" and fd ${fd}: ${formatFd(info)}`);
  console.log(`received fd ${fd} inode ${info.inode}`);
  const visible = fs.existsSync(info.target);
  console.log(`can I open ${info.target} by its path? ${visible ? 'yes (same filesystem)' : 'no: it exists only in the sender\'s container'}`);
  await holdStill('fd received, nothing read yet');
  const buffer = Buffer.alloc(5);
  const n = fs.readSync(fd, buffer, 0, 5, null);
  console.log(`read ${n} bytes through fd ${fd}: "${buffer.subarray(0, n)}" (the shared offset is now ${describeFd(fd).offset})`);
  await holdStill('5 bytes read, the sender has not read yet');
  await channel.send({ data: 'your turn' });
  await channel.receive().catch(() => undefined); // the sender's "done", or its hang-up
  fs.closeSync(fd);
  channel.close();
  await server.close();
}

void main();
