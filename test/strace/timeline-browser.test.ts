// Lab 5's timeline.html in a real browser (Debian's headless chromium, driven
// over the DevTools protocol on a pipe, one browser for every check): each
// message that carried fds is one arrow whose count is the capture's, a click
// lists its fd pairs, the handover is on the first screen (1400 x 1000) under
// the fd tables side by side, the keyboard steps a marker down the rows and
// lights up an fd's path, and the page asks the network for nothing (every
// request would have to pass our counting proxy; the protocol reports the rest).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseCapture } from '../../src/strace';
import { readFdTables } from '../../src/labs/fd-snapshot';
import { objectOrder } from '../../src/labs/fd-picture-text';
import { OBJECTS_DRAWN } from '../../src/labs/fd-picture-svg';
import { failedChecks, runLabForTest } from '../labs/harness';
import { tempDir } from '../helpers/fds';
import { cliPath } from '../../src/project';
import { Browser, findChromium, type Page } from '../../lab/lab6/cdp-pipe';

const BROWSER_SERVICES = /^\S+ (?:https?:\/\/)?[\w.-]*\.(?:google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[:/]/;
const CHROMIUM = findChromium();
const SCREEN = { width: 1400, height: 1000 };
/** 40 connections: 40 accept4 rows (800 px) would push the handover off the screen if runs were not collapsed; 5 would not. */
const CONNECTIONS = 40;

interface Box { top: number; bottom: number; left: number; right: number }

async function navigate(browser: Browser, page: Page, url: string): Promise<void> {
  let stop = () => {};
  const loaded = new Promise<void>((resolve) => (stop = browser.on((method, _params, session) => method === 'Page.loadEventFired' && session === page.sessionId && resolve())));
  await page.send('Page.navigate', { url });
  await loaded;
  stop();
}

async function press(page: Page, key: string): Promise<void> {
  await page.send('Input.dispatchKeyEvent', { type: 'keyDown', key, text: key.length === 1 ? key : undefined });
  await page.send('Input.dispatchKeyEvent', { type: 'keyUp', key });
}

async function click(page: Page, box: Box): Promise<void> {
  const [x, y] = [(box.left + box.right) / 2, (box.top + box.bottom) / 2];
  for (const type of ['mousePressed', 'mouseReleased']) await page.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
}

const BOX = (selector: string) => `(() => { const b = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect(); return { top: b.top + scrollY, bottom: b.bottom + scrollY, left: b.left, right: b.right }; })()`;
/** Where the marker is (its y in the SVG) and what is lit up: "bundle:1", "event:480", "pair:17". */
const STATE = `({ marker: document.getElementById('marker').getAttribute('visibility') === 'visible' ? +document.getElementById('marker').getAttribute('y') : null,
  step: document.getElementById('step').textContent,
  path: [...document.querySelectorAll('.path')].map((e) => [...e.classList].find((c) => ['event', 'run', 'bundle', 'pair'].includes(c)) + ':' + (e.dataset.id ?? e.dataset.bundle ?? e.dataset.run)) })`;

describe('lab 5 timeline.html in headless chromium', function () {
  this.timeout(120_000);

  it('one arrow per message with the capture\'s fd count, the handover on the first screen, a step-through, nothing from the network', async function () {
    if (!CHROMIUM) return this.skip(); // apt-get install -y chromium
    const run = await runLabForTest(5, 'process', { connections: String(CONNECTIONS) });
    assert.ok(run, 'lab 5 ran');
    assert.equal(failedChecks(run), '');
    const html = path.join(run.capturesDir, 'timeline.html');
    assert.ok(fs.existsSync(html), 'lab 5 wrote timeline.html');
    // The listener and the clients' connections, and any of the checks' probe connections open at the
    // time: whatever v1 sent, v2 received, message for message.
    const sent = parseCapture(fs.readFileSync(path.join(run.capturesDir, 'server-v1.strace'), 'utf8')).filter((e) => e.syscall === 'sendmsg' && e.fdCount > 0);
    const received = parseCapture(fs.readFileSync(path.join(run.capturesDir, 'server-v2.strace'), 'utf8')).filter((e) => e.syscall === 'recvmsg' && e.fdCount > 0);
    const counts = sent.map((e) => e.fdCount);
    const handedOver = counts.reduce((n, c) => n + c, 0);
    assert.ok(handedOver >= 1 + CONNECTIONS, `at least the listener and the ${CONNECTIONS} clients' connections (${handedOver})`);
    assert.deepEqual(received.map((e) => e.fdCount), counts, 'v2 received every message v1 sent');
    const biggest = counts.indexOf(Math.max(...counts));
    assert.ok(counts[biggest] >= CONNECTIONS, `one sendmsg carried the connections (${counts.join(', ')})`);

    // Any request the page made would come here: chromium sends all traffic to this proxy.
    // Chromium itself still calls its update and account services at start-up, whatever the
    // page: those hosts are set aside; anything else is the page reaching out.
    const requests: string[] = [];
    const proxy = net.createServer((socket) => {
      socket.once('data', (head: Buffer) => {
        const target = head.toString('latin1').split('\r\n')[0];
        if (!BROWSER_SERVICES.test(target)) requests.push(target);
        socket.destroy();
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as net.AddressInfo).port;
    const profile = tempDir('fdlab-chromium-');
    const browser = await Browser.launch(CHROMIUM, profile, [`--proxy-server=http://127.0.0.1:${port}`, '--proxy-bypass-list=<-loopback>']);
    const asked: string[] = [];
    const stopListening = browser.on((method, params) => {
      if (method === 'Network.requestWillBeSent') asked.push((params.request as { url: string }).url);
    });
    try {
      const page = await browser.open('about:blank', SCREEN);
      await page.send('Network.enable');
      await navigate(browser, page, `file://${html}`);
      assert.equal(await page.evaluate('document.body.dataset.ready'), 'yes', 'the page script ran');

      // One arrow per message, its count the capture's; no fd pair drawn until asked.
      const bundles = await page.evaluate<{ count: number; text: string }[]>(`[...document.querySelectorAll('g.bundle')].map((b) => ({ count: +b.dataset.count, text: b.querySelector('.count text').textContent }))`);
      assert.deepEqual(bundles.map((b) => b.count), counts);
      for (const b of bundles) assert.match(b.text, new RegExp(`^${b.count} fds?: `));
      assert.match(bundles[biggest].text, new RegExp(`^${counts[biggest]} fds: (?:listener \\+ )?${counts[biggest] - (biggest === 0 ? 1 : 0)} connections ▸`));
      assert.equal(await page.evaluate(`[...document.querySelectorAll('g.pair')].filter((p) => p.getBoundingClientRect().height > 0).length`), 0);
      assert.equal(await page.evaluate(`document.getElementById('count').textContent`), `${handedOver} of ${handedOver} handed-over fd(s) shown`);

      // The first screen: the fd tables side by side above the timeline, and the handover (the biggest message's arrow and its recvmsg).
      const pictures = await page.evaluate<Box[]>(`[...document.querySelectorAll('svg.fd-picture')].map((s) => { const b = s.getBoundingClientRect(); return { top: b.top, bottom: b.bottom, left: b.left, right: b.right }; })`);
      assert.equal(pictures.length, 2);
      assert.ok(Math.abs(pictures[0].top - pictures[1].top) < 1 && pictures[1].left >= pictures[0].right, `side by side: ${JSON.stringify(pictures)}`);
      assert.ok(pictures[1].right <= SCREEN.width, 'both within the width');
      const arrow = await page.evaluate<Box>(BOX(`g.bundle[data-bundle="${biggest}"]`));
      const to = await page.evaluate<number>(`JSON.parse(document.getElementById('fdlab-data').textContent).bundles[${biggest}].to`);
      const receiving = await page.evaluate<Box>(BOX(`.event[data-id="${to}"]`));
      assert.ok(arrow.bottom <= SCREEN.height && receiving.bottom <= SCREEN.height, `the handover ends at ${Math.max(arrow.bottom, receiving.bottom)} px, within ${SCREEN.height}`);
      assert.ok(arrow.top > Math.max(...pictures.map((p) => p.bottom)), 'under the fd tables');
      const shot = path.join(run.capturesDir, 'timeline.png');
      fs.writeFileSync(shot, await page.screenshot());
      assert.deepEqual([...fs.readFileSync(shot).subarray(1, 4)], [...Buffer.from('PNG')]);

      // The keyboard moves the marker a row at a time and lights up the path of what it is on.
      const marks: (number | null)[] = [];
      for (const key of ['j', 'j', 'ArrowDown', 'k']) {
        await press(page, key);
        marks.push((await page.evaluate<{ marker: number | null }>(STATE)).marker);
      }
      const row = await page.evaluate<number>(`+document.getElementById('timeline').dataset.row`);
      assert.ok(marks[0] !== null, 'the marker shows');
      assert.deepEqual(marks.map((m) => m! - marks[0]!), [0, row, 2 * row, row]);

      // A click on the arrow lists its fd pairs; stepping onto the first pair lights up sender's fd, the arrow, the receiver's fd.
      // A real click, on the count: where it is now, in the window's coordinates.
      await click(page, await page.evaluate<Box>(`(() => { const b = document.querySelector('g.bundle[data-bundle="${biggest}"] .count').getBoundingClientRect(); return { top: b.top, bottom: b.bottom, left: b.left, right: b.right }; })()`));
      const pairs = await page.evaluate<string[]>(`[...document.querySelectorAll('g.pair')].filter((p) => p.getBoundingClientRect().height > 0).map((p) => p.querySelector('title').textContent)`);
      assert.equal(pairs.length, Math.min(counts[biggest], 256));
      assert.match(pairs[0], /^server-v1 fd \d+ → server-v2 fd \d+: TCP /);
      const from = await page.evaluate<number>(`JSON.parse(document.getElementById('fdlab-data').textContent).bundles[${biggest}].from`);
      const onSend = await page.evaluate<{ marker: number; path: string[] }>(STATE);
      assert.ok(onSend.path.includes(`bundle:${biggest}`) && onSend.path.includes(`event:${from}`) && onSend.path.includes(`event:${to}`), onSend.path.join(' '));
      // Down to the first pair, listed under the later of the sendmsg and the recvmsg (a call or two may come between).
      let presses = 0;
      let onPair = onSend as { marker: number; step: string; path: string[] };
      while (!/: fd \d+ → fd \d+ /.test(onPair.step) && presses < 8) {
        await press(page, 'j');
        presses++;
        onPair = await page.evaluate<{ marker: number; step: string; path: string[] }>(STATE);
      }
      assert.equal(onPair.marker, onSend.marker + presses * row, `${presses} rows down: ${onPair.step}`);
      const [, fromFd, toFd] = /fd (\d+) → server-v2 fd (\d+)/.exec(pairs[0])!;
      assert.match(onPair.step, new RegExp(`fd ${fromFd} → fd ${toFd} TCP`));
      for (const lit of [`bundle:${biggest}`, `event:${from}`, `event:${to}`]) assert.ok(onPair.path.includes(lit), `${lit} in ${onPair.path.join(' ')}`);
      assert.ok(onPair.path.some((p) => p.startsWith('pair:')) && onPair.path.some((p) => p.startsWith('run:')), `the pair and the accept4 run that made the connection: ${onPair.path.join(' ')}`);

      // The fd tables v1 and v2 had around the handover: one box and one arrow per fd drawn, one box per object.
      const dom = await page.evaluate<string>('document.documentElement.outerHTML');
      const snapshots = readFdTables(run.capturesDir);
      assert.deepEqual(snapshots.map((t) => t.key), ['before', 'after']);
      const drawn = snapshots.map((t) => new Set(objectOrder(t).slice(0, OBJECTS_DRAWN)));
      const fdsDrawn = snapshots.reduce((n, t, i) => n + t.processes.reduce((m, p) => m + p.fds.filter((f) => drawn[i].has(f.object)).length, 0), 0);
      assert.ok(fdsDrawn >= 2 * OBJECTS_DRAWN, `${fdsDrawn} fds drawn (the listener and connections in v1, then in v2)`);
      assert.equal((dom.match(/<g class="fd-box"/g) ?? []).length, fdsDrawn);
      assert.equal((dom.match(/<g class="fd-arrow"/g) ?? []).length, fdsDrawn);
      assert.equal((dom.match(/<g class="fd-object"/g) ?? []).length, drawn.reduce((n, d) => n + d.size, 0));
      assert.match(dom, /<g class="fd-table" data-role="server-v1">[\s\S]*?exited/, 'v1 is gone after the handover');
    } finally {
      stopListening();
      await browser.close();
      proxy.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
    assert.deepEqual(requests, [], 'requests the page made through the network');
    assert.deepEqual(asked.filter((url) => url !== `file://${html}` && !url.startsWith('data:')), [], 'requests the page made');
    assert.doesNotMatch(fs.readFileSync(html, 'utf8'), /(?:src|href)=["']?(?:https?:)?\/\//, 'no link to fetch');

    // `fdlab timeline <dir>` draws the saved fd tables again, in the terminal and in the page it rewrites.
    const before = fs.readFileSync(html, 'utf8');
    fs.rmSync(html);
    const again = spawnSync(process.execPath, [cliPath(), 'timeline', run.capturesDir], { encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /fd tables before the handover[\s\S]*server-v1 +pid \d+ +fd +\d+ ───▶ TCP 127\.0\.0\.1:7000 \(listening\)  inode \d+/);
    assert.match(again.stdout, /fd tables after the handover[\s\S]*server-v2 +pid \d+ +fd +\d+ ───▶ TCP 127\.0\.0\.1:7000 \(listening\)/);
    const count = (page: string) => (page.match(/<g class="fd-box"/g) ?? []).length;
    assert.equal(count(fs.readFileSync(html, 'utf8')), count(before));
  });
});
