// Lab 4 long-lived client: one connection that writes a line every interval
// and reads seed 004's echo. When the server closes it, it says who closed it
// and how, and reconnects (seed 004: "the player sees a brief disconnect, but
// can reconnect"). Stops on SIGTERM, or after 30 s at the latest.
//
//   node long-client.js <port> [interval ms]
import * as net from 'node:net';
import { HOST, whoAnswered } from './common';

const port = Number(process.argv[2]);
const intervalMs = Number(process.argv[3] ?? 250);
const MAX_MS = 30_000;

interface Connection {
  number: number;
  localPort?: number;
  servedBy?: string;
  echoes: number;
  /** How it ended: 'server closed it (end of stream)', 'reset', or 'client stopped'. */
  ended?: string;
  endedAtMs?: number;
}

const started = performance.now();
const elapsed = () => Math.round(performance.now() - started);
const connections: Connection[] = [];
let stopping = false;
let current: net.Socket | undefined;

function connect(): void {
  const record: Connection = { number: connections.length + 1, echoes: 0 };
  connections.push(record);
  const socket = net.connect(port, HOST);
  current = socket;
  let pending = '';
  let ticker: NodeJS.Timeout | undefined;
  let sent = 0;
  const end = (how: string) => {
    if (record.ended) return;
    record.ended = how;
    record.endedAtMs = elapsed();
    clearInterval(ticker);
    socket.destroy();
    if (stopping) return;
    console.log(`connection ${record.number} (port ${record.localPort}, served by ${record.servedBy ?? 'nobody'}, ${record.echoes} echoes): ${how} at t=${(record.endedAtMs / 1000).toFixed(2)} s; reconnecting`);
    setTimeout(connect, 100);
  };
  socket.setEncoding('utf8');
  socket.once('connect', () => {
    record.localPort = socket.localPort;
    const ping = () => socket.write(`ping ${record.number}.${++sent}\n`);
    ping();
    ticker = setInterval(ping, intervalMs);
  });
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let at = pending.indexOf('\n'); at >= 0; at = pending.indexOf('\n')) {
      const reply = pending.slice(0, at);
      pending = pending.slice(at + 1);
      record.echoes += 1;
      if (!record.servedBy) {
        record.servedBy = whoAnswered(reply) ?? 'unknown';
        console.log(`connection ${record.number} (port ${record.localPort}): first echo: ${reply}`);
      }
    }
  });
  socket.on('error', (error: NodeJS.ErrnoException) => end(error.code === 'ECONNRESET' ? 'reset' : `error ${error.code}`));
  socket.on('end', () => end('server closed it (end of stream)'));
  socket.on('close', () => end('closed'));
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  const last = connections[connections.length - 1];
  if (last && !last.ended) {
    last.ended = 'client stopped';
    last.endedAtMs = elapsed();
  }
  current?.destroy();
  const dropped = connections.filter((c) => c.ended !== 'client stopped');
  console.log(`stopping: ${connections.length} connection(s), ${dropped.length} closed by the server side`);
  console.log(`RESULT ${JSON.stringify({ port, connections, dropped: dropped.length })}`);
  process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, MAX_MS);
connect();
