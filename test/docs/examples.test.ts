// Docs that run: every code block README.md and labs.md invite a reader to
// copy is a file in examples/, embedded after an `<!-- example: path -->`
// marker. These tests check each block equals its file, then run the file.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { collect } from '../helpers/process';
import { freePort } from '../helpers/ports';

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

describe('docs that run (examples/)', function () {
  this.timeout(60_000);
  const examples = [...embeddedExamples('README.md'), ...embeddedExamples('labs.md')];

  it('README.md and labs.md embed each example file exactly as it is', function () {
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
