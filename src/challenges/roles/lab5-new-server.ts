// Lab 5 challenge, the new version (shipped, not the learner's): it listens on
// $FDLAB_SHARED/handover.sock and takes connections from the old version, one
// message each: the fd, and as data the bytes to serve first. A message with
// no fd and the data "done" ends the handover. It then serves ping/pong.
import * as path from 'node:path';
import { adoptSocket, FdChannelServer } from 'fdlab';
import { PingPongApp } from '../../serve/ping-pong';

async function main(): Promise<void> {
  const server = await FdChannelServer.listen(path.join(process.env.FDLAB_SHARED ?? '.', 'handover.sock'));
  console.log('new: waiting for the old version on handover.sock');
  const app = new PingPongApp((line) => console.log(`new: ${line}`));
  const channel = await server.accept();
  let adopted = 0;
  let pendingBytes = 0;
  for await (const { data, fds } of channel) {
    if (fds.length === 0 && data.toString() === 'done') break;
    for (const fd of fds) {
      app.serve(adoptSocket(fd), undefined, data);
      adopted += 1;
      pendingBytes += data.length;
    }
  }
  console.log(`new: adopted ${adopted} connections (${pendingBytes} bytes handed over with them); serving`);
  channel.close();
  await server.close();
  process.once('SIGTERM', () => process.exit(0));
}

void main();
