// One client of `fdlab serve`: a connection that sends the 4 bytes "ping"
// every 10 ms for a while, counts the "pong"s, and says whether any was lost.
//   node dist/examples/ping-client.js <port> <milliseconds>
import * as net from 'node:net';

const [port, durationMs] = [Number(process.argv[2]), Number(process.argv[3] ?? 3000)];
const socket = net.connect(port, '127.0.0.1');
let pings = 0;
let pongs = 0;
let received = '';
socket.setEncoding('latin1');
socket.on('data', (chunk: string) => {
  received += chunk;
  while (received.startsWith('pong')) {
    received = received.slice(4);
    pongs += 1;
  }
  if (stopped && pongs === pings) finish();
});
socket.on('close', () => finish());
let stopped = false;
const timer = setInterval(() => {
  socket.write('ping'); // exactly 4 bytes, no newline: anything else closes the connection
  pings += 1;
}, 10);
setTimeout(() => {
  clearInterval(timer);
  stopped = true;
  if (pongs === pings) finish();
  else setTimeout(finish, 2000); // the last pongs are on their way; 2 s is the most they may take
}, durationMs);

function finish(): void {
  console.log(`${pings} pings, ${pongs} pongs, ${pings - pongs} lost, connection ${socket.destroyed ? 'closed by the server' : 'open to the end'}`);
  socket.destroy();
  process.exit(pings === pongs ? 0 : 1);
}
