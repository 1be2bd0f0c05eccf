// Lab 2 tcp-server (seed 000's tcp_server.py): prints who wrote what.
import * as net from 'node:net';

const port = Number(process.argv[2] ?? 9999);
net
  .createServer((socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('data', (chunk) => {
      console.log(`${peer} wrote:`);
      console.log(chunk.toString());
    });
    socket.on('end', () => console.log(`${peer} closed the connection`));
    socket.on('error', () => socket.destroy());
  })
  .listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
