// Lab 7 client: one long-lived connection, "ping N\n" every 20 ms, expecting
// "pong N <server>\n" back in order. It never reconnects: a FIN or RST ends it,
// and that shows. SIGUSR1: stop pinging, wait for the last pongs, print RESULT.
//   pinger <address> <port> [local address to bind]
import * as net from 'node:net';
import { describeFd, fdOf } from 'fdlab';

const [address, port, localAddress] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const INTERVAL_MS = 20;

const stats = { pings: 0, pongs: 0, outOfOrder: 0, maxDelayMs: 0, answeredBy: {} as Record<string, number>, error: null as string | null, ended: false };
const sentAt: number[] = [];
let pending = '';
let inode = 0;

const socket = net.connect({ host: address, port, ...(localAddress ? { localAddress } : {}) });
socket.setNoDelay(true);
socket.on('connect', () => {
  const d = describeFd(fdOf(socket));
  inode = d.inode;
  console.log(`connected: ${d.local?.address}:${d.local?.port} -> ${d.remote?.address}:${d.remote?.port}, socket inode ${inode}`);
});
socket.on('data', (chunk) => {
  pending += chunk.toString('latin1');
  let newline: number;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const [word, n, server] = pending.slice(0, newline).split(' ');
    pending = pending.slice(newline + 1);
    if (word !== 'pong' || Number(n) !== stats.pongs) stats.outOfOrder++;
    stats.pongs++;
    if (stats.answeredBy[server] === undefined) console.log(`first pong from ${server}`);
    stats.answeredBy[server] = (stats.answeredBy[server] ?? 0) + 1;
    stats.maxDelayMs = Math.max(stats.maxDelayMs, Date.now() - (sentAt.shift() ?? Date.now()));
  }
});
socket.on('error', (e: NodeJS.ErrnoException) => {
  stats.error = e.code ?? e.message;
  console.log(`connection error: ${stats.error}`);
});
socket.on('end', () => {
  stats.ended = true;
  console.log('the server ended the connection (FIN)');
});

const timer = setInterval(() => {
  if (socket.destroyed || socket.connecting) return;
  sentAt.push(Date.now());
  socket.write(`ping ${stats.pings++}\n`);
}, INTERVAL_MS);

process.on('SIGUSR1', () => {
  clearInterval(timer);
  const started = Date.now();
  const finish = setInterval(() => {
    if (stats.pongs < stats.pings && Date.now() - started < 5000 && !socket.destroyed) return;
    clearInterval(finish);
    const now = socket.destroyed ? null : describeFd(fdOf(socket)).inode;
    console.log(`RESULT ${JSON.stringify({ ...stats, lost: stats.pings - stats.pongs, inodeAtStart: inode, inodeNow: now })}`);
  }, 10);
});
process.on('SIGTERM', () => process.exit(0));
