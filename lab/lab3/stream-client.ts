// Lab 3 stream client: writes N requests at once on one connection and
// expects exactly N replies, strictly alternating between the two servers.
import * as net from 'node:net';
import { frame, FrameSplitter, PORTS, replyPort } from './protocol';

const count = Number(process.argv[2] ?? 1000);
const timeoutMs = Number(process.argv[3] ?? 10_000);

const socket = net.connect(PORTS[0], '127.0.0.1');
const splitter = new FrameSplitter();
const ports: number[] = [];

function finish(reason: string): void {
  const alternations = ports.slice(1).filter((port, i) => (port ^ ports[i]) === 1).length;
  console.log(`RESULT ${JSON.stringify({ sent: count, replies: ports.length, strictlyAlternating: alternations === ports.length - 1, reason })}`);
  socket.destroy();
  process.exit(0);
}

socket.once('connect', () => {
  socket.write(Buffer.concat(Array.from({ length: count }, (_, i) => frame(`stream ${i}`))));
  console.log(`wrote ${count} requests in one write`);
});
socket.on('data', (chunk) => {
  for (const reply of splitter.push(chunk)) ports.push(replyPort(reply));
  if (ports.length >= count) finish('all replies');
});
setTimeout(() => finish(`timed out after ${timeoutMs} ms`), timeoutMs);
