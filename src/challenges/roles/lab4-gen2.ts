// Lab 4 challenge "drain", gen 2 (shipped, not the learner's): started by your
// gen 1 on SIGHUP with gen 1's listening socket as its fd 3, it serves on that
// socket, then sends SIGTERM to gen 1. What gen 1 does then is your part.
//
//   node lab4-gen2.js <port>      (fd 3: the listening socket)
import * as net from 'node:net';
import { adoptServer } from 'fdlab';

const WORK_MS = 200;
const log = (text: string) => console.log(`pid ${process.pid} (gen 2): ${text}`);

const server = net.createServer((socket) => {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      setTimeout(() => socket.write(`gen 2 pid ${process.pid}: ${line}\n`), WORK_MS);
    }
  });
  socket.on('error', () => socket.destroy());
});

adoptServer(3, server).then(
  () => {
    log(`serving on 127.0.0.1:${process.argv[2]} (inherited fd 3)`);
    process.kill(process.ppid, 'SIGTERM'); // I serve now: my parent may stop
  },
  (error: Error) => {
    log(`cannot serve: ${error.message}; exiting`);
    process.exit(1);
  },
);
process.on('SIGTERM', () => process.exit(0));
