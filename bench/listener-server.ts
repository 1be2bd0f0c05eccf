// The "listener-only" strategy of bench/upgrade.ts: how nginx and tableflip
// upgrade. On SIGUSR2 the new process is started with only the listening
// socket (inherited as fd 3); the old one stops accepting but keeps every
// connection it has, so it can only exit once its clients hang up.
//
//   node dist/bench/listener-server.js --port 0 --pid-file F   (first process)
//   (a successor is started with LISTENER_FD_ENV=3 and the listener as fd 3)
//
// Log lines look like fdlab serve's, so the bench reads both the same way:
//   "HH:MM:SS.mmm [listener-only pid N] serving on 127.0.0.1:PORT as pid N"
// SIGWINCH prints "stats: pid N, K connections"; SIGTERM closes everything and exits.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { PingPongApp } from '../src/serve/ping-pong';
import { removePidFile, writePidFile } from 'fdlab';

export const LISTENER_FD_ENV = 'FDLAB_BENCH_LISTENER_FD';
const INHERITED_FD = 3;

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, 'pid-file': { type: 'string' } },
  strict: true,
});
const pidFile = values['pid-file'];
const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)} [listener-only pid ${process.pid}] ${line}`);

const app = new PingPongApp(log);
const sockets = new Set<net.Socket>();
let accepting = true;
const stats = () => `stats: pid ${process.pid}, ${sockets.size} connections`;

const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.once('close', () => {
    sockets.delete(socket);
    if (!accepting && sockets.size === 0) {
      log(`last old connection closed; exiting`);
      process.exit(0);
    }
  });
  app.serve(socket);
});

const inherited = process.env[LISTENER_FD_ENV];
delete process.env[LISTENER_FD_ENV];
server.listen(inherited ? { fd: Number(inherited) } : { port: Number(values.port), host: '127.0.0.1' }, () => {
  if (pidFile) writePidFile(pidFile);
  const { port } = server.address() as net.AddressInfo;
  log(`serving on 127.0.0.1:${port} as pid ${process.pid}${inherited ? ' (inherited listener)' : ''}; ${stats()}`);
});

process.on('SIGUSR2', () => {
  if (!accepting) return log('SIGUSR2 ignored: the listener was handed over already');
  const listenerFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', listenerFd],
    env: { ...process.env, [LISTENER_FD_ENV]: String(INHERITED_FD) },
  });
  child.unref();
  // Stop accepting: our copy of the listener closes, the successor's stays
  // open, and connections arriving meanwhile wait in the shared backlog.
  accepting = false;
  server.close();
  log(`handed the listener to pid ${child.pid}; keeping ${sockets.size} connections`);
  if (sockets.size === 0) {
    log('no connections to keep; exiting');
    process.exit(0);
  }
});
process.on('SIGWINCH', () => log(stats()));
process.once('SIGTERM', () => {
  log(`SIGTERM: stopping; ${stats()}`);
  for (const socket of sockets) socket.destroy();
  if (pidFile) removePidFile(pidFile);
  server.close(() => process.exit(0));
  if (!accepting) process.exit(0);
});
