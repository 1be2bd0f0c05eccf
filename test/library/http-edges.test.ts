// fdlab/http against what real clients and apps do at the switch (issue 19),
// on fdlab/testing's pair with raw sockets:
//   - a Server-Sent Events stream (a response that never ends on its own):
//     without endForUpgrade it keeps its connection in the old version until
//     the upgrade's deadline, then the new version resets it (the client sees
//     ECONNRESET, never a clean end that would pass for a complete
//     response), and the old app's next event goes nowhere, no crash;
//     with endForUpgrade the old version ends the stream as soon as the new
//     version serves, and the same connection goes on in the new version;
//   - three pipelined GETs in one write (the first slow), a HEAD, and a
//     Connection: close request at the switch: each answered once, in order;
//   - a request with Upgrade: h2c on a server that takes no upgrades: answered
//     as HTTP/1.1, as without fdlab (before: fdlab/http's own 'upgrade'
//     listener made node:http take it as an upgrade nobody answered);
//   - a POST with Expect: 100-continue to an app with a 'checkContinue'
//     listener (no 'request' event), its body arriving at the switch;
//   - a response sent before the request body is in (a 413): the body's tail
//     arriving at the switch;
//   - keepAliveTimeout: an idle connection carried over times out in the new
//     version too.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import { httpApp, type HttpAppOptions, type HttpSession } from 'fdlab/http';
import { startUpgradePair, type UpgradePair } from 'fdlab/testing';
import { until } from '../helpers/fds';

interface Version {
  /** Open SSE streams. */
  streams: http.ServerResponse[];
  /** Answers to /slow, waiting for the test. */
  slow: (() => void)[];
  /** The inactivity timeout of each /slow request's socket as the handler got it (0 or undefined: none). */
  timeouts?: (number | undefined)[];
}

/**
 * Version g: GET /events is an SSE stream (one event now, the others when the
 * test writes them); /slow waits; POST: "v<g> POST <url> <body>" once the
 * body is in; anything else: "v<g> <method> <url>". It handles Expect:
 * 100-continue itself ('checkContinue', as node:http's docs show).
 */
function sseServer(generation: number, version: Version): http.Server {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/big') return void res.writeHead(413).end(`v${generation} too big\n`); // before its body: node:http drops the rest
    if (req.method === 'POST') {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => res.end(`v${generation} POST ${req.url} ${body}\n`));
      return;
    }
    if (req.url === '/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write(`data: v${generation} hello\n\n`);
      version.streams.push(res);
      return;
    }
    const answer = () => res.end(`v${generation} ${req.method} ${req.url}\n`);
    if (req.url === '/slow') {
      version.slow.push(answer);
      (version.timeouts ??= []).push(req.socket.timeout);
    } else answer();
  };
  const server = http.createServer(handler);
  server.on('checkContinue', (req, res) => {
    res.writeContinue();
    handler(req, res);
  });
  return server;
}

/** A raw client: every byte, the server's FIN, the error that ended it. */
async function rawClient(port: number): Promise<{ socket: net.Socket; text: () => string; ended: () => boolean; error: () => string | null; closed: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  let ended = false;
  let closed = false;
  let error: string | null = null;
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (closed = true));
  socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, text: () => text, ended: () => ended, error: () => error, closed: () => closed };
}

/** Bodies without the headers that change (Date, Keep-Alive). */
const steady = (text: string) => text.replace(/\r\nDate: [^\r]*|\r\nKeep-Alive: [^\r]*/g, '');

describe('fdlab/http: streams, pipelining and closes at the switch', function () {
  this.timeout(30_000);
  let pair: UpgradePair<HttpSession> | undefined;
  const logs: string[] = [];
  const versions = new Map<number, Version>();

  async function start(timeoutMs: number, options: HttpAppOptions = {}, keepAliveTimeout?: number): Promise<UpgradePair<HttpSession>> {
    pair = await startUpgradePair<HttpSession>({
      app: (g) => {
        versions.set(g, { streams: [], slow: [] });
        const server = sseServer(g, versions.get(g)!);
        if (keepAliveTimeout !== undefined) server.keepAliveTimeout = keepAliveTimeout;
        return httpApp(server, { ...options, log: (line) => logs.push(`v${g}: ${line}`) });
      },
      timeoutMs,
      log: (line) => logs.push(line),
    });
    return pair;
  }

  afterEach(async () => {
    await pair?.close();
    pair = undefined;
    logs.length = 0;
    versions.clear();
  });

  it('an SSE stream and no endForUpgrade: it stays in the old version until the deadline, then the new version resets it (ECONNRESET, not a clean end); the old app\'s next event goes nowhere, no crash', async () => {
    const p = await start(1500);
    const sse = await rawClient(p.port);
    sse.socket.write('GET /events HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'the first event', () => sse.text().includes('data: v1 hello'));
    const idle = await rawClient(p.port);
    await p.upgrade();
    await until(5000, 'the reset', () => sse.closed());
    assert.equal(sse.error(), 'ECONNRESET', 'a reset: the client knows the stream broke');
    assert.doesNotMatch(sse.text(), /\r\n0\r\n\r\n/, 'no end of the chunked body: nothing that reads as complete');
    assert.match(logs.join('\n'), /\[ERR_BUSY_AT_DEADLINE\]/);
    assert.match(logs.join('\n'), /v2: closed a connection from 127\.0\.0\.1:\d+ handed over with 1 request\(s\) in flight: reset/);
    // The old app does not know: its next event goes nowhere (http buffers it: the socket is not writable any more), no throw, no crash.
    versions.get(1)!.streams[0].write('data: v1 late\n\n');
    idle.socket.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'v2 to answer', () => idle.text().includes('v2 GET /'));
  });

  it('an SSE stream with endForUpgrade: the old version ends it once the new version serves (its last event says so), well before the deadline; the same connection asks again and v2 answers', async () => {
    const heldBack: string[] = [];
    const p = await start(20_000, {
      endForUpgrade: (req, res) => {
        heldBack.push(`${req.method} ${req.url}`);
        res.end('event: upgrade\ndata: reconnect\n\n');
      },
    });
    const sse = await rawClient(p.port);
    sse.socket.write('GET /events HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'the first event', () => sse.text().includes('data: v1 hello'));
    const started = Date.now();
    await p.upgrade();
    const took = Date.now() - started;
    assert.ok(took < 10_000, `the upgrade did not wait for its deadline (${took} ms)`);
    assert.deepEqual(heldBack, ['GET /events'], 'asked once, for the stream');
    assert.match(sse.text(), /data: v1 hello\n\n\r\n[0-9a-f]+\r\nevent: upgrade\ndata: reconnect\n\n\r\n0\r\n\r\n$/, 'the stream ended cleanly');
    assert.doesNotMatch(logs.join('\n'), /ERR_BUSY_AT_DEADLINE/);
    const before = sse.text().length;
    sse.socket.write('GET /events HTTP/1.1\r\nHost: t\r\n\r\n'); // what an EventSource does: reconnect, here on the same keep-alive connection
    await until(5000, 'v2\'s stream', () => sse.text().slice(before).includes('data: v2 hello'));
    assert.equal(sse.closed(), false, 'the same connection throughout');
  });

  it('at the switch: three pipelined GETs in one write (the first slow), a HEAD, and a Connection: close request: each answered once, in order, by the version that read it; the next requests by v2', async () => {
    const p = await start(10_000);
    const [pipelined, head, closing] = await Promise.all([0, 1, 2].map(() => rawClient(p.port)));
    pipelined.socket.write('GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'v1 to hold /slow', () => versions.get(1)!.slow.length === 1);
    const upgraded = p.upgrade();
    await until(5000, () => `the first group committed:\n${logs.join('\n')}`, () => logs.some((l) => /^v1: committed/.test(l)));
    head.socket.write('HEAD / HTTP/1.1\r\nHost: t\r\n\r\n');
    closing.socket.write('GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    versions.get(1)!.slow.shift()!();
    await upgraded;
    await until(5000, 'the close', () => closing.ended());
    pipelined.socket.write('GET /c HTTP/1.1\r\nHost: t\r\n\r\n');
    head.socket.write('GET /d HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'v2 to answer both', () => pipelined.text().includes('v2 GET /c') && head.text().includes('v2 GET /d'));
    const ok = (body: string) => `HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    assert.equal(steady(pipelined.text()), ok('v1 GET /slow\n') + ok('v1 GET /a\n') + ok('v1 GET /b\n') + ok('v2 GET /c\n'));
    assert.equal(steady(head.text()), 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n' + ok('v2 GET /d\n'), 'HEAD: no body, and the next answer from v2');
    assert.match(steady(closing.text()), /^HTTP\/1\.1 200 OK\r\nConnection: close\r\nContent-Length: 12\r\n\r\nv[12] GET \/bye\n$/);
    assert.equal(closing.error(), null);
    for (const client of [pipelined, head]) assert.equal(client.closed(), false);
  });

  it("a request with Upgrade: h2c (curl --http2) on a server with no 'upgrade' listener is answered as HTTP/1.1, as without fdlab, and its connection moves; fdlab/http listens for upgrades only while the app does", async () => {
    const p = await start(10_000);
    const h2c = await rawClient(p.port);
    h2c.socket.write('GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
    await until(5000, () => `an answer (before: none at all; got ${JSON.stringify(h2c.text())})`, () => h2c.text().includes('v1 GET /'));
    await p.upgrade();
    h2c.socket.write('GET /next HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'v2 to answer on the same connection', () => h2c.text().includes('v2 GET /next'));
    assert.equal(h2c.closed(), false);
    assert.doesNotMatch(logs.join('\n'), /closed a connection/);
    // Our 'upgrade' listener comes and goes with the app's: with it alone, node:http would take such requests as upgrades nobody answers.
    const server = http.createServer();
    httpApp(server);
    assert.equal(server.listenerCount('upgrade'), 0);
    const own = () => {};
    server.on('upgrade', own);
    assert.equal(server.listenerCount('upgrade'), 2, "ours, before the app's");
    server.removeListener('upgrade', own);
    assert.equal(server.listenerCount('upgrade'), 0);
  });

  it("a POST with Expect: 100-continue on a server with a 'checkContinue' listener, its body arriving at the switch: answered by v1, once (before: the new version read the body as a request: 400, closed)", async () => {
    const p = await start(10_000);
    const post = await rawClient(p.port);
    post.socket.write('POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    await until(5000, '100 Continue', () => post.text().includes('100 Continue'));
    const upgraded = p.upgrade();
    await until(5000, () => `the first group committed:\n${logs.join('\n')}`, () => logs.some((l) => /^v1: committed/.test(l)));
    post.socket.write('hello');
    await upgraded;
    post.socket.write('GET /next HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, () => `v2's answer (${JSON.stringify(post.text())})`, () => post.text().includes('v2 GET /next') || post.closed());
    assert.equal(steady(post.text()), 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 18\r\n\r\nv1 POST /up hello\nHTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nv2 GET /next\n');
    // Ours comes and goes with the app's, as for 'upgrade': with ours alone node:http would not answer 100 Continue itself.
    const server = http.createServer();
    httpApp(server);
    assert.equal(server.listenerCount('checkContinue') + server.listenerCount('checkExpectation'), 0);
  });

  it('a response sent before its request body is in (413): the connection moves only once the body is read (then dropped, as node:http does), and the next request is v2\'s; one whose body never comes is reset at the deadline (before: the tail was read by v2 as a request, 400)', async () => {
    const p = await start(1500);
    const [early, stuck] = await Promise.all([0, 1].map(() => rawClient(p.port)));
    for (const client of [early, stuck]) client.socket.write('POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n0123456789');
    await until(5000, 'both answered early', () => early.text().includes('v1 too big') && stuck.text().includes('v1 too big'));
    const upgraded = p.upgrade();
    await until(5000, () => `the first group committed:\n${logs.join('\n')}`, () => logs.some((l) => /^v1: committed/.test(l)));
    early.socket.write('abcdefghij');
    await upgraded;
    early.socket.write('GET /next HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, () => `v2's answer (${JSON.stringify(early.text())})`, () => early.text().includes('v2 GET /next') || early.closed());
    assert.match(steady(early.text()), /^HTTP\/1\.1 413 Payload Too Large\r\n[^]*v1 too big\n\r\n0\r\n\r\nHTTP\/1\.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nv2 GET \/next\n$/);
    await until(5000, 'the stuck one reset', () => stuck.closed());
    assert.equal(stuck.error(), 'ECONNRESET');
    assert.match(logs.join('\n'), /v2: closed a connection from 127\.0\.0\.1:\d+ handed over with a request body half received: reset/);
  });

  it("keepAliveTimeout (300 ms) goes on in the new version: an idle connection carried over is closed by it as node:http would (before: never), and one whose next request outlasts the timeout is answered", async () => {
    const KEEP_ALIVE_MS = 300;
    const p = await start(10_000, {}, KEEP_ALIVE_MS);
    const [idle, busy] = await Promise.all([0, 1].map(() => rawClient(p.port)));
    for (const client of [idle, busy]) client.socket.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'both answered by v1', () => idle.text().includes('v1 GET /') && busy.text().includes('v1 GET /'));
    await p.upgrade();
    const upgraded = Date.now();
    busy.socket.write('GET /slow HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'v2 to hold /slow', () => versions.get(2)!.slow.length === 1);
    await until(5000, 'the idle one closed by v2', () => idle.ended());
    assert.ok(Date.now() - upgraded >= KEEP_ALIVE_MS - 50, 'after the keep-alive timeout, not at once');
    assert.ok(!versions.get(2)!.timeouts![0], `no timeout left on a socket with a request in flight (${versions.get(2)!.timeouts![0]})`);
    assert.equal(busy.closed(), false, 'the one with a request in flight is not closed by that timeout');
    versions.get(2)!.slow.shift()!();
    await until(5000, 'the slow answer', () => busy.text().includes('v2 GET /slow'));
  });
});
