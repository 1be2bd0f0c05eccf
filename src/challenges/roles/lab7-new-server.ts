// Lab 7 challenge, the new version (shipped, not the learner's): on SIGUSR2 it
// reads $FDLAB_SHARED/connection.json (what dumpTcp returned, as JSON), rebuilds
// the connection in a fresh socket with restoreTcp, and answers every "ping N"
// line it reads from it, the refilled receive queue first, with "pong N new".
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adoptSocket, describeFd, restoreTcp, type TcpRepairState } from 'fdlab';

const file = path.join(process.env.FDLAB_SHARED ?? '.', 'connection.json');

function restore(): void {
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as TcpRepairState;
  const queued = Buffer.from(state.recvQueue, 'base64');
  const fd = restoreTcp(state);
  const d = describeFd(fd);
  const pings = (queued.toString('latin1').match(/ping \d+\n/g) ?? []).map((p) => p.trim());
  console.log(`new: restored ${d.local?.address}:${d.local?.port} <-> ${d.remote?.address}:${d.remote?.port} in socket inode ${d.inode}: ` +
    `receive queue ${queued.length} bytes (${pings.length} pings${pings.length ? `: ${pings[0]}..${pings.at(-1)}` : ''})`);
  const socket = adoptSocket(fd);
  let pending = '';
  socket.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      socket.write(`${line.replace(/^ping/, 'pong')} new\n`);
    }
  });
  socket.on('error', (e: NodeJS.ErrnoException) => console.log(`new: connection error: ${e.code ?? e.message}`));
}

process.once('SIGUSR2', () => {
  try {
    restore();
  } catch (error) {
    console.log(`new: cannot restore from connection.json: [${(error as NodeJS.ErrnoException).code}] ${(error as Error).message}`);
    process.exit(1);
  }
});
process.once('SIGTERM', () => process.exit(0));
setInterval(() => undefined, 1 << 30); // nothing else keeps this process alive until SIGUSR2
console.log(`new: waiting for SIGUSR2 to restore from connection.json, in network namespace ${fs.readlinkSync('/proc/self/ns/net')}`);
