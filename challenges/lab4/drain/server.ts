// Lab 4 challenge "drain": a line server that restarts itself, seed 004
// style. `fdlab check 4 drain` starts it, opens new connections all the time,
// and sends SIGHUP while they come.
//
//   node server.js <gen2.js>    gen 1: binds 127.0.0.1 on a free port; on
//                               SIGHUP starts <gen2.js> (the check's own gen 2,
//                               src/challenges/roles/lab4-gen2.ts) with its
//                               listening socket as gen 2's fd 3
//
// Each line a client sends is answered after 200 ms of "work" with
// "gen <G> pid <pid>: <line>". Gen 2 sends SIGTERM to gen 1 once it serves;
// gen 1 then exits. Yours is gen 1.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { fdOf } from 'fdlab';

const HOST = '127.0.0.1';
const WORK_MS = 200;
const GEN2 = process.argv[2];
const log = (text: string) => console.log(`pid ${process.pid} (gen 1): ${text}`);

const server = net.createServer((socket) => {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      setTimeout(() => socket.write(`gen 1 pid ${process.pid}: ${line}\n`), WORK_MS);
    }
  });
  socket.on('error', () => socket.destroy());
});

async function main(): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  log(`serving on ${HOST}:${(server.address() as net.AddressInfo).port}`);
}

process.on('SIGHUP', () => {
  const port = (server.address() as net.AddressInfo).port;
  log(`SIGHUP: starting my successor with my listening fd as its fd 3`);
  const successor = spawn(process.execPath, [GEN2, String(port)], {
    stdio: ['ignore', 'inherit', 'inherit', fdOf(server)], // index 3: the successor's fd 3
  });
  successor.once('exit', (code) => log(`my successor exited (code ${code}); I go on serving`));
});

process.on('SIGTERM', () => {
  log('SIGTERM: my successor serves; exiting');
  process.exit(0);
});

main().catch((error: Error) => {
  log(`cannot serve: ${error.message}; exiting`);
  process.exit(1);
});
