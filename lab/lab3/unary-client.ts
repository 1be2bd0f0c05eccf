// Lab 3 unary client: C connections x N request/reply each, all concurrent.
// Every reply must come from the other server than the previous one.
import * as net from 'node:net';
import { frame, FrameSplitter, percentile, PORTS, replyPort } from './protocol';

const connections = Number(process.argv[2] ?? 100);
const perConnection = Number(process.argv[3] ?? 1000);

interface Outcome {
  latencies: number[];
  violations: number;
}

function runConnection(id: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(PORTS[0], '127.0.0.1');
    const splitter = new FrameSplitter();
    const latencies: number[] = [];
    let violations = 0;
    let last = 0;
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      socket.write(frame(`req ${id}.${latencies.length}`));
    };
    socket.setNoDelay(true);
    socket.once('connect', send);
    socket.on('data', (chunk) => {
      for (const reply of splitter.push(chunk)) {
        latencies.push(performance.now() - sentAt);
        const port = replyPort(reply);
        if (last !== 0 && (port ^ last) !== 1) violations += 1;
        if (id === 0 && (latencies.length <= 6 || latencies.length % 200 === 0)) {
          console.log(`connection 0, reply ${latencies.length}: from port ${port}${last ? ` (previous ${last})` : ''}`);
        }
        last = port;
        if (latencies.length === perConnection) {
          socket.end();
          resolve({ latencies, violations });
        } else {
          send();
        }
      }
    });
    socket.on('error', reject);
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const outcomes = await Promise.all(Array.from({ length: connections }, (_, id) => runConnection(id)));
  const seconds = (performance.now() - started) / 1000;
  const latencies = outcomes.flatMap((o) => o.latencies).sort((a, b) => a - b);
  const result = {
    connections,
    requests: latencies.length,
    violations: outcomes.reduce((sum, o) => sum + o.violations, 0),
    seconds: Number(seconds.toFixed(2)),
    handoversPerSecond: Math.round(latencies.length / seconds),
    p50ms: Number(percentile(latencies, 50).toFixed(3)),
    p99ms: Number(percentile(latencies, 99).toFixed(3)),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

void main();
