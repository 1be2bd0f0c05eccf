// Issue 19, item 6: `fdlab serve --app ws`, a WebSocket echo server on
// fdlab/ws, upgraded three times with SIGUSR2 under 200 ws clients: 150 send
// text and 20 binary messages the whole time, one after the other; 30 have a
// fragmented message open at each signal (its first frame sent before the
// signal, the rest only once the old version has committed, so the message
// is split across the versions for sure). A third of the text senders and of
// the fragmenting clients take permessage-deflate (without context takeover,
// the server's answer) and send compressible messages: every next process
// rebuilds the extension. Every message comes back once, unchanged, in
// order; no client sees a close; one process serves at the end.
import { strict as assert } from 'node:assert';
import type * as net from 'node:net';
import WebSocket from 'ws';
import { tempDir, until } from '../helpers/fds';
import { processesUsing, soleServer, startServe, stopServing, type Serving } from '../helpers/serve';

const TEXT = 150;
const BINARY = 20;
const FRAGMENTING = 30;
const UPGRADES = 3;
/** Every DEFLATE_EVERY-th text sender and fragmenting client offers permessage-deflate (as browsers do). */
const DEFLATE_EVERY = 3;
const COMPRESSIBLE = ' compressible'.repeat(100); // 1.3 KB: over ws's 1 KB threshold

const tagOf = (generation: number) => (generation === 1 ? 'v1' : `v1 gen ${generation}`);

class Client {
  readonly sent: (string | Buffer)[] = [];
  readonly received: (string | Buffer)[] = [];
  closed: number | null = null;
  /** The server's Sec-WebSocket-Extensions answer. */
  extensions = '';

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.received.push(isBinary ? Buffer.from(data) : data.toString()));
    ws.on('close', (code) => (this.closed = code));
    ws.on('error', () => {});
  }

  static async connect(port: number, deflate = false): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate });
    let extensions = '';
    ws.once('upgrade', (response) => (extensions = String(response.headers['sec-websocket-extensions'] ?? '')));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const client = new Client(ws);
    client.extensions = extensions;
    return client;
  }

  get deflate(): boolean {
    return this.extensions !== '';
  }

  /** Sends one message and waits for its echo. */
  async echo(message: string | Buffer): Promise<void> {
    const index = this.sent.length;
    this.sent.push(message);
    this.ws.send(message, { binary: Buffer.isBuffer(message) });
    await until(20_000, () => `the echo of message #${index + 1} (closed ${this.closed})`, () => this.received.length > index || this.closed !== null);
    assert.equal(this.closed, null, `closed with ${this.closed}`);
  }
}

describe('fdlab serve --app ws: WebSocket clients across upgrades', function () {
  this.timeout(180_000);
  let serving: Serving | undefined;

  afterEach(async () => {
    if (serving) await stopServing(serving);
    serving = undefined;
  });

  it(`${TEXT + BINARY + FRAGMENTING} ws clients (${FRAGMENTING} with a fragmented message open at each signal, ${BINARY} binary, 1 in ${DEFLATE_EVERY} of the others with permessage-deflate), ${UPGRADES} upgrades: 0 closes, every message echoed once, unchanged, in order`, async () => {
    serving = await startServe(tempDir(), ['--app', 'ws', '--standby', '0', '--upgrade-timeout', '20000']);
    const port = serving.port;
    const senders = await Promise.all(Array.from({ length: TEXT + BINARY }, (_, i) => Client.connect(port, i < TEXT && i % DEFLATE_EVERY === 0)));
    const fragmenters = await Promise.all(Array.from({ length: FRAGMENTING }, (_, i) => Client.connect(port, i % DEFLATE_EVERY === 0)));
    const deflating = [...senders, ...fragmenters].filter((c) => c.deflate);
    assert.equal(deflating.length, Math.ceil(TEXT / DEFLATE_EVERY) + Math.ceil(FRAGMENTING / DEFLATE_EVERY));
    for (const client of deflating) assert.equal(client.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    let running = true;
    const failures: string[] = [];
    const sending = senders.map(async (client, i) => {
      for (let n = 0; running; n++) {
        try {
          await client.echo(i < TEXT ? `client ${i} message ${n}${client.deflate ? COMPRESSIBLE : ''}` : Buffer.from([i, n & 0xff, (n >> 8) & 0xff, 0xff]));
        } catch (error) {
          failures.push((error as Error).message.slice(0, 300));
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 5)); // two cores: leave some for the servers
      }
    });
    let pid = serving.pid;
    for (let generation = 1; generation <= UPGRADES; generation++) {
      // The first frame of a message, written before the signal; the rest after the commit.
      const first = (c: Client, i: number) => `frag ${i} gen ${generation} [${c.deflate ? COMPRESSIBLE : ''}`;
      await Promise.all(fragmenters.map((c, i) => new Promise<void>((resolve) => c.ws.send(first(c, i), { fin: false }, () => resolve()))));
      const from = serving.log().length;
      process.kill(pid, 'SIGUSR2');
      const committed: RegExpMatchArray = await serving.waitForLog(new RegExp(`\\[${tagOf(generation)} pid ${pid}\\] committed: pid (\\d+) serves`), 20_000, from);
      fragmenters.forEach((c, i) => {
        c.ws.send('middle', { fin: false });
        c.ws.send(`] ${i}`, { fin: true });
        c.sent.push(`${first(c, i)}middle] ${i}`);
      });
      await serving.waitForLog(new RegExp(`\\[${tagOf(generation)} pid ${pid}\\] handed over; exiting`), 20_000, from);
      pid = Number(committed[1]);
      await until(10_000, `the pid file to name ${pid}`, () => serving!.pidInFile() === pid);
      assert.equal(await soleServer(serving), pid, 'one version serves');
      await until(20_000, 'every fragmented message echoed', () => fragmenters.every((c) => c.received.length === generation || c.closed !== null));
    }
    const seen = senders.map((c) => c.received.length);
    await until(20_000, 'every sender answered by the last version', () => senders.every((c, i) => c.received.length > seen[i] + 1 || c.closed !== null));
    running = false;
    await Promise.all(sending);
    assert.deepEqual(failures, []);
    // The last version compresses what it sends a deflate client: one more echo, and its bytes on the wire.
    const last = deflating[0];
    const socket = (last.ws as unknown as { _socket: net.Socket })._socket;
    const before = socket.bytesRead;
    await last.echo(`one more${COMPRESSIBLE}`);
    assert.ok(socket.bytesRead - before < COMPRESSIBLE.length / 4, `the last version's echo came compressed (${socket.bytesRead - before} bytes for ${COMPRESSIBLE.length + 8})`);
    let messages = 0;
    let compressed = 0;
    for (const client of [...senders, ...fragmenters]) {
      assert.equal(client.closed, null, 'no client saw a close');
      assert.deepEqual(client.received, client.sent, 'every message echoed once, unchanged, in order');
      messages += client.received.length;
      if (client.deflate) compressed += client.received.length;
    }
    assert.deepEqual(processesUsing(serving.dir), [pid]);
    console.log(`      ${messages} messages (${compressed} on ${deflating.length} permessage-deflate connections; ${FRAGMENTING * UPGRADES} fragmented across a switch) echoed across ${UPGRADES} upgrades: 0 lost, 0 duplicated, 0 reordered, 0 closes`);
  });
});
