// Lab 5 challenge "carry-state", the new version (shipped, not the learner's):
// a numbered ping/pong. The client sends "ping\n"; the answer is "pong <n>\n",
// n counting this connection's pongs from 1. It takes connections on
// $FDLAB_SHARED/handover.sock, one message each: the fd and, as data,
// optionally a first line with the session as JSON ({"answered": n}), then
// the bytes to serve first. Without that line a session starts at 0.
// A message "done" without fds ends the handover.
import * as net from 'node:net';
import * as path from 'node:path';
import { adoptSocket, FdChannelServer } from 'fdlab';

function session(data: Buffer): { answered: number; unread: Buffer } {
  if (data[0] !== '{'.charCodeAt(0)) return { answered: 0, unread: data };
  const end = data.indexOf('\n');
  const parsed = JSON.parse(data.subarray(0, end).toString()) as { answered?: unknown };
  return { answered: typeof parsed.answered === 'number' ? parsed.answered : 0, unread: data.subarray(end + 1) };
}

function serve(socket: net.Socket, answered: number, unread: Buffer): void {
  let pending = unread.toString();
  const answer = () => {
    let reply = '';
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      if (pending.slice(0, end) === 'ping') reply += `pong ${++answered}\n`;
      pending = pending.slice(end + 1);
    }
    if (reply) socket.write(reply);
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    answer();
  });
  socket.on('error', () => socket.destroy());
  answer();
}

async function main(): Promise<void> {
  const server = await FdChannelServer.listen(path.join(process.env.FDLAB_SHARED ?? '.', 'handover.sock'));
  console.log('new: waiting for the old version on handover.sock');
  const channel = await server.accept();
  let adopted = 0;
  let carried = 0;
  for await (const { data, fds } of channel) {
    if (fds.length === 0 && data.toString() === 'done') break;
    for (const fd of fds) {
      const { answered, unread } = session(data);
      serve(adoptSocket(fd), answered, unread);
      adopted += 1;
      if (answered > 0) carried += 1;
    }
  }
  console.log(`new: adopted ${adopted} connections, ${carried} with their session; serving`);
  channel.close();
  await server.close();
  process.once('SIGTERM', () => process.exit(0));
}

void main();
