// Lab 7 challenge, the client (shipped): one connection to 127.0.0.1:<port>,
// "ping N\n" every 20 ms, expecting "pong N <server>\n" back in order. It never
// reconnects. Once it has had its first pongs and then `waitingFor` pings in a
// row go unanswered, it says so (the old server is busy). SIGUSR1: stop
// pinging, wait (up to 5 s) for the last ping's pong, print RESULT <json>.
import * as net from 'node:net';

const [port, waitingFor] = [Number(process.argv[2]), Number(process.argv[3] ?? 5)];
const INTERVAL_MS = 20;

const result = {
  pings: 0,
  pongs: 0,
  answeredBy: {} as Record<string, number>,
  answered: [] as number[], // the ping numbers that got a pong, in the order the pongs came
  error: null as string | null,
  ended: false,
};
let pending = '';
let said = false;

const socket = net.connect(port, '127.0.0.1');
socket.setNoDelay(true);
socket.on('connect', () => console.log(`client: connected from port ${socket.localPort}`));
socket.on('data', (chunk) => {
  pending += chunk.toString('latin1');
  for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
    const [, n, server] = pending.slice(0, end).split(' ');
    pending = pending.slice(end + 1);
    result.pongs++;
    result.answered.push(Number(n));
    if (result.answeredBy[server] === undefined) console.log(`client: first pong from ${server}`);
    result.answeredBy[server] = (result.answeredBy[server] ?? 0) + 1;
  }
});
socket.on('error', (e: NodeJS.ErrnoException) => {
  result.error = e.code ?? e.message;
  console.log(`client: connection error: ${result.error}`);
});
socket.on('end', () => {
  result.ended = true;
  console.log('client: the server ended the connection (FIN)');
});

const timer = setInterval(() => {
  if (socket.destroyed || socket.connecting) return;
  socket.write(`ping ${result.pings++}\n`);
  if (!said && result.pongs > 0 && result.pings - result.pongs >= waitingFor) {
    said = true;
    console.log(`client: ${result.pongs} pongs, then ${result.pings - result.pongs} pings unanswered`);
  }
}, INTERVAL_MS);

process.on('SIGUSR1', () => {
  clearInterval(timer);
  const started = Date.now();
  const finish = setInterval(() => {
    // The stream is ordered: once the last ping's pong is in, no other pong is coming.
    const lastAnswered = result.answered.at(-1) === result.pings - 1;
    if (result.pongs < result.pings && !lastAnswered && Date.now() - started < 5000 && !socket.destroyed) return;
    clearInterval(finish);
    console.log(`RESULT ${JSON.stringify(result)}`);
  }, 10);
});
process.on('SIGTERM', () => process.exit(0));
