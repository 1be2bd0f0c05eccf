// fdlab/ws at the edges of a WebSocket's life (issue 19, attacked as real
// clients would), on fdlab/testing's pair with real ws clients and raw
// sockets: what is in progress at the switch travels, in order, once.
//   - a close the client sent while not reading (the server's reply queued
//     behind 6 MB): it does not hold the upgrade to its deadline, and the new
//     version sends the old one's queued bytes before its FIN;
//   - the server's own close behind a 6 MB message the client has not read
//     yet: both reach the client (before the fix: destroyed, 1006);
//   - a negotiated subprotocol, a client ping in flight, a 300 KB message
//     half received, and 5 MB of echoes queued in user space (the client not
//     reading): all carried, in order;
//   - a GET and the upgrade request in one packet: served, then carried (a
//     slow GET: the connection moves once v1 answered it; before, v2 took it
//     at once and v1's answer was refused, lost); an
//     upgrade request cut in two by the switch: completed by the new version.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import { type HttpSession } from 'fdlab/http';
import { startUpgradePair, type UpgradePair } from 'fdlab/testing';
import { wsApp } from 'fdlab/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { until } from '../helpers/fds';

/** More than loopback's socket buffers take in (about 4 MB here): the rest waits in the server's user space. */
const BIG = 6 << 20;

/** Version g: echoes each message unchanged; "big" sends BIG bytes of g; "big-then-close" also closes with 4001. Every server WebSocket is kept. */
function edgeApp(generation: number, servers: WebSocket[], logs: string[], slow: (() => void)[] = []) {
  const server = http.createServer((req, res) => {
    const answer = () => res.end(`v${generation} ${req.url}\n`);
    if (req.url === '/slow') slow.push(answer);
    else answer();
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false, handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false) });
  wss.on('connection', (ws) => {
    servers.push(ws);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? '' : data.toString();
      if (text === 'big' || text === 'big-then-close') ws.send(Buffer.alloc(BIG, generation));
      if (text === 'big-then-close') ws.close(4001, `v${generation} done`);
      if (text !== 'big' && text !== 'big-then-close') ws.send(data, { binary: isBinary });
    });
  });
  return wsApp(server, wss, { log: (line) => logs.push(`v${generation}: ${line}`) });
}

class Client {
  readonly received: Buffer[] = [];
  closed: string | null = null;
  pongs: string[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.received.push(Buffer.from(data)));
    ws.on('close', (code, reason) => (this.closed = `${code} ${reason.toString()}`));
    ws.on('pong', (data) => this.pongs.push(data.toString()));
    ws.on('error', () => {});
  }

  static async connect(port: number, protocols?: string[]): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, { perMessageDeflate: false });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new Client(ws);
  }

  get socket(): net.Socket {
    return (this.ws as unknown as { _socket: net.Socket })._socket;
  }
}

const HANDSHAKE = 'GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

/** A client frame (masked with a zero key: the payload as is). */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | length]) : length < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, length >> 8, length & 255]) : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/** A raw TCP client: every byte it received, and whether the server's FIN came. */
async function rawClient(port: number): Promise<{ socket: net.Socket; data: () => Buffer; ended: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on('data', (chunk) => chunks.push(chunk));
  socket.on('end', () => (ended = true));
  socket.on('error', () => {});
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, data: () => Buffer.concat(chunks), ended: () => ended };
}

describe('fdlab/ws: what is in progress at the switch', function () {
  this.timeout(30_000);
  let pair: UpgradePair<HttpSession> | undefined;
  const logs: string[] = [];
  const servers: WebSocket[] = [];
  const slow: (() => void)[] = [];

  async function start(timeoutMs = 5000): Promise<UpgradePair<HttpSession>> {
    pair = await startUpgradePair<HttpSession>({ app: (g) => edgeApp(g, servers, logs, slow), timeoutMs, log: (line) => logs.push(line) });
    return pair;
  }

  afterEach(async () => {
    await pair?.close();
    pair = undefined;
    logs.length = 0;
    servers.length = 0;
    slow.length = 0;
  });

  /** A raw client that asked for BIG bytes, does not read them, then sends its close: v1's reply waits behind them. */
  it('a close the client sent while it does not read (the reply queued behind 6 MB): the upgrade does not wait for it (no ERR_BUSY_AT_DEADLINE); the new version sends the 6 MB and the close frame, then its FIN', async () => {
    const p = await start(3000);
    const raw = await rawClient(p.port);
    raw.socket.write(HANDSHAKE);
    await until(5000, 'the 101', () => raw.data().includes('\r\n\r\n'));
    const handshaken = raw.data().length;
    raw.socket.pause();
    const other = await Client.connect(p.port);
    raw.socket.write(frame(0x1, Buffer.from('big')));
    raw.socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
    await until(5000, 'v1 to queue its reply to the close behind the 6 MB', () => servers[0]?.readyState === WebSocket.CLOSING && servers[0].bufferedAmount > 0);
    await p.upgrade();
    raw.socket.resume();
    await until(5000, () => `the FIN (${raw.data().length - handshaken} bytes)`, () => raw.ended());
    const got = raw.data().subarray(handshaken);
    assert.deepEqual(got.subarray(0, 10), Buffer.from([0x82, 127, 0, 0, 0, 0, 0, BIG >> 16, 0, 0]), 'one binary frame of 6 MB');
    assert.ok(got.subarray(10, 10 + BIG).equals(Buffer.alloc(BIG, 1)), 'the 6 MB, whole');
    assert.deepEqual(got.subarray(10 + BIG), Buffer.from([0x88, 0x02, 0x03, 0xe8]), 'then one close frame (1000), nothing else');
    assert.doesNotMatch(logs.join('\n'), /ERR_BUSY_AT_DEADLINE/, 'a closing WebSocket is not busy: the upgrade did not wait for it');
    assert.match(logs.join('\n'), /v2: ending a WebSocket from 127\.0\.0\.1:\d+ handed over closing/);
    other.ws.send('after');
    await until(5000, 'the echo from v2', () => other.received.length === 1);
    assert.equal(other.received[0].toString(), 'after');
    assert.equal(other.closed, null);
  });

  it('the server closes behind a 6 MB message its client has not read (bufferedAmount > 0): the message and the close (4001) reach the client from the new version, in order, once', async () => {
    const p = await start();
    const client = await Client.connect(p.port);
    client.socket.pause(); // not reading: the 6 MB and the close frame wait in v1's user space and the kernel
    client.ws.send('big-then-close');
    await until(5000, 'v1 to queue the 6 MB and its close', () => servers[0]?.readyState === WebSocket.CLOSING && servers[0].bufferedAmount > 0);
    await p.upgrade();
    client.socket.resume();
    await until(5000, () => `the close (got ${client.received.length} messages, closed ${client.closed})`, () => client.closed !== null);
    assert.equal(client.closed, '4001 v1 done', "the server's close code, not 1006");
    assert.equal(client.received.length, 1);
    assert.ok(client.received[0].equals(Buffer.alloc(BIG, 1)), 'the 6 MB whole, from v1');
  });

  it('carried in one upgrade: the subprotocol, a ping in flight, a 300 KB message half received, 5 MB of echoes queued (the client not reading), an upgrade request cut by the switch; and a GET with the upgrade request in one packet', async () => {
    const p = await start();
    const proto = await Client.connect(p.port, ['chat.v1', 'chat.v2']);
    assert.equal(proto.ws.protocol, 'chat.v2');
    const slow = await Client.connect(p.port);
    const half = await rawClient(p.port);
    // One packet: a GET, then the upgrade request; then the 300 KB frame, a third of it before the switch.
    half.socket.write(`GET /first HTTP/1.1\r\nHost: t\r\n\r\n${HANDSHAKE}`);
    await until(5000, 'the GET answered and the 101', () => /v1 \/first\n[\s\S]*101 Switching Protocols[\s\S]*\r\n\r\n/.test(half.data().toString('latin1')));
    const handshaken = half.data().length;
    const payload = Buffer.alloc(300_000, 'x');
    const big = frame(0x2, payload);
    half.socket.write(big.subarray(0, 100_000));
    slow.socket.pause();
    const MB = 1 << 20;
    for (let i = 0; i < 5; i++) slow.ws.send(Buffer.alloc(MB, i));
    const v1 = () => servers.find((ws) => (ws as unknown as { _socket: net.Socket })._socket.remotePort === slow.socket.localPort)!;
    await until(5000, 'v1 to have echoes queued in user space', () => v1()?.bufferedAmount > MB);
    proto.ws.ping('in flight');
    // And an upgrade request cut in two by the switch: its head's start travels as pending bytes.
    const late = await rawClient(p.port);
    late.socket.write(HANDSHAKE.slice(0, 40));
    await p.upgrade();
    late.socket.write(HANDSHAKE.slice(40));
    late.socket.write(frame(0x1, Buffer.from('late')));
    half.socket.write(big.subarray(100_000));
    proto.ws.send('after');
    slow.socket.resume();
    await until(5000, () => `every echo (slow ${slow.received.length}, proto ${proto.received.length}, raw ${half.data().length - handshaken})`, () => slow.received.length === 5 && proto.received.length === 1 && half.data().length - handshaken >= 300_000 + 10);
    assert.deepEqual(slow.received.map((b) => b.length + ':' + b[0] + ':' + b[MB - 1]), [0, 1, 2, 3, 4].map((i) => `${MB}:${i}:${i}`), '5 MB, in order');
    assert.equal(proto.received[0].toString(), 'after');
    assert.deepEqual(proto.pongs, ['in flight']);
    const echoed = half.data().subarray(handshaken);
    assert.deepEqual(echoed.subarray(0, 10), Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 0x04, 0x93, 0xe0]), 'one binary frame of 300,000 bytes');
    assert.ok(echoed.subarray(10).equals(payload));
    assert.equal(servers.filter((ws) => (ws as unknown as { _socket: net.Socket })._socket.remotePort === proto.socket.localPort).at(-1)!.protocol, 'chat.v2', 'v2 has the subprotocol');
    for (const client of [proto, slow]) assert.equal(client.closed, null);
    await until(5000, () => `the late handshake answered by v2, and its echo (${JSON.stringify(late.data().toString('latin1'))})`, () => late.data().includes('late'));
    assert.match(late.data().toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\n\x81\x04late$/);
  });

  it('a 32 MiB message in one frame, half of it before the switch: echoed whole by v2, and read in seconds (fdlab/ws joined the frame in progress on every chunk: 4.8 s of copying for 32 MiB, the event loop stopped)', async () => {
    const p = await start();
    const raw = await rawClient(p.port);
    raw.socket.write(HANDSHAKE);
    await until(5000, 'the 101', () => raw.data().includes('\r\n\r\n'));
    const handshaken = raw.data().length;
    const payload = Buffer.alloc(32 << 20, 'm');
    const big = frame(0x2, payload);
    const started = Date.now();
    raw.socket.write(big.subarray(0, 16 << 20));
    await p.upgrade();
    raw.socket.write(big.subarray(16 << 20));
    await until(20_000, () => `the echo (${raw.data().length - handshaken} bytes)`, () => raw.data().length - handshaken >= payload.length + 10);
    const tookMs = Date.now() - started;
    const echoed = raw.data().subarray(handshaken);
    assert.equal(echoed.length, payload.length + 10);
    assert.ok(echoed.subarray(10).equals(payload));
    assert.ok(tookMs < 3000, `the upgrade and the echo took ${tookMs} ms (measured 0.5 s; 7 s and more when each chunk was joined)`);
  });

  it('a slow GET and the upgrade request in one packet (node:http takes the upgrade at once, the GET still unanswered): the connection moves only once v1 has answered the GET; the client gets the same bytes as with no upgrade, then v2 echoes', async () => {
    const p = await start();
    const raw = await rawClient(p.port);
    raw.socket.write(`GET /slow HTTP/1.1\r\nHost: t\r\n\r\n${HANDSHAKE}`);
    await until(5000, 'the 101 and v1 holding /slow', () => raw.data().includes('101 Switching Protocols') && slow.length === 1);
    const upgraded = p.upgrade();
    await until(5000, () => `the first group committed:\n${logs.join('\n')}`, () => logs.some((l) => /^v1: committed/.test(l)));
    slow.shift()!(); // v1 answers the GET (after its 101: that order is node:http's, with or without fdlab)
    await upgraded;
    raw.socket.write(frame(0x1, Buffer.from('ws after')));
    await until(5000, () => `the echo (${JSON.stringify(raw.data().toString('latin1'))})`, () => raw.data().includes('ws after'));
    const text = raw.data().toString('latin1').replace(/\r\nDate: [^\r]*|\r\nKeep-Alive: [^\r]*/g, '');
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*?\r\n\r\nHTTP\/1\.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 9\r\n\r\nv1 \/slow\n\x81\x08ws after$/, 'the GET answered once, by v1, before the move');
  });
});
