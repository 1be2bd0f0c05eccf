// Lab 4, part R: binds and listens on 127.0.0.1:<port> the way every Node
// server does (libuv sets SO_REUSEADDR first), prints the outcome, exits.
// time-wait.js runs it twice under strace: first with strace swallowing
// every setsockopt(), so the kernel never sees SO_REUSEADDR, then as it is.
//
//   node bind-once.js <port>
import * as net from 'node:net';
import { HOST } from './common';

const port = Number(process.argv[2]);
const server = net.createServer();
server.once('error', (error: NodeJS.ErrnoException) => console.log(`bind(${HOST}:${port}): ${error.code}`));
server.listen(port, HOST, () => {
  console.log(`bind(${HOST}:${port}): bound`);
  server.close();
});
