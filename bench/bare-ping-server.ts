// bench:storm's baseline: a ping/pong server on bare node:net, as most Node
// servers are written (net.createServer, listen with Node's default backlog
// of 511). Prints "serving on 127.0.0.1:<port>" once it listens.
import * as net from 'node:net';

const server = net.createServer((socket) => {
  let partial = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    const pongs = lines.filter((line) => line === 'ping').length;
    if (pongs > 0) socket.write('pong\n'.repeat(pongs));
  });
  socket.on('error', () => socket.destroy());
});
server.listen(0, '127.0.0.1', Number(process.argv[2] ?? 511), () => console.log(`serving on 127.0.0.1:${(server.address() as net.AddressInfo).port}`));
