// Lab 7 challenge "unread-bytes", a solution: the old version of a ping/pong server, moved
// to a new body with TCP_REPAIR. It answers "ping N" with "pong N old", but only
// the first pings (as many as its argument says): then it is busy (a long job)
// and reads no more, while the client's pings keep coming.
//
// On SIGUSR2 it hands the connection over and exits: it holds the client's
// packets (an nftables rule that drops them), dumps the connection into
// $FDLAB_SHARED/connection.json (exactly what dumpTcp returns, as JSON) and
// closes its socket in repair mode (no FIN, no RST reach the client). The new
// version (src/challenges/roles/lab7-new-server.ts, started by the check) then
// rebuilds the connection with restoreTcp(state) and answers every ping it
// reads from it; the check lets the client's packets through again.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { close, detachSocket, dumpTcp } from 'fdlab';

const ANSWER = Number(process.argv[2]); // answer this many pings, then be busy
const STATE_FILE = path.join(process.env.FDLAB_SHARED ?? '.', 'connection.json');

let connection: net.Socket | undefined;
let pending = ''; // lines read, not answered yet
let answered = 0;

/** From now on the client's segments to `port` are dropped before any socket sees them (CRIU holds the peer this way too). */
function holdTheClient(port: number): void {
  const rules = `table inet lab7_hold {\n chain input {\n  type filter hook input priority 0;\n  tcp dport ${port} drop\n }\n}\n`;
  execFileSync('nft', ['-f', '-'], { input: rules });
}

const server = net.createServer((socket) => {
  connection = socket;
  socket.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\n'); end >= 0 && answered < ANSWER; end = pending.indexOf('\n')) {
      socket.write(`${pending.slice(0, end).replace(/^ping/, 'pong')} old\n`);
      pending = pending.slice(end + 1);
      answered++;
    }
    if (answered === ANSWER && !socket.isPaused()) {
      socket.pause(); // busy: no more 'data' events
      console.log(`old: answered ${answered} pings; busy now`);
    }
  });
  socket.on('error', (e: NodeJS.ErrnoException) => console.log(`old: connection error: ${e.code ?? e.message}`));
});

process.once('SIGUSR2', async () => {
  if (!connection) throw new Error('SIGUSR2 before any connection');
  const port = (server.address() as net.AddressInfo).port;
  holdTheClient(port); // first: a ping arriving between the dump and the close would be acknowledged, then lost
  // The unread bytes are in three places: `pending` (read, not answered), Node's buffer (read from
  // the kernel after pause(): pause() only stops the 'data' events) and the kernel's receive queue.
  // detachSocket stops the reads at the handle and hands back Node's part and a dup of the fd.
  const { fd, unread } = await detachSocket(connection);
  const state = dumpTcp(fd); // leaves the socket in repair mode
  // In stream order, all before recvEnd: the rebuilt socket's queue starts that many bytes earlier.
  const kernel = Buffer.from(state.recvQueue, 'base64');
  state.recvQueue = Buffer.concat([Buffer.from(pending, 'latin1'), unread, kernel]).toString('base64');
  fs.writeFileSync(STATE_FILE, JSON.stringify(state));
  console.log(`old: dumped the connection into ${STATE_FILE}: receive queue ${Buffer.from(state.recvQueue, 'base64').length} bytes ` +
    `(${pending.length} pending here, ${unread.length} in Node's buffer, ${kernel.length} in the kernel's)`);
  connection.destroy(); // closes Node's fd (repair mode is the socket's: nothing is sent)
  close(fd); // and the dup: the socket is gone, silently
  process.exit(0);
});

server.listen(0, '127.0.0.1', () => {
  console.log(`old: serving on 127.0.0.1:${(server.address() as net.AddressInfo).port} as pid ${process.pid}`);
});
