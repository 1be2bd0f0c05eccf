// Docs that run: every code block README.md, the labs' pages, CONTRIBUTING.md and
// packages/fdlab/README.md invite a reader to copy is either a file in
// examples/, embedded after an `<!-- example: path -->` marker (these tests
// check each block equals its file, then run the file), or a TypeScript block
// after a `<!-- doc-test: name -->` marker, which is compiled as printed with
// --strict against 'fdlab' and run. Shell blocks name npm scripts and compiled
// files that exist.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import WebSocket from 'ws';
import { collect, processAlive } from '../helpers/process';
import { freePort } from '../helpers/ports';
import { until } from '../helpers/fds';
import { labPages } from './pages';

const ROOT = path.resolve(__dirname, '..', '..', '..');

interface EmbeddedExample {
  doc: string;
  file: string;
  block: string;
}

/** Every `<!-- example: path -->` marker and the fenced block right after it. */
export function embeddedExamples(doc: string): EmbeddedExample[] {
  const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
  const found: EmbeddedExample[] = [];
  const marker = /<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)```\n/g;
  for (let match = marker.exec(text); match; match = marker.exec(text)) found.push({ doc, file: match[1], block: match[2] });
  return found;
}

function run(command: string, args: string[], env: Record<string, string> = {}) {
  return collect(spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The docs whose code blocks a reader is invited to copy. */
export const RUNNABLE_DOCS = ['README.md', 'labs.md', ...labPages(), 'docs/running-labs.md', 'CONTRIBUTING.md', 'packages/fdlab/README.md', 'docs/performance.md', 'docs/production.md'];

describe('docs that run (examples/)', function () {
  this.timeout(60_000);
  const examples = RUNNABLE_DOCS.flatMap((doc) => embeddedExamples(doc));

  it('the docs embed each example file exactly as it is', function () {
    const files = examples.map((e) => e.file).sort();
    for (const expected of ['examples/library.ts', 'examples/serve.sh', 'examples/echo-restart.sh']) {
      assert.ok(files.includes(expected), `a doc embeds ${expected} (found: ${files.join(', ')})`);
    }
    for (const example of examples) {
      assert.equal(example.block, fs.readFileSync(path.join(ROOT, example.file), 'utf8'), `${example.doc}: the block marked ${example.file} differs from the file`);
    }
  });

  it('one test file from a terminal (examples/one-test.sh) runs that file alone', async function () {
    const result = await run('sh', ['examples/one-test.sh']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /frame/i);
    assert.match(result.stdout, /^ {2}\d+ passing/m);
    assert.doesNotMatch(result.stdout, /hot-upgrade engine/, 'not the whole suite');
  });

  it('the library snippet (examples/library.ts) hands a connection from A to B, closes every copy and exits', async function () {
    const result = await run(process.execPath, ['dist/examples/library.js']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^B received \d+<TCP:\[127\.0\.0\.1:\d+->127\.0\.0\.1:\d+\]> inode \d+$/m);
    // "hello" was read by Node in A and never consumed: it reached B as `unread`.
    assert.match(result.stdout, /^client got: B \(pid \d+\) answers "hello"$/m);
  });

  it('the `fdlab serve` example (examples/serve.sh) upgrades twice under a client and loses no pong', async function () {
    const port = await freePort();
    const result = await run('sh', ['examples/serve.sh'], { PORT: String(port) });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^gen 2 serves as pid \d+$/m);
    assert.match(result.stdout, /^gen 3 serves as pid \d+$/m);
    assert.match(result.stdout, /^(\d+) pings, \1 pongs, 0 lost, connection open to the end$/m);
    await assertNothingListens(port);
  });

  it("lab 4's outside-the-lab restart (examples/echo-restart.sh) leaves the listener in gen 2 only, the connection in gen 1", async function () {
    const port = await freePort();
    const result = await run('bash', ['examples/echo-restart.sh'], { PORT: String(port) });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const gen1 = result.stdout.match(/pid (\d+) \(gen 1\): serving on/)![1];
    const gen2 = result.stdout.match(/pid (\d+) \(gen 2\): serving on inherited fd 3/)![1];
    assert.match(result.stdout, new RegExp(`^LISTEN .*127\\.0\\.0\\.1:${port} .*pid=${gen2},fd=3\\)`, 'm'));
    assert.match(result.stdout, new RegExp(`^ESTAB .*127\\.0\\.0\\.1:${port} .*pid=${gen1},`, 'm'));
    assert.match(result.stdout, /drain timeout \(3000 ms\): closing 1 connection/);
    await assertNothingListens(port);
  });
});

/** The example stopped every server it started: nothing accepts on `port` any more. */
async function assertNothingListens(port: number): Promise<void> {
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
  assert.ok(refused, `something still listens on 127.0.0.1:${port}`);
}

interface DocBlock {
  doc: string;
  /** The line of the opening fence (1-based). */
  line: number;
  lang: string;
  code: string;
  /** The HTML comment on the line before the fence, if any (`example: path`, `doc-test: name`). */
  marker: string | null;
}

/** Every fenced code block of `doc` (outside other fences), with the marker comment right before it. */
export function codeBlocks(doc: string): DocBlock[] {
  const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(\w*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const fence = open[2];
    const end = lines.findIndex((l, j) => j > i && l.trim() === fence);
    assert.ok(end > i, `${doc}:${i + 1}: a code block that never closes`);
    const before = i > 0 ? /^<!-- (.+?) -->$/.exec(lines[i - 1].trim()) : null;
    blocks.push({ doc, line: i + 1, lang: open[3], code: lines.slice(i + 1, end).map((l) => l.slice(open[1].length)).join('\n') + '\n', marker: before ? before[1] : null });
    i = end;
  }
  return blocks;
}

/** The `<!-- doc-test: name -->` TypeScript blocks of the docs, by name. */
function docTests(): Map<string, DocBlock> {
  const found = new Map<string, DocBlock>();
  for (const block of RUNNABLE_DOCS.flatMap((doc) => codeBlocks(doc))) {
    const name = /^doc-test: (\S+)$/.exec(block.marker ?? '')?.[1];
    if (!name) continue;
    assert.ok(!found.has(name), `two doc-test blocks named ${name}`);
    found.set(name, block);
  }
  return found;
}

/**
 * Compiles one block as printed, alone, with --strict, the way a reader's
 * project would: in a folder under the repository, so 'fdlab' resolves to the
 * workspace package (node_modules/fdlab) and its typings. Returns the .js path.
 */
function compileBlock(name: string, block: DocBlock, dir: string): string {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(file, block.code);
  const program = ts.createProgram([file], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    types: ['node'],
    skipLibCheck: true,
    outDir: dir,
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
  const messages = diagnostics.map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : null;
    return `${block.doc}, block "${name}"${where ? ` line ${where.line + 1}` : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  assert.deepEqual(messages, [], `compiles with --strict as printed`);
  return file.replace(/\.ts$/, '.js');
}

/** A doc's server as a reader starts it (`node <js> <state dir> <port>`), gen 1; gen 2, started by gen 1, writes to the same pipes. */
async function startDocServer(js: string) {
  const stateParent = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-doc-'));
  const port = await freePort();
  const gen1: ChildProcess = spawn(process.execPath, [js, path.join(stateParent, 'state'), String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { stateParent, stateDir: path.join(stateParent, 'state'), port, gen1, out: '', gen1Exit: undefined as number | null | undefined, pids: new Set<number>([gen1.pid!]) };
  gen1.stdout!.on('data', (chunk: Buffer) => (server.out += chunk.toString()));
  gen1.stderr!.on('data', (chunk: Buffer) => (server.out += chunk.toString()));
  gen1.once('exit', (code) => (server.gen1Exit = code));
  return server;
}

/** Kills whatever of it still runs and removes its state dir. */
function endDocServer(server: Awaited<ReturnType<typeof startDocServer>>): void {
  for (const pid of server.pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(server.stateParent, { recursive: true, force: true });
}

describe('docs that run (doc-test blocks, compiled with --strict against fdlab)', function () {
  this.timeout(60_000);
  let dir: string;
  before(function () {
    fs.mkdirSync(path.join(ROOT, 'dist'), { recursive: true });
    dir = fs.mkdtempSync(path.join(ROOT, 'dist', 'doc-tests-'));
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every TypeScript block of README.md, CONTRIBUTING.md and packages/fdlab/README.md is an example file or a doc-test', function () {
    const unproven = ['README.md', 'CONTRIBUTING.md', 'packages/fdlab/README.md']
      .flatMap((doc) => codeBlocks(doc))
      .filter((b) => ['ts', 'typescript', 'js', 'javascript'].includes(b.lang) && !/^(example|doc-test): \S+$/.test(b.marker ?? ''))
      .map((b) => `${b.doc}:${b.line}`);
    assert.deepEqual(unproven, [], 'code blocks with no <!-- example: --> or <!-- doc-test: --> marker');
    const named = [...docTests().keys()];
    for (const name of ['pass-an-fd', 'line-counter', 'wire', 'testing', 'http-server', 'ws-echo']) assert.ok(named.includes(name), `packages/fdlab/README.md has the doc-test ${name} (found: ${named.join(', ')})`);
  });

  it('every npm script and compiled file a shell block names exists', function () {
    const rootScripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const missing: string[] = [];
    for (const block of RUNNABLE_DOCS.flatMap((doc) => codeBlocks(doc)).filter((b) => b.lang === 'sh' && !b.marker?.startsWith('example:'))) {
      for (const line of block.code.split('\n')) {
        const command = line.replace(/#.*$/, '');
        for (const [, script] of command.matchAll(/npm run (?:-\S+ )*([\w:.-]+)/g)) if (!(script in rootScripts)) missing.push(`${block.doc}:${block.line}: npm run ${script}`);
        for (const [, js] of command.matchAll(/node (dist\/\S+)\.js/g)) {
          if (!fs.existsSync(path.join(ROOT, js.replace(/^dist\//, '') + '.ts'))) missing.push(`${block.doc}:${block.line}: ${js}.js has no source`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  it('pass-an-fd (packages/fdlab/README.md): the fd arrives as a new number, the offset is shared', async function () {
    const js = compileBlock('pass-an-fd', docTests().get('pass-an-fd')!, dir);
    const result = await run(process.execPath, [js]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^received "boy" and \d+<.*\/tmp\.txt> offset 0$/m);
    assert.match(result.stdout, /^read hello, then through the old fd: world$/m);
  });

  it('wire (packages/fdlab/README.md): prints the frame docs/protocols.md shows, and decodes it back', async function () {
    const js = compileBlock('wire', docTests().get('wire')!, dir);
    const result = await run(process.execPath, [js]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'fd1a0100000100000003626f79 with fds [ 7 ]\nboy [ 7 ]\n');
  });

  it('line-counter (packages/fdlab/README.md): a real upgradable server, upgraded once with SIGUSR2 under a client whose count goes on', async function () {
    const js = compileBlock('line-counter', docTests().get('line-counter')!, dir);
    const server = await startDocServer(js);
    const { stateDir, port, pids } = server;
    let client: net.Socket | undefined;
    try {
      await until(15_000, () => `gen 1 serves (output: ${server.out})`, () => /^gen 1 serves on port \d+ as pid \d+$/m.test(server.out));
      assert.equal(Number(fs.readFileSync(path.join(stateDir, 'pid'), 'utf8')), server.gen1.pid, 'the pid file names gen 1');

      let answers = '';
      client = net.connect(port, '127.0.0.1');
      client.on('data', (chunk: Buffer) => (answers += chunk.toString()));
      await new Promise((resolve, reject) => client!.once('connect', resolve).once('error', reject));
      client.write('a\n');
      await until(5000, () => `1 (gen 1): a (got: ${JSON.stringify(answers)})`, () => answers.includes('1 (gen 1): a\n'));
      // One write: gen 1 reads "b\nc" in one chunk, answers b, and keeps the half line "c".
      client.write('b\nc');
      await until(5000, () => `2 (gen 1): b (got: ${JSON.stringify(answers)})`, () => answers.includes('2 (gen 1): b\n'));

      process.kill(server.gen1.pid!, 'SIGUSR2');
      await until(20_000, () => `gen 2 serves and gen 1 exits (output: ${server.out})`, () => /^gen 2 serves on port \d+ as pid \d+$/m.test(server.out) && server.gen1Exit !== undefined);
      const gen2 = Number(/^gen 2 serves on port \d+ as pid (\d+)$/m.exec(server.out)![1]);
      pids.add(gen2);
      assert.equal(server.gen1Exit, 0, `gen 1 exits 0 once gen 2 serves (output: ${server.out})`);
      await until(5000, 'the pid file names gen 2', () => Number(fs.readFileSync(path.join(stateDir, 'pid'), 'utf8')) === gen2);

      client.write('\nd\n'); // the rest of "c", then a new line: the count goes on where gen 1 left it
      await until(5000, () => `3 (gen 2): c, 4 (gen 2): d (got: ${JSON.stringify(answers)})`, () => answers.includes('4 (gen 2): d\n'));
      assert.equal(answers, '1 (gen 1): a\n2 (gen 1): b\n3 (gen 2): c\n4 (gen 2): d\n', 'one connection, never closed, counted on');
      assert.ok(!client.destroyed, 'the client connection is still open');
      client.destroy();

      process.kill(gen2, 'SIGTERM');
      await until(10_000, 'gen 2 exits on SIGTERM and removes the pid file', () => !processAlive(gen2) && !fs.existsSync(path.join(stateDir, 'pid')));
      await assertNothingListens(port);
    } finally {
      client?.destroy();
      endDocServer(server);
    }
  });
  it('http-server (packages/fdlab/README.md, fdlab/http): a keep-alive client keeps its socket across SIGUSR2, the request in flight at the signal is answered by gen 1, once, the next by gen 2', async function () {
    const js = compileBlock('http-server', docTests().get('http-server')!, dir);
    const server = await startDocServer(js);
    const { stateDir, port, pids } = server;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<number>();
    const get = (url: string) => new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: url, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('socket', (socket: net.Socket) => (socket.localPort ? sockets.add(socket.localPort) : socket.once('connect', () => sockets.add(socket.localPort!))));
      req.on('error', reject);
    });
    try {
      await until(15_000, () => `gen 1 serves (output: ${server.out})`, () => /^gen 1 serves http on port \d+ as pid \d+$/m.test(server.out));
      assert.equal(await get('/'), 'gen 1 answers /\n');
      const slow = get('/slow');
      await until(5000, () => `gen 1 got /slow (output: ${server.out})`, () => /^gen 1: GET \/slow$/m.test(server.out));
      process.kill(server.gen1.pid!, 'SIGUSR2');
      // pm2's stop (SIGINT) while the upgrade is under way: stopSignals lets it settle, then gen 1 exits 0.
      await until(5000, () => `gen 1 starts the upgrade (output: ${server.out})`, () => /^gen 1: upgrade: handing over/m.test(server.out));
      process.kill(server.gen1.pid!, 'SIGINT');
      assert.equal(await slow, 'gen 1 answers /slow\n', 'the request in flight at the signal: answered by gen 1');
      await until(20_000, () => `gen 2 serves and gen 1 exits (output: ${server.out})`, () => /^gen 2 serves http on port \d+ as pid \d+$/m.test(server.out) && server.gen1Exit !== undefined);
      assert.equal(server.gen1Exit, 0, server.out);
      assert.match(server.out, /^gen 1: SIGINT during the upgrade: stopping once it settles$/m);
      assert.match(server.out, /^gen 1: SIGINT during the upgrade: it went through; exiting, the new version serves$/m);
      const gen2 = Number(/^gen 2 serves http on port \d+ as pid (\d+)$/m.exec(server.out)![1]);
      pids.add(gen2);
      assert.equal(await get('/'), 'gen 2 answers /\n');
      assert.equal(sockets.size, 1, `one connection throughout (client ports: ${[...sockets]})`);
      assert.equal((server.out.match(/^gen \d: GET \/slow$/gm) ?? []).length, 1, 'the request in flight was handled once');
      agent.destroy();
      process.kill(gen2, 'SIGINT');
      await until(10_000, 'gen 2 exits on SIGINT and removes the pid file', () => !processAlive(gen2) && !fs.existsSync(path.join(stateDir, 'pid')));
      await assertNothingListens(port);
    } finally {
      agent.destroy();
      endDocServer(server);
    }
  });

  it('ws-chat (packages/fdlab/README.md, fdlab/ws): two members keep their connections across SIGUSR2, their names (from the handshake url) and counts go on in gen 2, SIGINT stops gen 2', async function () {
    const js = compileBlock('ws-chat', docTests().get('ws-chat')!, dir);
    const server = await startDocServer(js);
    const { stateDir, port, pids } = server;
    const clients: { ws: WebSocket; got: string[]; closed: boolean }[] = [];
    try {
      await until(15_000, () => `gen 1 serves (output: ${server.out})`, () => /^gen 1 serves the chat on port \d+ as pid \d+$/m.test(server.out));
      for (const name of ['ann', 'bob']) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/?name=${name}`);
        const client = { ws, got: [] as string[], closed: false };
        ws.on('message', (data) => client.got.push(String(data)));
        ws.on('close', () => (client.closed = true));
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        clients.push(client);
      }
      const [ann, bob] = clients;
      ann.ws.send('hello');
      await until(5000, () => `ann's message to both (${JSON.stringify(clients.map((c) => c.got))})`, () => clients.every((c) => c.got.length === 1));
      bob.ws.send('hi');
      await until(5000, () => `bob's message to both (${JSON.stringify(clients.map((c) => c.got))})`, () => clients.every((c) => c.got.length === 2));
      process.kill(server.gen1.pid!, 'SIGUSR2');
      await until(20_000, () => `gen 2 serves and gen 1 exits (output: ${server.out})`, () => /^gen 2 serves the chat on port \d+ as pid \d+$/m.test(server.out) && server.gen1Exit !== undefined);
      assert.equal(server.gen1Exit, 0, server.out);
      const gen2 = Number(/^gen 2 serves the chat on port \d+ as pid (\d+)$/m.exec(server.out)![1]);
      pids.add(gen2);
      assert.match(server.out, /^gen 2: ann carried over; \d online$/m);
      assert.match(server.out, /^gen 2: bob carried over; 2 online$/m);
      ann.ws.send('still here');
      await until(5000, () => `ann's message in gen 2 (${JSON.stringify(clients.map((c) => c.got))})`, () => clients.every((c) => c.got.length === 3));
      bob.ws.send('me too');
      await until(5000, () => `bob's message in gen 2 (${JSON.stringify(clients.map((c) => c.got))})`, () => clients.every((c) => c.got.length === 4));
      for (const client of clients) {
        assert.deepEqual(client.got, ['gen 1 · ann #1: hello', 'gen 1 · bob #1: hi', 'gen 2 · ann #2: still here', 'gen 2 · bob #2: me too']);
        assert.equal(client.closed, false, 'no close event');
      }
      process.kill(gen2, 'SIGINT');
      await until(10_000, 'gen 2 exits on SIGINT and removes the pid file', () => !processAlive(gen2) && !fs.existsSync(path.join(stateDir, 'pid')));
      await until(5000, 'both clients see the close', () => clients.every((c) => c.closed));
    } finally {
      for (const client of clients) client.ws.terminate();
      endDocServer(server);
    }
  });

  it('ws-echo (packages/fdlab/README.md, fdlab/ws): permessage-deflate without context takeover negotiated; a message whose first frame reached v1 is inflated and answered whole by v2, on one connection', async function () {
    const js = compileBlock('ws-echo', docTests().get('ws-echo')!, dir);
    const result = await run(process.execPath, [js]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover\nv1 #1: a\nv2 #2: hello\n');
  });
});
