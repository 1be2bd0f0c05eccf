import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCapture } from '../../src/strace';
import { SCREENSHOT } from '../../lab/lab6/lab';
import { findChromium } from '../../lab/lab6/cdp-pipe';
import type { ParticipantReport } from '../../lab/lab6/chat';
import type { PageReport } from '../../lab/lab6/browser';
import { failedChecks, leftBehind, runLabForTest, RUNTIMES } from './harness';

const CLIENTS = 5;
const PAGES = 2;

for (const runtime of RUNTIMES) {
  describe(`lab 6 (${runtime} runtime): a WebSocket chat upgraded under its users' eyes`, function () {
    this.timeout(90_000);

    it(`${CLIENTS} ws clients and ${PAGES} chromium pages keep their connections across SIGUSR2; every message arrives once, in order; the page shows v2`, async function () {
      if (!findChromium()) return this.skip(); // apt-get install -y chromium (.ci/run installs it)
      const run = await runLabForTest(6, runtime);
      if (!run) return this.skip();
      const logOf = (role: string) => fs.readFileSync(path.join(run.capturesDir, `${role}.log`), 'utf8');
      assert.equal(failedChecks(run), '', `roles: ${JSON.stringify(run.summary.roles)}; browser's log:\n${logOf('browser')}`);
      assert.equal(run.check(/every page kept its connection/).measured, `${PAGES} of ${PAGES}: 1 'open' and 0 'close' events each`);
      assert.equal(run.check(/every ws client kept its connection/).measured, `${CLIENTS} of ${CLIENTS}: 1 'open' and 0 'close' events each`);

      // What the participants wrote down, checked here again from summary.json rather than from the lab's sums.
      const pages = run.summary.records.pages as PageReport[];
      const clients = run.summary.records.clients as ParticipantReport[];
      const everyone = [...clients, ...pages];
      assert.deepEqual(everyone.map((r) => r.name).sort(), [...Array.from({ length: CLIENTS }, (_, i) => `client-${i + 1}`), 'page-1', 'page-2'].sort());
      const messages = everyone.reduce((n, r) => n + r.sent, 0);
      for (const sender of everyone) assert.ok(sender.sent > 0 && sender.unsent === 0, `${sender.name} said ${sender.sent}, all sent`);
      for (const receiver of everyone) {
        assert.ok(receiver.opens === 1 && receiver.closes.length === 0 && receiver.failedAttempts === 0 && receiver.sawEnd, `${receiver.name}: one connection, never closed, got the last message`);
        for (const sender of everyone) assert.equal(receiver.from[sender.name], sender.sent === 1 ? '1' : `1-${sender.sent}`, `${receiver.name} got ${sender.name}'s messages once, in order`);
        assert.equal(receiver.seqs, `1-${messages}`, `${receiver.name}: the room's seq from v1 on into v2, no gap`);
        assert.equal(receiver.version, 'v2');
      }
      assert.match(run.check(/every message delivered once/).measured, new RegExp(`^${messages.toLocaleString('en-US')} messages from 7 participants, ${(messages * 7).toLocaleString('en-US')} deliveries: 0 lost, 0 duplicated, 0 out of order$`));
      for (const page of pages) {
        assert.deepEqual(page.badge, { text: 'server v2', visible: true }, `${page.name}'s badge`);
        assert.ok(page.newFormat > 0, `${page.name} showed messages in v2's format`);
        assert.match(page.banner, /^\d\d:\d\d:\d\d {2}server upgraded v1 → v2 on this same connection: no reload, no reconnect$/);
      }

      // The screenshot: a real PNG of the page's size.
      const png = fs.readFileSync(path.join(run.capturesDir, SCREENSHOT));
      assert.equal(png.subarray(1, 4).toString(), 'PNG');
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [900, 640]);
      assert.ok(png.length > 10_000, `${png.length} bytes: a page, not a blank`);

      // strace: v1 sent each WebSocket's socket (by the client's port, from v1's log) to v2, and v2 received as many fds.
      const v1Log = logOf('server-v1');
      const ports = [...v1Log.matchAll(/joined: \S+ \(WebSocket from 127\.0\.0\.1:(\d+)\)/g)].map((m) => m[1]);
      assert.equal(ports.length, CLIENTS + PAGES);
      const sent = parseCapture(fs.readFileSync(path.join(run.capturesDir, 'server-v1.strace'), 'utf8')).filter((e) => e.syscall === 'sendmsg');
      const received = parseCapture(fs.readFileSync(path.join(run.capturesDir, 'server-v2.strace'), 'utf8')).filter((e) => e.syscall === 'recvmsg');
      const remotes = new Set(sent.flatMap((e) => e.fds.map((fd) => fd.remote?.split(':').pop())));
      for (const port of ports) assert.ok(remotes.has(port), `the WebSocket from port ${port} crossed`);
      assert.equal(received.reduce((n, e) => n + e.fdCount, 0), sent.reduce((n, e) => n + e.fdCount, 0), 'v2 received every fd v1 sent');
      assert.equal(run.check(/strace: every WebSocket crossed/).status, 'pass');
      assert.match(logOf('server-v2'), /took over: 7 WebSockets, 0 messages broadcast here, room seq \d+, 7 carried from the previous version/);
      assert.deepEqual(await leftBehind(run), [], 'no container or process left (chromium included)');
    });
  });
}

describe('lab 6 without a browser', function () {
  this.timeout(60_000);

  it('stops early with a row that says chromium is missing and how to install it, and leaves nothing behind', async () => {
    const saved = process.env.CHROMIUM;
    process.env.CHROMIUM = '/no/such/chromium'; // the process runtime's roles inherit our environment
    try {
      const run = (await runLabForTest(6, 'process'))!;
      assert.equal(run.ok, false);
      assert.match(run.check('the lab ran to its end').measured, /^browser exited \(code 3\) before printing .*: cannot start the browser: CHROMIUM=\/no\/such\/chromium is not an executable file \(Debian: apt-get install -y chromium; or set CHROMIUM=\/path\/to\/chromium\)/);
      assert.deepEqual(await leftBehind(run), []);
    } finally {
      if (saved === undefined) delete process.env.CHROMIUM;
      else process.env.CHROMIUM = saved;
    }
  });
});
