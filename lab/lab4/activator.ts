// Lab 4, part A: the parent. It binds and listens on 127.0.0.1:<port> but
// never accepts. It starts a child with the listening socket as the child's
// fd 3 (the place systemd's socket activation uses too), closes its own copy
// and waits for the child: from then on the socket is open only in the child.
//
//   node activator.js <port>
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { describeFd, fdOf, formatFd } from 'fdlab';
import { HOST } from './common';

const port = Number(process.argv[2]);
const log = (text: string) => console.log(`parent pid ${process.pid}: ${text}`);

async function main(): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
  const fd = fdOf(server);
  log(`bound and listening: fd ${formatFd(describeFd(fd))}`);
  const child = spawn(process.execPath, [...process.execArgv, path.join(__dirname, 'inherited-child.js'), String(port)], {
    stdio: ['ignore', 'inherit', 'inherit', fd], // the child's fd 3 = a dup of our listening socket
  });
  log(`started child pid ${child.pid} with my fd ${fd} as its fd 3`);
  server.close(); // closes our fd only: the child's fd 3 keeps the socket alive and listening
  log(`closed my own fd ${fd}: the socket is now open in the child only`);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  child.once('exit', (code, signal) => {
    log(`child exited (${signal ?? `code ${code}`})`);
    process.exit(code ?? 0);
  });
}

main().catch((error: Error) => {
  log(`failed: ${error.message}`);
  process.exit(1);
});
