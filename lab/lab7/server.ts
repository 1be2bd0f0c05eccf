// Lab 7 server: answers "ping N\n" with "pong N <name>\n" on every connection,
// and moves its connections away on SIGUSR2, in a new coat or a new body:
//   --listen <addr>:<port>   v1: listens and serves whoever connects
//   --give coat              SIGUSR2: send each connection's fd over <shared>/coat.sock (SCM_RIGHTS), exit
//   --give body              SIGUSR2: dump each connection (TCP_REPAIR) to <shared>/body.json, close it silently, exit
//   --take coat              take connections from <shared>/coat.sock as they come
//   --take body              SIGUSR2: rebuild the connections of <shared>/body.json in fresh sockets
// With --take body and --give, the first SIGUSR2 takes and the second gives.
// SIGUSR1: report each connection's sequence numbers now (a dump, then repair mode off again).
import * as fs from 'node:fs';
import * as net from 'node:net';
import { adoptSocket, close, describeFd, detachSocket, dumpTcp, FdChannel, FdChannelServer, fdOf, restoreTcp, resumeTcp, type TcpRepairState } from 'fdlab';
import { sharedPath } from '../../src/runtime/role-env';

const name = process.argv[2];
const flag = (key: string) => {
  const at = process.argv.indexOf(key);
  return at < 0 ? undefined : process.argv[at + 1];
};
const listen = flag('--listen');
const give = flag('--give');
const take = flag('--take');

interface Conn {
  socket: net.Socket;
  pending: string; // a partial line
  served: number; // pongs this process wrote
  readBytes: number;
  wroteBytes: number;
}
/** What travels with a connection besides the kernel's part: the partial line and bytes Node had read. */
interface Carried {
  unread: string; // base64
}
const conns = new Set<Conn>();

function where(fd: number): string {
  const d = describeFd(fd);
  return `fd ${fd}, socket inode ${d.inode}, ${d.local?.address}:${d.local?.port} <-> ${d.remote?.address}:${d.remote?.port}`;
}

function serve(socket: net.Socket): Conn {
  const conn: Conn = { socket, pending: '', served: 0, readBytes: 0, wroteBytes: 0 };
  conns.add(conn);
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    conn.readBytes += chunk.length;
    conn.pending += chunk.toString('latin1');
    let newline: number;
    while ((newline = conn.pending.indexOf('\n')) >= 0) {
      const line = conn.pending.slice(0, newline);
      conn.pending = conn.pending.slice(newline + 1);
      const reply = `${line.replace(/^ping/, 'pong')} ${name}\n`;
      conn.wroteBytes += reply.length;
      conn.served++;
      socket.write(reply);
    }
  });
  socket.on('error', (e: NodeJS.ErrnoException) => console.log(`connection error: ${e.code ?? e.message}`));
  socket.on('close', () => conns.delete(conn));
  return conn;
}

/** Node's own part first: stop reading at the handle, keep what it had read, keep a dup of the fd. */
async function detach(conn: Conn): Promise<{ fd: number; carried: Carried }> {
  const detached = await detachSocket(conn.socket);
  conns.delete(conn);
  conn.socket.destroy(); // closes Node's fd; the dup keeps the connection
  const unread = Buffer.concat([Buffer.from(conn.pending, 'latin1'), detached.unread]);
  return { fd: detached.fd, carried: { unread: unread.toString('base64') } };
}

async function giveCoat(): Promise<void> {
  const channel = await FdChannel.connect(sharedPath('coat.sock'));
  for (const conn of [...conns]) {
    const before = fdOf(conn.socket);
    const { fd, carried } = await detach(conn);
    await channel.send({ data: JSON.stringify(carried), fds: [fd] });
    console.log(`gave by fd passing: my fd ${before} (sent as its dup ${fd}), ${where(fd)}`);
    close(fd);
  }
  channel.close();
}

function giveBody(): Promise<void> {
  return (async () => {
    const dumped: { state: TcpRepairState; carried: Carried }[] = [];
    for (const conn of [...conns]) {
      const { fd, carried } = await detach(conn);
      const at = where(fd);
      const state = dumpTcp(fd);
      close(fd); // in repair mode: no FIN, no RST
      dumped.push({ state, carried });
      const bytes = (b64: string) => Buffer.from(b64, 'base64').length;
      console.log(`dumped ${at}: recvEnd ${state.recvEnd}, sendEnd ${state.sendEnd}, receive queue ${bytes(state.recvQueue)} bytes, send queue ${bytes(state.sendQueue)} (${state.unsent} unsent); closed in repair mode`);
    }
    const file = sharedPath('body.json');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(dumped));
    fs.renameSync(`${file}.tmp`, file);
  })();
}

function takeBody(): void {
  const dumped = JSON.parse(fs.readFileSync(sharedPath('body.json'), 'utf8')) as { state: TcpRepairState; carried: Carried }[];
  for (const { state, carried } of dumped) {
    const started = process.hrtime.bigint();
    const fd = restoreTcp(state);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const unread = Buffer.from(carried.unread, 'base64');
    const queued = Buffer.from(state.recvQueue, 'base64').length;
    console.log(`restored in ${ms.toFixed(2)} ms: ${where(fd)}, receive queue ${queued} bytes refilled`);
    const conn = serve(adoptSocket(fd, { unread }));
    // Count only what arrives after the dump: the refilled queue and Node's unread bytes come before recvEnd.
    conn.readBytes = -(unread.length + queued);
  }
}

async function takeCoats(): Promise<void> {
  const server = await FdChannelServer.listen(sharedPath('coat.sock'));
  console.log('waiting for connections on coat.sock');
  for (;;) {
    const channel = await server.accept();
    channel.on('message', (message) => {
      const carried = JSON.parse(message.data.toString()) as Carried;
      console.log(`took by fd passing: ${where(message.fds[0])}`);
      serve(adoptSocket(message.fds[0], { unread: Buffer.from(carried.unread, 'base64') }));
    });
  }
}

// Each SIGUSR2 does the next of: take the body (--take body), give (--give).
const actions: (() => Promise<void>)[] = [];
if (take === 'body') actions.push(async () => takeBody());
if (give === 'coat') actions.push(giveCoat);
if (give === 'body') actions.push(giveBody);
process.on('SIGUSR2', () => {
  const action = actions.shift();
  if (!action) return;
  const giving = actions.length === 0 && give !== undefined;
  action().then(
    () => {
      console.log(giving ? 'handed over; exiting' : 'serving');
      if (giving) process.exit(0);
    },
    (error: NodeJS.ErrnoException) => {
      console.log(`failed: [${error.code}] ${error.message}`);
      process.exit(1);
    },
  );
});

process.on('SIGUSR1', () => {
  for (const conn of conns) {
    const fd = fdOf(conn.socket);
    const state = dumpTcp(fd);
    resumeTcp(fd);
    console.log(`now: ${where(fd)}: recvEnd ${state.recvEnd}, sendEnd ${state.sendEnd}; read ${conn.readBytes} bytes, wrote ${conn.wroteBytes} here, ${conn.served} pongs`);
  }
});
process.on('SIGTERM', () => process.exit(0));

if (listen) {
  const [address, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
  const server = net.createServer((socket) => {
    serve(socket);
    console.log(`accepted ${where(fdOf(socket))}`);
  });
  server.listen(port, address, () => console.log(`serving on ${address}:${port}`));
} else if (take === 'coat') {
  void takeCoats();
}
if (take === 'body') {
  setInterval(() => undefined, 1 << 30); // nothing else keeps the process alive until SIGUSR2
  console.log('waiting for SIGUSR2 to restore');
}
