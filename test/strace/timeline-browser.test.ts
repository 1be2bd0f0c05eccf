// Lab 5's timeline.html in a real browser (Debian's headless chromium): it
// draws one arrow per fd v1 handed to v2, its script runs, and it asks the
// network for nothing (every request would have to pass our counting proxy).
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
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

const BROWSER_SERVICES = /^\S+ (?:https?:\/\/)?[\w.-]*\.(?:google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[:/]/;
const CHROMIUM = ['chromium', 'chromium-browser'].find((name) => spawnSync('which', [name]).status === 0);

function chromium(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('lab 5 timeline.html in headless chromium', function () {
  this.timeout(120_000);

  it('has one arrow per handed-over fd, runs its script, and requests nothing from the network', async function () {
    if (!CHROMIUM) return this.skip(); // apt-get install -y chromium
    const run = await runLabForTest(5, 'process', { connections: '5' });
    assert.ok(run, 'lab 5 ran');
    assert.equal(failedChecks(run), '');
    const html = path.join(run.capturesDir, 'timeline.html');
    assert.ok(fs.existsSync(html), 'lab 5 wrote timeline.html');
    const v1 = parseCapture(fs.readFileSync(path.join(run.capturesDir, 'server-v1.strace'), 'utf8'));
    const handedOver = v1.filter((e) => e.syscall === 'sendmsg').reduce((n, e) => n + e.fdCount, 0);
    // The listener and the 5 clients' connections, and any of the checks' probe
    // connections open at the time (as copies, or accepted later and sent with a
    // switch group): whatever v1 sent, v2 must have received, fd for fd.
    const v2 = parseCapture(fs.readFileSync(path.join(run.capturesDir, 'server-v2.strace'), 'utf8'));
    const received = v2.filter((e) => e.syscall === 'recvmsg').reduce((n, e) => n + e.fdCount, 0);
    assert.ok(handedOver >= 6, `at least the listener and the 5 clients' connections (${handedOver})`);
    assert.equal(received, handedOver, 'v2 received every fd v1 sent');

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
    const shot = path.join(run.capturesDir, 'timeline.png');
    const common = [
      '--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, `--proxy-server=http://127.0.0.1:${port}`, '--proxy-bypass-list=<-loopback>',
      '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps',
      '--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate', '--disable-domain-reliability', '--no-pings',
    ];
    try {
      const dom = await chromium([...common, '--dump-dom', `file://${html}`]);
      assert.equal(dom.code, 0, dom.stderr);
      assert.match(dom.stdout, /<body[^>]*data-ready="yes"/, 'the page script ran');
      assert.equal((dom.stdout.match(/<g class="arrow"/g) ?? []).length, handedOver);
      assert.match(dom.stdout, new RegExp(`${handedOver} of ${handedOver} handed-over fd\\(s\\) shown`));
      // The fd tables v1 and v2 had around the handover: one box and one arrow per fd drawn, one box per object.
      const snapshots = readFdTables(run.capturesDir);
      assert.deepEqual(snapshots.map((t) => t.key), ['before', 'after']);
      const drawn = snapshots.map((t) => new Set(objectOrder(t).slice(0, OBJECTS_DRAWN)));
      const fdsDrawn = snapshots.reduce((n, t, i) => n + t.processes.reduce((m, p) => m + p.fds.filter((f) => drawn[i].has(f.object)).length, 0), 0);
      assert.ok(fdsDrawn >= 2 * 6 - 4, `${fdsDrawn} fds drawn (the listener and 5 connections in v1, then in v2)`);
      assert.equal((dom.stdout.match(/<svg[^>]*class="fd-picture"/g) ?? []).length, 2);
      assert.equal((dom.stdout.match(/<g class="fd-box"/g) ?? []).length, fdsDrawn);
      assert.equal((dom.stdout.match(/<g class="fd-arrow"/g) ?? []).length, fdsDrawn);
      assert.equal((dom.stdout.match(/<g class="fd-object"/g) ?? []).length, drawn.reduce((n, d) => n + d.size, 0));
      assert.match(dom.stdout, /<g class="fd-table" data-role="server-v1">[\s\S]*?exited/, 'v1 is gone after the handover');
      const picture = await chromium([...common, '--window-size=1300,900', `--screenshot=${shot}`, `file://${html}`]);
      assert.equal(picture.code, 0, picture.stderr);
      assert.deepEqual([...fs.readFileSync(shot).subarray(1, 4)], [...Buffer.from('PNG')]);
    } finally {
      proxy.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
    assert.deepEqual(requests, [], 'requests the page made');
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
