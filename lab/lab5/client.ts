// Lab 5 client: N long-lived connections pinging every 100 ms, plus a probe
// opening a fresh connection every 100 ms (is the listener accepting?).
// SIGUSR1: stop pinging, wait for the last pongs, print RESULT, keep the
// connections open (the lab then asks the server for its counters).
import * as net from 'node:net';

const port = Number(process.argv[2] ?? 7000);
const count = Number(process.argv[3] ?? 100);
const intervalMs = 100;

interface Conn {
  socket: net.Socket;
  sentAt: number[];
  pings: number;
  pongs: number;
}

const stats = { disconnects: 0, garbage: 0, maxDelayMs: 0, maxDelayAt: '', probes: 0, probesFailed: 0, probeErrors: new Set<string>() };
/** The largest delay of the pings sent in each 100 ms (by send time, ms since the epoch): the lab picks the upgrade's window from them. */
const delays = new Map<number, number>();
const conns: Conn[] = [];
let pinging = true;

function open(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const conn: Conn = { socket: net.connect(port, '127.0.0.1'), sentAt: [], pings: 0, pongs: 0 };
    let buffered = 0;
    conn.socket.setNoDelay(true);
    conn.socket.once('connect', () => {
      // A reset later is a disconnect (counted at 'close'), not a crash: the lab stops the server first.
      conn.socket.on('error', () => {});
      resolve(conn);
    });
    conn.socket.once('error', reject);
    conn.socket.on('data', (chunk) => {
      if (chunk.toString() !== 'pong'.repeat(chunk.length / 4)) stats.garbage += 1;
      buffered += chunk.length;
      for (; buffered >= 4; buffered -= 4) {
        conn.pongs += 1;
        const sentAt = conn.sentAt.shift() ?? Date.now();
        const delay = Date.now() - sentAt;
        const bucket = sentAt - (sentAt % 100);
        if (delay > (delays.get(bucket) ?? -1)) delays.set(bucket, delay);
        if (delay > stats.maxDelayMs) {
          stats.maxDelayMs = delay;
          stats.maxDelayAt = new Date().toISOString().slice(11, 23);
        }
      }
    });
    conn.socket.on('close', () => {
      if (pinging || conns.includes(conn)) stats.disconnects += 1;
    });
  });
}

function probe(): void {
  stats.probes += 1;
  const socket = net.connect(port, '127.0.0.1');
  const timer = setTimeout(() => fail('no pong within 3 s'), 3000);
  const fail = (why: string) => {
    stats.probesFailed += 1;
    stats.probeErrors.add(why);
    clearTimeout(timer);
    socket.destroy();
  };
  socket.once('connect', () => socket.write('ping'));
  socket.once('data', () => {
    clearTimeout(timer);
    socket.destroy();
  });
  socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
}

async function main(): Promise<void> {
  for (let i = 0; i < count; i++) conns.push(await open());
  console.log(`all ${count} connections open to 127.0.0.1:${port}; pinging every ${intervalMs} ms`);
  const pinger = setInterval(() => {
    for (const conn of conns) {
      conn.sentAt.push(Date.now());
      conn.pings += 1;
      conn.socket.write('ping');
    }
  }, intervalMs);
  const prober = setInterval(probe, intervalMs);
  const reporter = setInterval(() => {
    const pings = conns.reduce((s, c) => s + c.pings, 0);
    const pongs = conns.reduce((s, c) => s + c.pongs, 0);
    console.log(`pings ${pings}, pongs ${pongs}, disconnects ${stats.disconnects}, largest delay ${stats.maxDelayMs} ms, probes ${stats.probes - stats.probesFailed}/${stats.probes} ok`);
  }, 1000);

  process.once('SIGUSR1', async () => {
    clearInterval(pinger);
    clearInterval(prober);
    clearInterval(reporter);
    const deadline = Date.now() + 5000;
    while (conns.some((c) => c.pongs < c.pings) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    pinging = false;
    const pings = conns.reduce((s, c) => s + c.pings, 0);
    const pongs = conns.reduce((s, c) => s + c.pongs, 0);
    const lost = conns.reduce((s, c) => s + Math.max(0, c.pings - c.pongs), 0);
    const duplicated = conns.reduce((s, c) => s + Math.max(0, c.pongs - c.pings), 0);
    const { probeErrors, ...rest } = stats;
    console.log(`RESULT ${JSON.stringify({ connections: count, pings, pongs, lost, duplicated, ...rest, probeErrors: [...probeErrors], delays: [...delays] })}`);
  });
  process.once('SIGTERM', () => {
    conns.splice(0).forEach((c) => c.socket.destroy());
    process.exit(0);
  });
}

void main();
