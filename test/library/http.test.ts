// fdlab/http (issue 19, item 2): a node:http server's keep-alive connections
// across an upgrade, on fdlab/testing's pair (two Upgraders in this process,
// the real protocol). A request in flight keeps its connection in the old
// version until its response is finished (answered once, by the version it
// reached); a request head half read travels as pending bytes; one still in
// flight at the deadline is closed by the new version, never answered twice.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { httpApp, type HttpSession } from 'fdlab/http';
import { startUpgradePair, type UpgradePair } from 'fdlab/testing';
import { until } from '../helpers/fds';
import { RawHttpClient } from '../helpers/http-client';
import { collect } from '../helpers/process';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LIBRARY = path.join(ROOT, 'packages', 'fdlab');

/** Version g's server: answers "v<g> <method> <url> [<body>]"; /slow waits until the test answers it. */
function versionServer(generation: number, slow: (() => void)[]): http.Server {
  return http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const answer = () => res.end(`v${generation} ${req.method} ${req.url}${body ? ` ${body}` : ''}`);
      if (req.url === '/slow') slow.push(answer);
      else answer();
    });
  });
}

describe('fdlab/http: keep-alive connections across an upgrade', function () {
  this.timeout(30_000);
  let pair: UpgradePair<HttpSession> | undefined;
  const logs: string[] = [];
  const slow = new Map<number, (() => void)[]>();

  async function start(timeoutMs?: number): Promise<UpgradePair<HttpSession>> {
    pair = await startUpgradePair<HttpSession>({
      app: (g) => {
        slow.set(g, []);
        return httpApp(versionServer(g, slow.get(g)!), { log: (line) => logs.push(`v${g}: ${line}`) });
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
    slow.clear();
  });

  it('a request in flight is answered by the old version, once, before its connection moves; idle ones move first; a half-read head, a chunked and a Content-Length body frame right', async () => {
    const p = await start();
    const [busy, half, chunked, idle] = await Promise.all([0, 1, 2, 3].map(() => RawHttpClient.connect(p.port)));
    for (const client of [busy, half, chunked, idle]) assert.equal(await client.get('/a'), 'v1 GET /a');
    // Bodies the framer must skip exactly, then the start of the next request, in one write.
    chunked.write('POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n');
    assert.equal((await chunked.response(1)).body, 'v1 POST /c abcde');
    chunked.write('POST /l HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /after-');
    assert.equal((await chunked.response(2)).body, 'v1 POST /l hello');
    half.write('GET /half HTTP/1.1\r\nHo');
    busy.write('GET /slow HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'v1 to hold /slow', () => slow.get(1)!.length === 1);
    const upgraded = p.upgrade();
    await until(5000, () => `the idle connections switched first:\n${logs.join('\n')}`, () => logs.some((l) => /^v1: committed: .* serves the first 3 connections/.test(l)));
    half.write('st: t\r\n\r\n');
    assert.equal((await half.response(1)).body, 'v2 GET /half', 'the half head travelled as pending bytes');
    chunked.write('chunked HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.equal((await chunked.response(3)).body, 'v2 GET /after-chunked');
    assert.equal(await idle.get('/b'), 'v2 GET /b');
    assert.equal(busy.responses.length, 1, 'the request in flight is not answered yet');
    slow.get(1)!.shift()!();
    assert.equal((await busy.response(1)).body, 'v1 GET /slow', 'answered by the version it reached');
    await upgraded;
    assert.equal(await busy.get('/c'), 'v2 GET /c');
    for (const client of [busy, half, chunked, idle]) {
      assert.equal(client.extra(), '', 'no bytes beyond the responses');
      assert.equal(client.closed, false, 'the same connection throughout');
      assert.ok(client.responses.every((r) => r.status === 200), JSON.stringify(client.responses));
    }
    assert.match(logs.join('\n'), /v1: switched all 4 connections in 2 group\(s\)/);
  });

  it('a request still in flight at the upgrade deadline: its connection is closed by the new version (the client sees a close, no response), never answered twice', async () => {
    const p = await start(1500);
    const [busy, idle] = await Promise.all([0, 1].map(() => RawHttpClient.connect(p.port)));
    assert.equal(await busy.get('/a'), 'v1 GET /a');
    busy.write('GET /slow HTTP/1.1\r\nHost: t\r\n\r\n');
    await until(5000, 'v1 to hold /slow', () => slow.get(1)!.length === 1);
    await p.upgrade();
    await until(5000, 'the busy connection to close', () => busy.closed);
    assert.equal(busy.responses.length, 1, 'no response to the request in flight');
    assert.match(logs.join('\n'), new RegExp(`v2: closed a connection from 127\\.0\\.0\\.1:${busy.port} handed over with 1 request\\(s\\) in flight`));
    assert.match(logs.join('\n'), /\[ERR_BUSY_AT_DEADLINE\]/);
    slow.get(1)!.shift()!(); // the old version answers too late: its socket is let go of, nothing is sent
    assert.equal(await idle.get('/b'), 'v2 GET /b');
    assert.equal(busy.responses.length, 1);
    assert.equal(busy.extra(), '');
  });

  it('refuses what it cannot carry: an https server (ERR_HTTP_TLS, saying to terminate TLS in front), or no http.Server at all', () => {
    assert.throws(() => httpApp(https.createServer()), (error: Error & { code?: string }) => error.code === 'ERR_HTTP_TLS' && /terminate TLS in front/.test(error.message));
    assert.throws(() => httpApp({} as http.Server), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it("'fdlab/http' resolves through the package's exports and loads only the library and node:http", async () => {
    const script = `const h = require('fdlab/http'); console.log(JSON.stringify({ resolved: require.resolve('fdlab/http'), exports: Object.keys(h).sort(), loaded: Object.keys(require.cache) }));`;
    const result = await collect(spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(result.code, 0, result.stderr);
    const { resolved, exports, loaded } = JSON.parse(result.stdout) as { resolved: string; exports: string[]; loaded: string[] };
    assert.equal(fs.realpathSync(resolved), path.join(LIBRARY, 'dist', 'http', 'index.js'));
    assert.deepEqual(exports, ['httpApp']);
    assert.deepEqual(loaded.filter((file) => !fs.realpathSync(file).startsWith(LIBRARY + path.sep)), []);
    const pkg = JSON.parse(fs.readFileSync(path.join(LIBRARY, 'package.json'), 'utf8')) as { typesVersions: Record<string, Record<string, string[]>> };
    assert.deepEqual(pkg.typesVersions['*'].http, ['dist/http/index.d.ts'], 'typings for moduleResolution node10 too');
  });
});
