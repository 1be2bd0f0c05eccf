// fdlab/ws (issue 19, item 1): a ws WebSocketServer's connections across
// upgrades, on fdlab/testing's pair with real ws clients. A message
// fragmented across an upgrade (first frame to v1, the rest to v2) arrives
// whole, once; binary stays binary; the app's per-socket state travels
// (save / sessionOf); pings both ways work after; no client sees a close.
// permessage-deflate without context takeover travels (clients compressing
// nonstop across two upgrades, a compressed message split by each switch);
// with context takeover it is refused (ERR_WS_DEFLATE), and why is measured
// here: a fresh inflater cannot read the client's next message (1007). A
// WebSocket the app paused stays paused, and loses nothing. Each scenario
// runs against the oldest and the newest ws of fdlab's peerDependencies.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import { type HttpSession } from 'fdlab/http';
import { startUpgradePair, type UpgradePair } from 'fdlab/testing';
import { sessionOf, wsApp } from 'fdlab/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { until } from '../helpers/fds';
import { collect } from '../helpers/process';

type WsModule = typeof import('ws');

const LIBRARY = path.resolve(__dirname, '..', '..', '..', 'packages', 'fdlab');
const ROOT = path.dirname(path.dirname(LIBRARY));

/** The ws versions tested: the oldest fdlab's peerDependencies allow (an npm alias, pinned) and the newest (the repository's own). */
const VERSIONS: { name: string; ws: WsModule }[] = [
  { name: 'ws', ws: require('ws') as WsModule },
  { name: 'ws-8.20', ws: require('ws-8.20') as WsModule },
];
const versionOf = (name: string) => (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;

/** permessage-deflate as fdlab/ws carries it: every message compressed on its own, both ways. */
const DEFLATE = { serverNoContextTakeover: true, clientNoContextTakeover: true };

interface Count {
  count: number;
}

/** ws's WebSocket as a ws older than 8.20 has it: no PerMessageDeflate on it. */
class Before820 extends WebSocket {
  static PerMessageDeflate = undefined;
}

/** The server side of each version: its WebSockets in the order they came (fresh or rebuilt), and their pongs. */
class Versions {
  readonly sockets = new Map<number, WebSocket[]>();
  readonly pongs = new WeakMap<object, number>();

  of(generation: number): WebSocket[] {
    return this.sockets.get(generation) ?? [];
  }

  /** v<generation>'s WebSocket for a client (matched by its port). */
  find(generation: number, client: Client): WebSocket {
    const port = client.socket.localPort;
    const ws = this.of(generation).find((w) => (w as unknown as { _socket: net.Socket })._socket.remotePort === port);
    assert.ok(ws, `v${generation} serves the client on port ${port}`);
    return ws;
  }
}

interface EchoOptions {
  ws?: WsModule;
  perMessageDeflate?: boolean | object;
  /** The server's options.WebSocket (default: ws's). */
  WebSocket?: typeof WebSocket;
  versions?: Versions;
  log?: (line: string) => void;
}

/** Version g: echoes each message as "v<g> #<n>: <text>" (binary: the bytes back, binary); n counts the socket's messages over versions. "pause" pauses the WebSocket. */
function echoApp(generation: number, options: EchoOptions = {}) {
  const server = http.createServer((_req, res) => res.end(`v${generation}\n`));
  const wss = new (options.ws ?? { WebSocketServer }).WebSocketServer({ server, perMessageDeflate: options.perMessageDeflate ?? false, ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}) });
  const counts = new WeakMap<object, Count>();
  wss.on('connection', (ws) => {
    const count: Count = { count: sessionOf<Count>(ws)?.count ?? 0 };
    counts.set(ws, count);
    if (options.versions) {
      const { versions } = options;
      versions.sockets.set(generation, [...versions.of(generation), ws as WebSocket]);
      ws.on('pong', () => versions.pongs.set(ws, (versions.pongs.get(ws) ?? 0) + 1));
    }
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      count.count += 1;
      if (isBinary) ws.send(data, { binary: true });
      else ws.send(`v${generation} #${count.count}: ${data.toString()}`);
      if (!isBinary && data.toString() === 'pause') ws.pause();
    });
  });
  return wsApp<Count>(server, wss, { save: (ws) => ({ count: counts.get(ws)?.count ?? 0 }), log: options.log });
}

class Client {
  readonly received: (string | Buffer)[] = [];
  closed: number | null = null;
  pongs = 0;
  /** The server's Sec-WebSocket-Extensions answer. */
  extensions = '';

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.received.push(isBinary ? Buffer.from(data) : data.toString()));
    ws.on('close', (code) => (this.closed = code));
    ws.on('pong', () => (this.pongs += 1));
    ws.on('error', () => {});
    ws.on('upgrade', (response) => (this.extensions = String(response.headers['sec-websocket-extensions'] ?? '')));
  }

  static async connect(port: number, perMessageDeflate: boolean | object = false): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate });
    const client = new Client(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return client;
  }

  /** The client's TCP socket (bytes on the wire). */
  get socket(): net.Socket {
    return (this.ws as unknown as { _socket: net.Socket })._socket;
  }

  async next(count: number): Promise<(string | Buffer)[]> {
    await until(5000, () => `${count} messages (got ${JSON.stringify(this.received).slice(0, 500)}, closed ${this.closed})`, () => this.received.length >= count || this.closed !== null);
    assert.equal(this.closed, null, `closed with ${this.closed}`);
    return this.received;
  }

  /** Sends, and resolves once the frame is in the kernel (after compression, if any). */
  sent(data: string, options: { fin?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(data, options, (error) => (error ? reject(error) : resolve())));
  }
}

/**
 * Call when `client` and v<g>'s `server` WebSocket are in step (every message
 * answered): returns a wait until the server has read every byte the client
 * wrote since (a rebuilt socket counts its bytes from its adoption: hence the offset).
 */
function readAll(server: WebSocket, client: Client): () => Promise<void> {
  const socket = (server as unknown as { _socket: net.Socket })._socket;
  const offset = client.socket.bytesWritten - socket.bytesRead;
  return () => until(5000, () => `the server read what the client wrote (${client.socket.bytesWritten - offset} bytes, read ${socket.bytesRead})`, () => socket.bytesRead + offset === client.socket.bytesWritten);
}

for (const version of VERSIONS) {
  describe(`fdlab/ws with ${version.name} ${versionOf(version.name)}: WebSocket connections across upgrades`, function () {
    this.timeout(30_000);
    let pair: UpgradePair<HttpSession> | undefined;

    afterEach(async () => {
      await pair?.close();
      pair = undefined;
    });

    it('text, binary and a message fragmented across the upgrade arrive once, in order; the count travels; pings both ways work after (a client\'s, and the keepalive pings of the new version); nobody sees a close', async () => {
      const logs: string[] = [];
      const versions = new Versions();
      pair = await startUpgradePair<HttpSession>({ app: (g) => echoApp(g, { ws: version.ws, versions }), log: (line) => logs.push(line) });
      const clients = await Promise.all([0, 1, 2].map(() => Client.connect(pair!.port)));
      const [text, binary, fragmented] = clients;
      text.ws.send('a');
      binary.ws.send(Buffer.from([1, 2, 3]));
      fragmented.ws.send('b');
      assert.deepEqual(await text.next(1), ['v1 #1: a']);
      assert.deepEqual(await binary.next(1), [Buffer.from([1, 2, 3])]);
      assert.deepEqual(await fragmented.next(1), ['v1 #1: b']);
      // The first frame of a message reaches v1; the rest goes to v2.
      const read = readAll(versions.find(1, fragmented), fragmented);
      fragmented.ws.send('hel', { fin: false });
      await fragmented.sent('', { fin: false }); // an empty continuation, written too
      await read();
      await pair.upgrade();
      fragmented.ws.send('lo', { fin: true });
      text.ws.send('c');
      binary.ws.send(Buffer.from([4, 5]));
      assert.deepEqual(await fragmented.next(2), ['v1 #1: b', 'v2 #2: hello']);
      assert.deepEqual(await text.next(2), ['v1 #1: a', 'v2 #2: c']);
      assert.deepEqual(await binary.next(2), [Buffer.from([1, 2, 3]), Buffer.from([4, 5])]);
      text.ws.ping();
      await until(5000, 'a pong from v2', () => text.pongs === 1);
      await pair.upgrade();
      text.ws.send('d');
      assert.deepEqual(await text.next(3), ['v1 #1: a', 'v2 #2: c', 'v3 #3: d']);
      // Keepalive as servers do it: v3 pings every client it was handed, and each pong comes back to it.
      const rebuilt = clients.map((client) => versions.find(3, client));
      for (const ws of rebuilt) ws.ping();
      await until(5000, 'a pong for each of v3\'s pings', () => rebuilt.every((ws) => versions.pongs.get(ws) === 1));
      for (const client of clients) assert.equal(client.closed, null);
      assert.equal(clients.map((c) => c.received.length).join(), '3,2,2', 'nothing extra');
    });

    it('permessage-deflate without context takeover: 20 clients send compressible messages nonstop across 2 upgrades, and a compressed message is split by each switch: every echo once, in order, compressed both ways by every version; 0 closes', async () => {
      const logs: string[] = [];
      const versions = new Versions();
      pair = await startUpgradePair<HttpSession>({ app: (g) => echoApp(g, { ws: version.ws, perMessageDeflate: DEFLATE, versions }), log: (line) => logs.push(line) });
      // Clients as a browser's: they offer plain permessage-deflate; the server's answer turns context takeover off both ways.
      const clients = await Promise.all(Array.from({ length: 20 }, () => Client.connect(pair!.port, true)));
      const fragmenter = await Client.connect(pair.port, true);
      for (const client of [...clients, fragmenter]) {
        assert.equal(client.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      }
      const body = (i: number, n: number) => `client ${i} message ${n} ${'compressible '.repeat(150)}`; // about 2 KB: over ws's 1024-byte threshold
      const sent: string[][] = clients.map(() => []);
      let running = true;
      const failures: string[] = [];
      const sending = clients.map(async (client, i) => {
        for (let n = 0; running; n++) {
          sent[i].push(body(i, n));
          client.ws.send(body(i, n));
          try {
            await client.next(n + 1);
          } catch (error) {
            failures.push((error as Error).message.slice(0, 300));
            return;
          }
        }
      });
      await Promise.all(clients.map((client) => client.next(3))); // every client under way
      const fragments: string[] = [];
      for (let generation = 1; generation <= 2; generation++) {
        // The first frame of a message, compressed, read by v<generation> (which inflates it, busy until zlib is done); the rest goes to the next version.
        const read = readAll(versions.find(generation, fragmenter), fragmenter);
        const first = `fragmented ${generation} [${'abc'.repeat(500)}`;
        const before = fragmenter.socket.bytesWritten;
        await fragmenter.sent(first, { fin: false });
        assert.ok(fragmenter.socket.bytesWritten - before < first.length / 4, `the first frame went out compressed (${fragmenter.socket.bytesWritten - before} bytes for ${first.length})`);
        await read();
        await pair.upgrade();
        await fragmenter.sent(`${'xyz'.repeat(500)}]`, { fin: true });
        fragments.push(`v${generation + 1} #${generation}: ${first}${'xyz'.repeat(500)}]`);
        assert.deepEqual(await fragmenter.next(generation), fragments);
      }
      const seen = clients.map((c) => c.received.length);
      await until(10_000, 'every client answered by v3', () => clients.every((c, i) => c.received.length > seen[i] + 1 || c.closed !== null));
      running = false;
      await Promise.all(sending);
      assert.deepEqual(failures, []);
      // v3 compresses too: one more echo, and what it took on the wire.
      const last = clients[0];
      const before = last.socket.bytesRead;
      last.ws.send(body(0, sent[0].length));
      sent[0].push(body(0, sent[0].length));
      await last.next(sent[0].length);
      const echo = last.received[last.received.length - 1] as string;
      assert.match(echo, /^v3 #\d+: /);
      assert.ok(last.socket.bytesRead - before < echo.length / 4, `v3's echo came compressed (${last.socket.bytesRead - before} bytes for ${echo.length})`);
      let messages = 0;
      clients.forEach((client, i) => {
        assert.equal(client.closed, null, `client ${i} saw no close`);
        const echoes = client.received.map((m) => /^v(\d) #(\d+): ([^]*)$/.exec(m as string)!);
        assert.deepEqual(echoes.map((m) => m[3]), sent[i], `client ${i}: every message echoed once, in order`);
        assert.deepEqual(echoes.map((m) => Number(m[2])), sent[i].map((_, n) => n + 1), `client ${i}: the count carried`);
        const generations = echoes.map((m) => Number(m[1]));
        assert.deepEqual(generations, [...generations].sort(), `client ${i}: answered by v1, then v2, then v3`);
        messages += echoes.length;
      });
      assert.equal(fragmenter.closed, null);
      assert.deepEqual(logs.filter((line) => /late write|ERR_|closed a/.test(line)), [], 'no late write, no connection closed or switched busy');
      console.log(`      ${messages} compressed echoes across 2 upgrades (${clients.map((c) => c.received.filter((m) => (m as string).startsWith('v1 ')).length).reduce((a, b) => a + b)} by v1), 2 compressed messages split by a switch: 0 lost, 0 closes`);
    });

    it('a WebSocket the app paused moves paused: what v1 read while paused (in its socket) and the rest travel; v2 delivers nothing until the app resumes it, then every message once, in order', async () => {
      const versions = new Versions();
      pair = await startUpgradePair<HttpSession>({ app: (g) => echoApp(g, { ws: version.ws, versions }) });
      const paused = await Client.connect(pair.port);
      const other = await Client.connect(pair.port);
      paused.ws.send('pause');
      assert.deepEqual(await paused.next(1), ['v1 #1: pause']);
      const v1 = versions.find(1, paused);
      assert.equal(v1.isPaused, true);
      const messages = Array.from({ length: 100 }, (_, n) => `m${n} ${'.'.repeat(1000)}`); // 100 KB: more than a socket reads ahead while paused
      for (const message of messages) paused.ws.send(message);
      const v1Socket = (v1 as unknown as { _socket: net.Socket })._socket;
      await until(5000, 'v1 reading ahead into its paused socket', () => v1Socket.readableLength > 0);
      const readAhead = v1Socket.readableLength;
      await pair.upgrade();
      const v2 = versions.find(2, paused);
      assert.equal(v2.isPaused, true, 'the rebuilt WebSocket is paused');
      // v2 serves: the other client's message is answered, while the paused one's wait in its socket.
      other.ws.send('ping');
      assert.deepEqual(await other.next(1), ['v2 #1: ping']);
      const v2Socket = (v2 as unknown as { _socket: net.Socket })._socket;
      assert.ok(v2Socket.readableLength >= readAhead, `v2's socket holds what v1 had read ahead (${v2Socket.readableLength} >= ${readAhead} bytes)`);
      assert.deepEqual(paused.received, ['v1 #1: pause'], 'nothing delivered while paused');
      v2.resume();
      const expected = ['v1 #1: pause', ...messages.map((m, n) => `v2 #${n + 2}: ${m}`)];
      assert.deepEqual(await paused.next(expected.length), expected);
      assert.equal(paused.closed, null);
      assert.equal(other.closed, null);
      console.log(`      v1 had read ${readAhead} bytes ahead while paused; all ${messages.length} messages echoed by v2 after resume()`);
    });
  });
}

describe('fdlab/ws: what is refused, and why', function () {
  this.timeout(30_000);

  /**
   * What a next version would have of a permessage-deflate connection: the
   * negotiated parameters, and a fresh zlib context (the old one's window
   * cannot leave its process). Done here on a live ws connection: after the
   * first message, the server's extension is swapped for a fresh one with the
   * same parameters. Returns how the client's connection ended, and what it got.
   */
  async function freshInflaterAfterFirstMessage(offer: { clientNoContextTakeover?: boolean; serverNoContextTakeover?: boolean }): Promise<{ closed: number | null; received: (string | Buffer)[] }> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, ...offer } });
    await new Promise((resolve) => wss.once('listening', resolve));
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data: Buffer) => {
        ws.send(`got ${data.toString()}`);
        const extensions = (ws as unknown as { _extensions: Record<string, { params: unknown }> })._extensions;
        // ws's own PerMessageDeflate class: the constructor of the live one (as fdlab/ws does, rebuilding, with WebSocket.PerMessageDeflate).
        const PerMessageDeflate = extensions['permessage-deflate'].constructor as new (options: object) => { params: unknown };
        const fresh = new PerMessageDeflate({ threshold: 0, isServer: true, ...offer });
        fresh.params = extensions['permessage-deflate'].params;
        extensions['permessage-deflate'] = fresh; // the Receiver looks it up per message
      });
    });
    try {
      const port = (wss.address() as { port: number }).port;
      const client = await Client.connect(port, { threshold: 0, ...offer } as never);
      assert.ok(client.ws.extensions.includes('permessage-deflate'), `negotiated: ${client.ws.extensions}`);
      client.ws.send('hello hello hello');
      await client.next(1);
      client.ws.send('hello hello hello'); // compressed against the first one's window, if context takeover is on
      await until(5000, 'a second answer or a close', () => client.received.length === 2 || client.closed !== null);
      client.ws.close();
      return { closed: client.closed, received: client.received };
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  }

  it('why permessage-deflate with context takeover is refused, measured: with context takeover a fresh inflater cannot read the client\'s next message (closed 1007); with no context takeover negotiated both ways it can', async () => {
    const takeover = await freshInflaterAfterFirstMessage({});
    assert.equal(takeover.closed, 1007, `closed with ${takeover.closed}, got ${JSON.stringify(takeover.received)}`);
    assert.deepEqual(takeover.received, ['got hello hello hello']);
    const none = await freshInflaterAfterFirstMessage({ clientNoContextTakeover: true, serverNoContextTakeover: true });
    assert.deepEqual(none.received, ['got hello hello hello', 'got hello hello hello']);
  });

  it('refuses permessage-deflate with context takeover (ERR_WS_DEFLATE, saying what to set), a ws without WebSocket.PerMessageDeflate for deflate, allowSynchronousEvents: false (frames read would wait in the Receiver of ws, unseen by the switch), and anything that is not a ws 8 WebSocketServer (ERR_WS_UNSUPPORTED, naming the range to install)', () => {
    const server = http.createServer();
    const says = (code: string, pattern: RegExp) => (error: Error & { code?: string }) => error.code === code && pattern.test(error.message);
    const whatToSet = /perMessageDeflate: \{ serverNoContextTakeover: true, clientNoContextTakeover: true \}.*perMessageDeflate: false/;
    for (const perMessageDeflate of [true, {}, { serverNoContextTakeover: true }, { clientNoContextTakeover: true }, { serverNoContextTakeover: true, clientNoContextTakeover: false }]) {
      assert.throws(() => wsApp(server, new WebSocketServer({ noServer: true, perMessageDeflate })), says('ERR_WS_DEFLATE', whatToSet), JSON.stringify(perMessageDeflate));
    }
    assert.ok(wsApp(server, new WebSocketServer({ noServer: true, perMessageDeflate: DEFLATE })));
    // A ws older than 8.20 (as its WebSocket class looks), with deflate on; without, accepted.
    assert.throws(() => wsApp(server, new WebSocketServer({ noServer: true, perMessageDeflate: DEFLATE, WebSocket: Before820 })), says('ERR_WS_UNSUPPORTED', /ws 8\.20 or later/));
    assert.ok(wsApp(server, new WebSocketServer({ noServer: true, WebSocket: Before820 })));
    assert.throws(() => wsApp(server, { options: {} } as never), says('ERR_WS_UNSUPPORTED', /install ws \^8\.20\.0/));
    // ws would keep frames it read in its Receiver until a setImmediate, unseen by the switch (measured: 247 of 350 messages per client lost).
    assert.throws(() => wsApp(server, new WebSocketServer({ noServer: true, allowSynchronousEvents: false })), says('ERR_WS_UNSUPPORTED', /allowSynchronousEvents: false is not carried.*leave allowSynchronousEvents at ws's default \(true\)/));
    assert.ok(wsApp(server, new WebSocketServer({ noServer: true, allowSynchronousEvents: true })));
    // A ws older than the option (its server's options lack it): refused, naming the range.
    const older = new WebSocketServer({ noServer: true });
    delete (older.options as { allowSynchronousEvents?: boolean }).allowSynchronousEvents;
    assert.throws(() => wsApp(server, older), says('ERR_WS_UNSUPPORTED', /no allowSynchronousEvents option.*install ws \^8\.20\.0/));
  });

  it('a next version with permessage-deflate off still inflates and compresses for the connections that negotiated it; one whose ws cannot rebuild the extension closes them and says so', async () => {
    const logs: string[] = [];
    const log = (line: string) => logs.push(line);
    const apps = [echoApp(1, { perMessageDeflate: DEFLATE, log }), echoApp(2, { log }), echoApp(3, { WebSocket: Before820, log })];
    const pair = await startUpgradePair<HttpSession>({ app: (g) => apps[g - 1], log });
    try {
      const client = await Client.connect(pair.port, { threshold: 0 }); // it compresses every message
      assert.match(client.extensions, /^permessage-deflate; /);
      client.ws.send('a');
      await client.next(1);
      await pair.upgrade();
      const long = 'b'.repeat(5000);
      const before = client.socket.bytesRead;
      client.ws.send(long);
      assert.deepEqual(await client.next(2), ['v1 #1: a', `v2 #2: ${long}`]);
      assert.ok(client.socket.bytesRead - before < long.length / 4, `v2 compressed its answer (${client.socket.bytesRead - before} bytes)`);
      await pair.upgrade();
      await until(5000, 'v3 closing the connection', () => client.closed !== null);
      assert.equal(client.closed, 1006);
      assert.equal(logs.filter((line) => /closed a WebSocket from 127\.0\.0\.1:\d+: it came with permessage-deflate .* which this version cannot rebuild \(ws 8\.20 or later needed\)/.test(line)).length, 1, logs.join('\n'));
    } finally {
      await pair.close();
    }
  });

  it("fdlab's peerDependencies name ws, optional, from the oldest version tested here to the newest (8.20.0: WebSocket.PerMessageDeflate)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(LIBRARY, 'package.json'), 'utf8')) as { peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
    assert.equal(pkg.peerDependencies?.ws, '^8.20.0');
    assert.equal(pkg.peerDependenciesMeta?.ws?.optional, true, 'optional: fdlab without fdlab/ws needs no ws');
    const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    assert.equal(root.devDependencies['ws-8.20'], 'npm:ws@8.20.0', 'the oldest is pinned, not a range');
    assert.deepEqual(VERSIONS.map((v) => v.name), ['ws', 'ws-8.20']);
    assert.equal(versionOf('ws-8.20'), '8.20.0', 'the oldest: the floor of the range');
    const [major, minor] = versionOf('ws').split('.').map(Number);
    assert.ok(major === 8 && minor >= 20, `the newest (the repository's ws ${versionOf('ws')}) is in the range`);
    assert.ok(VERSIONS.every((v) => typeof (v.ws.WebSocket as unknown as { PerMessageDeflate?: unknown }).PerMessageDeflate === 'function'));
  });

  it("'fdlab/ws' resolves through the package's exports and loads only the library (not ws: the server's own WebSocket class is used)", async () => {
    const script = `const w = require('fdlab/ws'); console.log(JSON.stringify({ resolved: require.resolve('fdlab/ws'), exports: Object.keys(w).sort(), loaded: Object.keys(require.cache) }));`;
    const result = await collect(spawn(process.execPath, ['-e', script], { cwd: path.dirname(path.dirname(LIBRARY)), stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(result.code, 0, result.stderr);
    const { resolved, exports, loaded } = JSON.parse(result.stdout) as { resolved: string; exports: string[]; loaded: string[] };
    assert.equal(fs.realpathSync(resolved), path.join(LIBRARY, 'dist', 'ws', 'index.js'));
    assert.deepEqual(exports, ['sessionOf', 'wsApp']);
    assert.deepEqual(loaded.filter((file) => !fs.realpathSync(file).startsWith(LIBRARY + path.sep)), []);
  });
});
