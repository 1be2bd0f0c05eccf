// Hand a live TCP connection from process A to process B, then exit cleanly.
// A accepts a client, hands its connection to B and closes its own copy; B
// adopts it and answers the client on the same connection.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { adoptSocket, close, describeFd, detachSocket, FdChannel, FdChannelServer, formatFd } from 'fdlab';

async function processA(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-example-')); // any directory you own
  const socketPath = path.join(dir, 'handover.sock');
  const b = fork(__filename, ['b', socketPath]);
  await new Promise((resolve) => b.once('message', resolve)); // B listens

  // A TCP server with one client, so that A has a live connection to hand over.
  const tcp = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => tcp.once('listening', resolve));
  const client = net.connect((tcp.address() as net.AddressInfo).port, '127.0.0.1');
  const [socket] = await new Promise<[net.Socket]>((resolve) => tcp.once('connection', (s) => resolve([s])));
  client.write('hello');
  await new Promise((resolve) => socket.once('readable', resolve)); // Node has read "hello"; nobody consumed it

  // Process A: hand the connection to whoever listens on the channel.
  const channel = await FdChannel.connect(socketPath, { waitMs: 5000 });
  const { fd, unread } = await detachSocket(socket); // stops Node's reads at the handle; nothing is lost
  await channel.send({ data: unread, fds: [fd] });
  close(fd); // the kernel gave B its own fd; A's copy would keep the connection open forever
  channel.close();
  tcp.close();

  client.on('data', (answer) => {
    console.log(`client got: ${answer}`);
    client.end();
  });
  await new Promise((resolve) => b.once('exit', resolve));
  fs.rmSync(dir, { recursive: true });
}

async function processB(socketPath: string): Promise<void> {
  const server = await FdChannelServer.listen(socketPath); // mode 0600
  process.send!('listening');
  const channel = await server.accept();
  const { data, fds } = await channel.receive();
  console.log(`B received ${formatFd(describeFd(fds[0]))}`); // e.g. 19<TCP:[127.0.0.1:41365->127.0.0.1:35634]> inode 61530
  const socket = adoptSocket(fds[0], { unread: data }); // an ordinary net.Socket; `unread` is delivered first
  socket.once('data', (request) => socket.end(`B (pid ${process.pid}) answers "${request}"`));
  socket.once('close', () => {
    channel.close();
    void server.close();
    process.disconnect();
  });
}

if (process.argv[2] === 'b') void processB(process.argv[3]);
else void processA();
