// fdlab/ws (issue 19, item 1, a start): a ws WebSocketServer's connections
// across upgrades, on fdlab/testing's pair with real ws clients. A message
// fragmented across an upgrade (first frame to v1, the rest to v2) arrives
// whole, once; binary stays binary; the app's per-socket state travels
// (save / sessionOf); ping/pong works after; no client sees a close.
// permessage-deflate is refused (ERR_WS_DEFLATE), and why is measured here:
// with context takeover, v2 cannot inflate the client's next message (1007).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { type HttpSession } from 'fdlab/http';
import { startUpgradePair, type UpgradePair } from 'fdlab/testing';
import { sessionOf, wsApp } from 'fdlab/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { until } from '../helpers/fds';
import { collect } from '../helpers/process';

const LIBRARY = path.resolve(__dirname, '..', '..', '..', 'packages', 'fdlab');

interface Count {
  count: number;
}

/** Version g: echoes each message as "v<g> #<n>: <text>" (binary: the bytes back, binary); n counts the socket's messages over versions. */
function echoApp(generation: number) {
  const server = http.createServer((_req, res) => res.end(`v${generation}\n`));
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const counts = new WeakMap<object, Count>();
  wss.on('connection', (ws) => {
    const count: Count = { count: sessionOf<Count>(ws)?.count ?? 0 };
    counts.set(ws, count);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      count.count += 1;
      if (isBinary) ws.send(data, { binary: true });
      else ws.send(`v${generation} #${count.count}: ${data.toString()}`);
    });
  });
  return wsApp<Count>(server, wss, { save: (ws) => ({ count: counts.get(ws)?.count ?? 0 }) });
}

class Client {
  readonly received: (string | Buffer)[] = [];
  closed: number | null = null;
  pongs = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.received.push(isBinary ? Buffer.from(data) : data.toString()));
    ws.on('close', (code) => (this.closed = code));
    ws.on('pong', () => (this.pongs += 1));
    ws.on('error', () => {});
  }

  static async connect(port: number, perMessageDeflate: boolean | object = false): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate });
    const client = new Client(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return client;
  }

  async next(count: number): Promise<(string | Buffer)[]> {
    await until(5000, () => `${count} messages (got ${JSON.stringify(this.received)}, closed ${this.closed})`, () => this.received.length >= count || this.closed !== null);
    assert.equal(this.closed, null, `closed with ${this.closed}`);
    return this.received;
  }
}

describe('fdlab/ws: WebSocket connections across an upgrade', function () {
  this.timeout(30_000);
  let pair: UpgradePair<HttpSession> | undefined;

  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  it('text, binary and a message fragmented across the upgrade arrive once, in order; the count travels; ping/pong works after; nobody sees a close', async () => {
    const logs: string[] = [];
    pair = await startUpgradePair<HttpSession>({ app: echoApp, log: (line) => logs.push(line) });
    const clients = await Promise.all([0, 1, 2].map(() => Client.connect(pair!.port)));
    const [text, binary, fragmented] = clients;
    text.ws.send('a');
    binary.ws.send(Buffer.from([1, 2, 3]));
    fragmented.ws.send('b');
    assert.deepEqual(await text.next(1), ['v1 #1: a']);
    assert.deepEqual(await binary.next(1), [Buffer.from([1, 2, 3])]);
    assert.deepEqual(await fragmented.next(1), ['v1 #1: b']);
    // The first frame of a message reaches v1; the rest goes to v2.
    fragmented.ws.send('hel', { fin: false });
    await new Promise<void>((resolve) => fragmented.ws.send('', { fin: false }, () => resolve())); // an empty continuation, written too
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
    for (const client of clients) assert.equal(client.closed, null);
    assert.equal(clients.map((c) => c.received.length).join(), '3,2,2', 'nothing extra');
  });

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
        // ws's own PerMessageDeflate class (not exported by its package): the constructor of the live one.
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

  it('why permessage-deflate is refused, measured: with context takeover a fresh inflater cannot read the client\'s next message (closed 1007); with no context takeover negotiated both ways it can', async () => {
    const takeover = await freshInflaterAfterFirstMessage({});
    assert.equal(takeover.closed, 1007, `closed with ${takeover.closed}, got ${JSON.stringify(takeover.received)}`);
    assert.deepEqual(takeover.received, ['got hello hello hello']);
    const none = await freshInflaterAfterFirstMessage({ clientNoContextTakeover: true, serverNoContextTakeover: true });
    assert.deepEqual(none.received, ['got hello hello hello', 'got hello hello hello']);
  });

  it('refuses permessage-deflate (ERR_WS_DEFLATE) and anything that is not a ws 8 WebSocketServer (ERR_WS_UNSUPPORTED)', () => {
    const server = http.createServer();
    assert.throws(() => wsApp(server, new WebSocketServer({ noServer: true, perMessageDeflate: true })), (error: Error & { code?: string }) => error.code === 'ERR_WS_DEFLATE' && /perMessageDeflate: false/.test(error.message));
    assert.throws(() => wsApp(server, { options: {} } as never), { code: 'ERR_WS_UNSUPPORTED' });
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
