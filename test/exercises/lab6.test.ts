// lab/lab6/README.md: each exercise and the "what breaks", done as a learner
// would (--set, the chat server by hand with a browser page open) and
// checked against what the lab's page says happens.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Browser, findChromium, type Page } from '../../lab/lab6/cdp-pipe';
import type { PageReport } from '../../lab/lab6/browser';
import type { ParticipantReport } from '../../lab/lab6/chat';
import { tempDir, until } from '../helpers/fds';
import { freePort } from '../helpers/ports';
import { runLabForTest } from '../labs/harness';
import { compiledPath, projectRoot } from '../../src/project';

const CHAT_SERVER = compiledPath('lab/lab6/chat-server.ts');

/** `node dist/lab/lab6/chat-server.js <port> <version> <dir> <pid file>`, as lab 6's page has it, with its output kept. */
function chatServer(args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [CHAT_SERVER, ...args], { cwd: projectRoot(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** Polls a condition in the page every 50 ms until it holds, or fails saying what it waited for. */
async function inPage(page: Page, condition: string, what: string, ms = 15_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await page.evaluate<boolean>(condition)); await new Promise((r) => setTimeout(r, 50))) {
    assert.ok(Date.now() < deadline, `within ${ms} ms: ${what} (${condition})`);
  }
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));

describe('lab/lab6/README.md: exercises and what breaks', function () {
  this.timeout(120_000);

  it('lab 6 exercise 1: --set clients=50 --set pages=3: 53 WebSockets cross in one batch with the pages\' HTTP connections, nothing lost', async function () {
    if (!findChromium()) return this.skip();
    const run = (await runLabForTest(6, 'process', { clients: '50', pages: '3' }))!;
    assert.equal(run.ok, true, JSON.stringify(run.checks.filter((c) => c.status !== 'pass')));
    assert.equal(run.check(/every ws client kept its connection/).measured, "50 of 50: 1 'open' and 0 'close' events each");
    assert.match(run.check(/every message delivered once/).measured, /^[\d,]+ messages from 53 participants, [\d,]+ deliveries: 0 lost, 0 duplicated, 0 out of order$/);
    // The listener, 53 WebSockets, and the HTTP connections the pages were loaded on, kept alive
    // (chromium loads 3 pages of one origin on 1 to 3 of them: 56 fds in one run).
    const crossed = /^53 of 53 WebSockets seen crossing; (\d+) fds in all: /.exec(run.check(/strace: every WebSocket crossed/).measured);
    assert.ok(crossed && Number(crossed[1]) >= 1 + 53 + 1 && Number(crossed[1]) <= 1 + 53 + 3, run.check(/strace: every WebSocket crossed/).measured);
    const v1 = fs.readFileSync(path.join(run.capturesDir, 'server-v1.log'), 'utf8');
    assert.match(v1, /sent the listener and copies of 5[4-6] connections in 1 batch\(es\) while serving/);
    console.log(`      measured: ${crossed![0].replace(/: $/, '')}; ${/copies of \d+ connections in 1 batch\(es\)/.exec(v1)![0]}`);
  });

  it('lab 6 exercises 2 and 3: the chat server by hand under a page: SIGUSR2 and v2, the badge turns v2 on the same connection; a stop and a start, the page sees 1006 and reconnects', async function () {
    if (!findChromium()) return this.skip();
    const dir = tempDir('fdlab-chat-');
    const port = String(await freePort());
    const [state, pidFile] = [path.join(dir, 'fdlab-chat'), path.join(dir, 'fdlab-chat.pid')];
    const v1 = chatServer([port, 'v1', state, pidFile]);
    let v2: ReturnType<typeof chatServer> | undefined;
    let again: ReturnType<typeof chatServer> | undefined;
    const browser = await Browser.launch(findChromium()!, path.join(dir, 'profile'));
    try {
      await until(10_000, () => `v1 serving: ${v1.output()}`, () => v1.output().includes('chat on http://'));
      // "open http://127.0.0.1:7000/?name=me and say something"
      const page = await browser.open(`http://127.0.0.1:${port}/?name=me`, { width: 900, height: 640 });
      const chat = () => page.evaluate<{ opens: number; closes: number[]; received: unknown[]; version: string }>('chat');
      await inPage(page, 'chat.opens === 1', 'the page connected');
      await page.evaluate("chat.type('hi from v1')");
      await inPage(page, 'chat.received.length === 1', 'my message came back');
      // kill -USR2 $(cat /tmp/fdlab-chat.pid), then v2 with FDLAB_UPGRADE_SOCKET
      process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGUSR2');
      await until(10_000, () => `v1 waiting: ${v1.output()}`, () => v1.output().includes('waiting for the successor'));
      v2 = chatServer([port, 'v2', state, pidFile], { FDLAB_UPGRADE_SOCKET: path.join(state, 'upgrade.sock') });
      assert.equal(await exited(v1.child), 0, v1.output());
      assert.match(v1.output(), /handed over; exiting; 1 WebSockets/);
      await page.evaluate("chat.type('hi from v2')");
      await inPage(page, 'chat.received.length === 2', 'the second message came back, from v2');
      const after = await chat();
      assert.equal(after.version, 'v2');
      assert.deepEqual([after.opens, after.closes], [1, []], 'one connection, never closed');
      assert.equal(await page.evaluate<string>("document.getElementById('badge').textContent"), 'server v2');
      assert.match(await page.evaluate<string>("document.getElementById('banner').textContent"), /server upgraded v1 → v2 on this same connection/);
      assert.deepEqual(await page.evaluate<number[]>("[...document.querySelectorAll('#messages time')].length ? [1] : []"), [1], "v2's message shows the server's time");
      assert.equal(Number(fs.readFileSync(pidFile, 'utf8')), v2.child.pid, 'the pid file names v2');
      // Exercise 3: kill $(cat /tmp/fdlab-chat.pid), start v1 again: the page saw the close, and reconnected.
      process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGTERM');
      assert.equal(await exited(v2.child), 0, v2.output());
      assert.equal(fs.existsSync(pidFile), false, 'the pid file goes with the last version');
      await inPage(page, 'chat.closes.length === 1', 'the page saw the close');
      again = chatServer([port, 'v1', state, pidFile]);
      await inPage(page, 'chat.opens === 2', 'the page reconnected');
      assert.deepEqual([(await chat()).closes, (await chat()).opens], [[1006], 2]);
      process.kill(again.child.pid!, 'SIGTERM');
      assert.equal(await exited(again.child), 0, again.output());
    } finally {
      await browser.close();
      for (const server of [v1, v2, again]) if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  });

  it('lab 6 what breaks: --set restart=naive: every page and client sees a close and reconnects, messages are lost, nothing crosses; the lab fails', async function () {
    if (!findChromium()) return this.skip();
    const run = (await runLabForTest(6, 'process', { restart: 'naive' }))!;
    assert.equal(run.ok, false);
    const failed = run.checks.filter((c) => c.status === 'fail').map((c) => c.name);
    assert.deepEqual(failed, [
      'every page kept its connection: no close event, no reconnect',
      'every ws client kept its connection: no close event, no reconnect',
      'every message delivered once and in order, to everyone',
      "the room's numbering went on in v2: every participant got seq 1..N, no gap, no restart",
      "SCM_RIGHTS in server-v1's strace capture",
      "SCM_RIGHTS in server-v2's strace capture",
      'strace: every WebSocket crossed from v1 to v2 (SCM_RIGHTS)',
    ]);
    // What the users saw, from their own reports.
    const pages = run.summary.records.pages as PageReport[];
    const clients = run.summary.records.clients as ParticipantReport[];
    for (const user of [...pages, ...clients]) {
      assert.deepEqual([user.opens, user.closes], [2, [1006]], `${user.name}: closed once (1006, no close frame), then on a second connection`);
    }
    for (const page of pages) assert.match(page.banner, /reconnected: this is connection #2; the first one closed \(1006\)/);
    const lost = /deliveries: ([\d,]+) lost, 0 duplicated, 0 out of order/.exec(run.check(/every message delivered/).measured);
    assert.ok(lost && Number(lost[1].replace(/,/g, '')) > 0, run.check(/every message delivered/).measured);
    // The numbering started over in v2: the participants' runs differ (each lost other messages), or,
    // when all lost the same ones, every one of them saw seq 1..M then 1..N (CI once: "seq 1-53,1-61 at all 7").
    assert.match(run.check(/room's numbering/).measured, /^(\d+ different: |seq 1-[\d,-]*,1-\d+ at all 7$)/);
    assert.equal(run.check(/every WebSocket crossed/).measured, '0 of 7 WebSockets seen crossing; 0 fds in all');
    assert.equal(run.check(/v2's badge/).status, 'pass', 'the badge says v2 too: on a new connection');
    console.log(`      measured: ${run.check(/every message delivered/).measured}`);
  });
});
