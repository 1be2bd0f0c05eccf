// Issue 19, item 6: `fdlab serve --app http`, an HTTP/1.1 keep-alive server on
// fdlab/http, upgraded three times with SIGUSR2 under 200 keep-alive clients:
// 180 send GET / one after another the whole time; 20 hold a POST /echo in
// flight at each signal (its head sent with Expect: 100-continue, so the
// server's 100 Continue says it has read it: in flight for sure; the body is
// sent only once the old version has committed the first group). Every
// request gets exactly one response, the echoes from the version that read
// their head, no connection is closed or reopened, and one process serves at
// the end, named by the pid file.
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { tempDir, until } from '../helpers/fds';
import { RawHttpClient } from '../helpers/http-client';
import { processesUsing, soleServer, startServe, stopServing, type Serving } from '../helpers/serve';


/** What each generation calls itself in its responses (fdlab serve's log tag). */
const tagOf = (generation: number) => (generation === 1 ? 'v1' : `v1 gen ${generation}`);

describe('fdlab serve --app http: keep-alive clients across upgrades', function () {
  this.timeout(180_000);
  let serving: Serving | undefined;

  afterEach(async () => {
    if (serving) await stopServing(serving);
    serving = undefined;
  });

  /**
   * `loopers` clients GET / the whole time; `holders` hold a POST in flight at
   * each of `upgrades` signals. `groups`: at least this many groups per upgrade
   * (the regular ones of 256, then the busy ones).
   */
  async function run(LOOPERS: number, HOLDERS: number, UPGRADES: number, groups: number): Promise<void> {
    serving = await startServe(tempDir(), ['--app', 'http', '--standby', '0', '--upgrade-timeout', '20000']);
    const port = serving.port;
    const loopers = await Promise.all(Array.from({ length: LOOPERS }, () => RawHttpClient.connect(port)));
    const holders = await Promise.all(Array.from({ length: HOLDERS }, () => RawHttpClient.connect(port)));
    let running = true;
    const failures: string[] = [];
    // Each looper: GET / again as soon as the last one is answered (a 5 ms pause keeps two cores for the servers).
    const looping = loopers.map(async (client) => {
      while (running) {
        try {
          const body = await client.get('/', 20_000);
          if (!/^fdlab serve v1( gen \d)?: GET \/\n$/.test(body)) failures.push(`unexpected body ${JSON.stringify(body)}`);
        } catch (error) {
          failures.push((error as Error).message.slice(0, 300));
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    let pid = serving.pid;
    for (let generation = 1; generation <= UPGRADES; generation++) {
      // The holders' heads, read by the server for sure (100 Continue) before the signal.
      for (const holder of holders) holder.write('POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n');
      await until(10_000, 'every holder got 100 Continue', () => holders.every((h) => h.interim === generation));
      const from = serving.log().length;
      process.kill(pid, 'SIGUSR2');
      const committed: RegExpMatchArray = await serving.waitForLog(new RegExp(`\\[${tagOf(generation)} pid ${pid}\\] committed: pid (\\d+) serves the first (\\d+) connections`), 20_000, from);
      assert.ok(Number(committed[2]) <= LOOPERS, `the holders were not in the first group (it had ${committed[2]})`);
      // Now the bodies: the old version answers them, and only then switches those connections.
      for (const holder of holders) holder.write(`${generation.toString(16).length.toString(16)}\r\n${generation.toString(16)}\r\n0\r\n\r\n`);
      const echoes = await Promise.all(holders.map((h) => h.response(generation - 1, 20_000)));
      for (const echo of echoes) assert.equal(echo.body, `fdlab serve ${tagOf(generation)}: POST /echo: ${generation.toString(16)}\n`, 'answered by the version that read the head');
      const switched: RegExpMatchArray = await serving.waitForLog(new RegExp(`\\[${tagOf(generation)} pid ${pid}\\] switched all (\\d+) connections in (\\d+) group\\(s\\)`), 20_000, from);
      assert.equal(Number(switched[1]), LOOPERS + HOLDERS);
      assert.ok(Number(switched[2]) >= groups, `the busy ones went in later groups (${switched[2]} groups)`);
      await serving.waitForLog(new RegExp(`\\[${tagOf(generation)} pid ${pid}\\] handed over; exiting`), 20_000, from);
      pid = Number(committed[1]);
      await until(10_000, `the pid file to name ${pid}`, () => serving!.pidInFile() === pid);
      assert.equal(await soleServer(serving), pid, 'one version serves');
    }
    // A little more traffic on the last version, then the loopers stop after their current request.
    const seen = loopers.map((c) => c.responses.length);
    await until(20_000, 'every looper answered by the last version', () => loopers.every((c, i) => c.responses.length > seen[i] + 1));
    running = false;
    await Promise.all(looping);
    assert.deepEqual(failures, []);
    let requests = 0;
    for (const client of [...loopers, ...holders]) {
      assert.equal(client.closed, false, 'no connection closed (no reconnection needed)');
      assert.equal(client.extra(), '', 'no bytes beyond whole responses (no duplicate, no partial)');
      assert.ok(client.responses.every((r) => r.status === 200), JSON.stringify(client.responses.filter((r) => r.status !== 200)));
    }
    for (const client of loopers) {
      assert.equal(client.responses.length, client.requests, 'exactly one response per request');
      assert.equal(client.responses.at(-1)!.body, `fdlab serve ${tagOf(UPGRADES + 1)}: GET /\n`);
      requests += client.requests;
    }
    for (const holder of holders) {
      assert.deepEqual(holder.responses.map((r) => r.body), Array.from({ length: UPGRADES }, (_, i) => `fdlab serve ${tagOf(i + 1)}: POST /echo: ${(i + 1).toString(16)}\n`));
    }
    assert.deepEqual(processesUsing(serving.dir), [pid]);
    console.log(`      ${requests} GET / and ${HOLDERS * UPGRADES} POST /echo in flight at a signal, across ${UPGRADES} upgrade(s): 0 failed, 0 duplicated, 0 reconnections`);
  }

  it('200 keep-alive clients, 20 with a request in flight at each signal, 3 upgrades: 0 failed requests, 0 duplicated responses, 0 reconnections', () => run(180, 20, 3, 2));

  it('300 keep-alive clients (two groups of up to 256), 30 in flight at the signal: the busy ones of either group wait, the rest of both groups are switched first', () => run(270, 30, 1, 3));

  it('a POST whose body is still coming 2.6 s after the commit: the new version does not take the old one for stuck (it killed it before: 400 for the client); the old version answers it, then the connection moves', async () => {
    serving = await startServe(tempDir(), ['--app', 'http', '--standby', '0', '--upgrade-timeout', '20000']);
    const client = await RawHttpClient.connect(serving.port);
    client.write('POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n');
    await until(5000, 'the old version read the head (100 Continue)', () => client.interim === 1);
    const from = serving.log().length;
    process.kill(serving.pid, 'SIGUSR2');
    // The time under test: past the new version's 2 s check (QUIET_BEFORE_DONE_MS) after the commit, the old
    // version still holds the POST (it sends an empty group every 500 ms, and runs: no reason to kill it).
    await serving.waitForLog(/committed: pid \d+ serves/, 10_000, from);
    const committedAt = Date.now();
    await until(5000, 'past the 2 s check', () => Date.now() - committedAt > 2600);
    assert.doesNotMatch(serving.log().slice(from), /killed it|stopped or stuck|handed over; exiting/, 'the old version still holds the POST');
    client.write('helloworld');
    await until(5000, () => `the answer (${JSON.stringify(client.responses)})`, () => client.responses.length === 1);
    assert.equal(client.responses[0].body, 'fdlab serve v1: POST /echo: helloworld\n');
    await serving.waitForLog(/handed over; exiting/, 10_000, from);
    assert.doesNotMatch(serving.log().slice(from), /killed it|stopped or stuck/);
    assert.equal(await client.get('/', 5000), 'fdlab serve v1 gen 2: GET /\n', 'the same connection, served by the new version');
    assert.equal(client.closed, false);
    client.socket.destroy();
  });

  it('a Server-Sent Events stream (GET /events) open at the signal: the old version ends it with an upgrade event once the new one serves, not at the 20 s deadline; asked again on the same connection, the new version streams', async () => {
    serving = await startServe(tempDir(), ['--app', 'http', '--standby', '0', '--upgrade-timeout', '20000']);
    const sse = net.connect(serving.port, '127.0.0.1');
    let text = '';
    let closed = false;
    sse.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    sse.on('close', () => (closed = true));
    sse.on('error', () => {});
    sse.write('GET /events HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, () => `the first event (${JSON.stringify(text)})`, () => text.includes('data: fdlab serve v1: GET /events\n\n'));
    const from = serving.log().length;
    const signalled = Date.now();
    process.kill(serving.pid, 'SIGUSR2');
    const committed = await serving.waitForLog(/committed: pid (\d+) serves/, 10_000, from);
    await serving.waitForLog(/handed over; exiting/, 10_000, from);
    const took = Date.now() - signalled;
    assert.ok(took < 10_000, `the upgrade did not wait for its deadline (${took} ms)`);
    assert.doesNotMatch(serving.log().slice(from), /ERR_BUSY_AT_DEADLINE/);
    assert.match(text, /\r\nevent: upgrade\ndata: fdlab serve v1 hands over: ask again\n\n\r\n0\r\n\r\n$/, 'the stream ended cleanly by v1');
    sse.write('GET /events HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, () => `the new version's stream (${JSON.stringify(text.slice(-200))})`, () => text.includes('data: fdlab serve v1 gen 2: GET /events\n\n'));
    assert.equal(closed, false, 'the same connection throughout');
    assert.equal(await soleServer(serving), Number(committed[1]));
    sse.destroy();
  });
});
