// fdlab/ws carries each WebSocket's handshake request: the next version's
// 'connection' handler gets (ws, req) as for a fresh one, req with the url
// and headers the client sent (a newcomer's chat read `req.url`, which ws's
// typings promise, and the next version threw: undefined). Also: save() and
// wss.clients use the server's own WebSocket type (WeakMap<WebSocket, ...>
// compiles here with --strict), and a rebuilt WebSocket is in wss.clients.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import { startUpgradePair } from 'fdlab/testing';
import { sessionOf, wsApp } from 'fdlab/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { until } from '../helpers/fds';

/** A client whose answers and close are recorded (open once connected). */
function client(url: string, options?: WebSocket.ClientOptions) {
  const ws = new WebSocket(url, options);
  const seen = { ws, answers: [] as string[], closed: false, open: new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)) };
  ws.on('message', (data) => seen.answers.push(String(data)));
  ws.on('close', () => (seen.closed = true));
  return seen;
}

interface Seen {
  generation: number;
  url: string | undefined;
  user: string | undefined;
  cookie: string | undefined;
  sameSocket: boolean;
  session: string | undefined;
  clients: number;
}

describe('fdlab/ws: the handshake request travels', function () {
  it("the next version's 'connection' gets req with the url and headers the client sent, on the live socket", async () => {
    const seen: Seen[] = [];
    const pair = await startUpgradePair({
      app: (generation: number) => {
        const server = http.createServer();
        const wss = new WebSocketServer({ server, perMessageDeflate: false });
        const names = new WeakMap<WebSocket, string>(); // the server's own WebSocket type: save() is typed with it
        wss.on('connection', (ws, req) => {
          names.set(ws, sessionOf<string>(ws) ?? `from ${req.url}`);
          const socket = (ws as unknown as { _socket: unknown })._socket;
          seen.push({ generation, url: req.url, user: req.headers['x-user'] as string | undefined, cookie: req.headers.cookie, sameSocket: req.socket === socket, session: sessionOf<string>(ws), clients: wss.clients.size });
          ws.on('message', (data) => ws.send(`v${generation} ${names.get(ws)}: ${data}`));
        });
        return wsApp(server, wss, { save: (ws) => names.get(ws) ?? '' });
      },
    });
    const c = client(`ws://127.0.0.1:${pair.port}/room/7?user=ann`, { headers: { 'x-user': 'ann', cookie: ['a=1', 'b=2'] as unknown as string } });
    const { ws, answers } = c;
    try {
      await c.open;
      await pair.upgrade();
      ws.send('hi');
      await until(5000, () => `v2's answer (${answers})`, () => answers.length === 1);
      assert.deepEqual(answers, ['v2 from /room/7?user=ann: hi']);
      assert.equal(seen.length, 2, JSON.stringify(seen));
      const [v1, v2] = seen;
      assert.deepEqual(v1, { generation: 1, url: '/room/7?user=ann', user: 'ann', cookie: v1.cookie, sameSocket: true, session: undefined, clients: 1 });
      assert.deepEqual(v2, { generation: 2, url: '/room/7?user=ann', user: 'ann', cookie: v1.cookie, sameSocket: true, session: 'from /room/7?user=ann', clients: 1 });
      assert.ok(v1.cookie?.includes('a=1'), `the cookie header arrived in v1 (${v1.cookie})`);
      assert.equal(c.closed, false);
    } finally {
      ws.terminate();
      await pair.close();
    }
  });
});

describe('an app that throws in the new version', function () {
  it("the upgrade rolls back with ERR_SUCCESSOR_REFUSED and the app's own message, the old version serves on, the client never sees a close", async () => {
    const pair = await startUpgradePair({
      app: (generation: number) => {
        const server = http.createServer();
        const wss = new WebSocketServer({ server, perMessageDeflate: false });
        wss.on('connection', (ws) => {
          if (generation === 2) throw new TypeError('v2 cannot serve this one');
          ws.on('message', (data) => ws.send(`v${generation}: ${data}`));
        });
        return wsApp(server, wss);
      },
    });
    const c = client(`ws://127.0.0.1:${pair.port}/`);
    const { ws, answers } = c;
    try {
      await c.open;
      const failed = await pair.upgrade().then(() => null, (error: { result?: { outcome: string; reason?: string; code?: string } }) => error.result);
      // Before: "the successor exited (code 1)" (ERR_SUCCESSOR_EXITED), or with real processes ERR_UPGRADE_GARBLED.
      assert.equal(failed?.outcome, 'rolled-back', JSON.stringify(failed));
      assert.equal(failed?.code, 'ERR_SUCCESSOR_REFUSED', JSON.stringify(failed));
      assert.match(failed?.reason ?? '', /^the new version could not take over: v2 cannot serve this one/);
      ws.send('still there?');
      await until(5000, () => `v1's answer (${answers})`, () => answers.length === 1);
      assert.deepEqual(answers, ['v1: still there?']);
      assert.equal(c.closed, false);
    } finally {
      ws.terminate();
      await pair.close();
    }
  });
});

describe('fdlab/ws: what of the handshake request travels, at its edges', function () {
  it("repeated headers arrive as node:http made them in v1 (Host and Authorization: the first), never joined anew; a head over 16 KiB travels as its url alone, said in the log", async () => {
    const seen: { generation: number; host?: string; authorization?: string; url?: string; cookie?: number }[] = [];
    const logs: string[] = [];
    const pair = await startUpgradePair({
      app: (generation: number) => {
        const server = http.createServer({ maxHeaderSize: 64 * 1024 });
        const wss = new WebSocketServer({ server, perMessageDeflate: false });
        wss.on('connection', (ws, req) => seen.push({ generation, host: req.headers.host, authorization: req.headers.authorization, url: req.url, cookie: req.headers.cookie?.length }));
        return wsApp(server, wss, { log: (line) => logs.push(line) });
      },
    });
    const handshake = (extra: string) =>
      `GET /room/1 HTTP/1.1\r\nHost: a.example\r\nHost: evil.example\r\nAuthorization: Bearer good\r\nAuthorization: Bearer other\r\n${extra}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    const sockets: net.Socket[] = [];
    try {
      for (const extra of ['', `Cookie: ${'c'.repeat(20_000)}\r\n`]) {
        const socket = net.connect(pair.port, '127.0.0.1');
        sockets.push(socket);
        let got = '';
        socket.on('data', (chunk: Buffer) => (got += chunk.toString('latin1')));
        socket.write(handshake(extra));
        await until(5000, () => `101 (${JSON.stringify(got.slice(0, 80))})`, () => got.startsWith('HTTP/1.1 101'));
      }
      await pair.upgrade();
      await until(5000, () => `both rebuilt in v2 (${JSON.stringify(seen)})`, () => seen.filter((s) => s.generation === 2).length === 2);
      const [v1Small, v1Big] = seen.filter((s) => s.generation === 1);
      assert.deepEqual(v1Small, { generation: 1, host: 'a.example', authorization: 'Bearer good', url: '/room/1', cookie: undefined }, 'node keeps the first Host and Authorization');
      assert.equal(v1Big.cookie, 20_000);
      const v2 = seen.filter((s) => s.generation === 2);
      assert.deepEqual(v2.find((s) => s.host !== undefined), { ...v1Small, generation: 2 }, 'v2 sees what v1 saw');
      assert.deepEqual(v2.find((s) => s.host === undefined), { generation: 2, host: undefined, authorization: undefined, url: '/room/1', cookie: undefined }, 'the big one: its url alone');
      assert.ok(logs.some((line) => /its handshake request is \d+ bytes, over the 16384 fdlab\/ws carries; the next version's 'connection' gets its url \(7 bytes\) and no headers/.test(line)), logs.join('\n'));
    } finally {
      for (const socket of sockets) socket.destroy();
      await pair.close();
    }
  });
});
