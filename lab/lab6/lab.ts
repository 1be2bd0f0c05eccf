// Lab 6: a WebSocket chat upgraded under its users' eyes (issue 19): a chat
// server on fdlab/ws, scripted `ws` clients and chat pages in headless
// chromium, all talking; SIGUSR2 mid-conversation, and v2 (a new badge, a
// new message format) carries on with every connection. --set
// restart=naive does what most deploys do instead: stop v1, start v2.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabContext, LabDefinition } from '../../src/labs/types';
import type { Role } from '../../src/runtime/types';
import { roleScripts } from '../../src/project';
import { delivery, type ParticipantReport } from './chat';
import type { PageReport } from './browser';

const PORT = 7000;
const roleScript = roleScripts(__dirname, ['chat-server', 'clients', 'browser']);
/** Written by the browser role into captures/lab6/. */
export const SCREENSHOT = 'chat-after-upgrade.png';
/** Each client speaks every 100 ms, less often with more of them: the room hears about 50 messages a second (with 3 pages rendering each). */
const clientIntervalMs = (clients: number) => Math.max(100, 20 * clients);
const PAGE_INTERVAL_MS = 300;
/** How long the chat runs before the upgrade, and after it. */
const TALK_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A role's line, or an error that says in one line why not, with the role's last lines (the browser cannot start, say). */
async function lineOf(role: Role, pattern: RegExp, timeoutMs: number): Promise<string> {
  try {
    return await role.waitForLine(pattern, timeoutMs);
  } catch {
    const last = role.lines.slice(-2).join(' | ');
    throw new Error(`${role.name} ${role.exitCode !== null ? `exited (code ${role.exitCode})` : `did not print it within ${timeoutMs} ms`} before printing ${pattern}${last ? `: ${last}` : ''}`);
  }
}

function resultOf<T>(line: string): T {
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

/** "3 of 3" when all, "1 of 3 (page-2: closed 1006, 1 reconnect)" otherwise. */
function connectionCheck(lab: LabContext, what: string, reports: readonly ParticipantReport[]): void {
  const kept = reports.filter((r) => r.opens === 1 && r.closes.length === 0);
  const broken = reports.filter((r) => !kept.includes(r));
  const detail = broken
    .slice(0, 3)
    .map((r) => `${r.name}: closed ${r.closes.length}x (${r.closes.join(', ')})${r.failedAttempts ? `, ${r.failedAttempts} failed reconnect${r.failedAttempts > 1 ? 's' : ''}` : ''}, on connection #${r.opens}`)
    .join('; ');
  lab.check(
    `every ${what} kept its connection: no close event, no reconnect`,
    broken.length === 0 && reports.length > 0,
    broken.length === 0
      ? `${kept.length} of ${reports.length}: 1 'open' and 0 'close' events each`
      : `${broken.length} of ${reports.length} saw their connection close and reconnected (${detail}${broken.length > 3 ? '; ...' : ''})`,
  );
}

function pngSize(file: string): { width: number; height: number; bytes: number } | null {
  if (!fs.existsSync(file)) return null;
  const png = fs.readFileSync(file);
  if (png.subarray(1, 4).toString() !== 'PNG' || png.subarray(12, 16).toString() !== 'IHDR') return null;
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20), bytes: png.length };
}

export const lab6: LabDefinition = {
  number: 6,
  title: "a WebSocket chat upgraded under its users' eyes",
  source: 'issue 19 (seed 003: a release that kicks every player off; pm2 reload and socket.io reconnect every WebSocket)',
  traceSyscalls: ['sendmsg', 'recvmsg', 'bind', 'listen', 'accept4', 'close'],
  scmRightsRoles: ['server-v1', 'server-v2'],
  settings: {
    // At most 256 connections move before the commit (one group): the whole room switches at once.
    clients: { description: 'scripted ws clients', default: 5, min: 1, max: 200 },
    pages: { description: 'chat pages in headless chromium', default: 2, min: 1, max: 8 },
    restart: { description: 'how v2 replaces v1: fdlab (SIGUSR2) or naive (stop v1, start v2)', default: 'fdlab', choices: ['fdlab', 'naive'] },
  },

  async run(lab) {
    const clientCount = lab.setting('clients');
    const pageCount = lab.setting('pages');
    const naive = lab.setting<string>('restart') === 'naive';
    const shared = lab.runtime.sharedDir;
    const docker = lab.runtime.kind === 'docker';
    const server = (version: string) => [String(PORT), version, `${shared}/lab6-upgrade`, `${shared}/lab6.pid`];
    if (naive) lab.say('--set restart=naive: the "what breaks" variant. Its connection and delivery checks are expected to FAIL: they show what the users see.');

    await lab.step(
      'Start the chat server v1 on 127.0.0.1:7000',
      'An http.Server that serves the chat page at / and a `ws` WebSocketServer on /chat, made upgradable by fdlab/ws:\n' +
        'wsApp(server, wss) tracks every WebSocket\'s frames, and Upgrader.start() serves it (lab/lab6/chat-server.ts).',
    );
    const v1 = await lab.startRole({ name: 'server-v1', script: roleScript('chat-server'), args: server('v1'), traced: true });
    await lineOf(v1, /chat on http:\/\/127\.0\.0\.1:7000\//, 15_000);

    await lab.step(
      `Open ${pageCount} chat page${pageCount > 1 ? 's' : ''} in headless chromium, and start ${clientCount} scripted ws client${clientCount > 1 ? 's' : ''}`,
      'Each page keeps one WebSocket and, like any chat page, reconnects if it closes; it writes down every \'open\' and\n' +
        '\'close\' event and every message. So do the clients (the `ws` package). Chromium runs on this machine' +
        (docker ? ', inside\nthe pod\'s network namespace (nsenter): the lab image does not carry its 348 MB, but it reaches the server on\nthe pod\'s 127.0.0.1 like any role.' : '.'),
    );
    const [browser, clients] = await Promise.all([
      lab.startRole({
        name: 'browser',
        script: roleScript('browser'),
        args: [String(PORT), String(pageCount), String(PAGE_INTERVAL_MS), path.join(lab.capturesDir, SCREENSHOT)],
        host: true,
      }),
      lab.startRole({ name: 'clients', script: roleScript('clients'), args: [String(PORT), String(clientCount), String(clientIntervalMs(clientCount))] }),
    ]);
    await Promise.all([lineOf(browser, /^all \d+ pages connected/, 30_000), lineOf(clients, /^all \d+ clients connected/, 15_000)]);

    await lab.step(
      `Everyone is in the room: the clients say something every ${clientIntervalMs(clientCount)} ms each, the pages type every ${PAGE_INTERVAL_MS} ms`,
      'Every message goes to everyone, numbered by the room (seq). Each participant counts, per sender, what arrived.',
    );
    await Promise.all([clients.signal('SIGUSR2'), browser.signal('SIGUSR2')]);
    await sleep(TALK_MS);

    let v2: Role;
    if (naive) {
      await lab.step(
        'Restart the naive way: SIGTERM to v1, then start v2',
        'v1 closes its listener and every connection and exits; v2 starts fresh and listens. What a plain deploy does.',
        [v1.manualSignalCommand('SIGTERM')],
      );
      await v1.signal('SIGTERM');
      await v1.wait(10_000);
      v2 = await lab.startRole({ name: 'server-v2', script: roleScript('chat-server'), args: server('v2'), traced: true });
      await lineOf(v2, /chat on http:\/\/127\.0\.0\.1:7000\//, 15_000);
      lab.check('v1 stopped before v2 started (a plain restart)', v1.exitCode === 0, `v1 exit ${v1.exitCode}`);
      // Everyone's reconnect logic brings them back (chromium backs off between tries: up to ~1 s here); then talk on.
      const everyone = clientCount + pageCount;
      for (const deadline = Date.now() + 10_000; v2.lines.filter((l) => l.includes('joined: ')).length < everyone && Date.now() < deadline; ) await sleep(50);
      await sleep(TALK_MS);
    } else {
      await lab.step(
        'Send SIGUSR2 to v1, mid-conversation',
        'v1 opens an upgrade socket on the shared volume and waits for v2.',
        [v1.manualSignalCommand('SIGUSR2')],
      );
      await v1.signal('SIGUSR2');
      await lineOf(v1, /waiting for the successor/, 10_000);
      await lab.step(
        `Start v2${docker ? ' in a new container' : ''}: the same chat, with a new badge and a new message format`,
        'v1 sends the listener and every connection (the WebSockets and the pages\' HTTP connections) with SCM_RIGHTS,\n' +
          'each with its state: the bytes of a frame half received, and the session (the name, the room\'s seq). v2\n' +
          'rebuilds a WebSocket on each socket (no new handshake), its connection handler tells the page "v2", and the\n' +
          'room goes on at the next seq.',
        [`strace -f -e trace=sendmsg,recvmsg -p <pid>   (or read ${path.join(path.relative(process.cwd(), lab.capturesDir) || '.', 'server-v1.strace')} afterwards)`],
      );
      v2 = await lab.startRole({
        name: 'server-v2',
        script: roleScript('chat-server'),
        args: server('v2'),
        env: { FDLAB_UPGRADE_SOCKET: `${shared}/lab6-upgrade/upgrade.sock` },
        traced: true,
      });
      // v2 serves from the commit on; v1 stands by for 1 s meanwhile (and exits), while the chat goes on.
      await lineOf(v2, /chat on http:\/\/127\.0\.0\.1:7000\//, 20_000);
      await sleep(TALK_MS);
      const outcome = await lineOf(v1, /handed over; exiting|rolled back:/, 20_000);
      const exit = await v1.wait(10_000);
      lab.check(`v1's ${docker ? 'container' : 'process'} has exited, v2 serves`, outcome.includes('handed over') && exit.exitCode === 0, `exit ${exit.exitCode}; ${outcome.replace(/^.*\] /, '')}`);
    }

    await lab.step(
      'Stop talking; page-1 says a last message; everyone counts what arrived',
      'page-1\'s last message follows every other one on every connection, so a participant that has it has everything.',
    );
    await clients.signal('SIGUSR1');
    await lineOf(clients, /^stopped/, 15_000);
    await browser.signal('SIGUSR1');
    const pages = resultOf<PageReport[]>(await lineOf(browser, /^RESULT /, 30_000));
    const users = resultOf<ParticipantReport[]>(await lineOf(clients, /^RESULT /, 15_000));
    await v2.signal('SIGWINCH');
    const stats = await lineOf(v2, /stats: /, 10_000).catch(() => '');
    for (const role of [clients, browser, v2]) await role.signal('SIGTERM').catch(() => undefined);
    await Promise.all([clients, browser, v2].map((role) => role.wait(10_000)));

    connectionCheck(lab, 'page', pages);
    connectionCheck(lab, 'ws client', users);

    const everyone: ParticipantReport[] = [...users, ...pages];
    const sent = new Map(everyone.map((r) => [r.name, r.sent]));
    const totals = { messages: 0, deliveries: 0, lost: 0, duplicated: 0, outOfOrder: 0 };
    for (const [, n] of sent) totals.messages += n;
    for (const receiver of everyone) {
      for (const [sender, n] of sent) {
        const got = delivery(receiver.from[sender] ?? '', n);
        totals.deliveries += got.expected;
        totals.lost += got.lost;
        totals.duplicated += got.duplicated;
        totals.outOfOrder += got.outOfOrder;
      }
    }
    const unsent = everyone.reduce((s, r) => s + r.unsent, 0);
    lab.check(
      'every message delivered once and in order, to everyone',
      totals.messages > 0 && totals.lost === 0 && totals.duplicated === 0 && totals.outOfOrder === 0 && everyone.every((r) => r.sawEnd),
      `${totals.messages.toLocaleString('en-US')} messages from ${sent.size} participants, ${totals.deliveries.toLocaleString('en-US')} deliveries: ` +
        `${totals.lost.toLocaleString('en-US')} lost, ${totals.duplicated} duplicated, ${totals.outOfOrder} out of order` +
        (unsent ? `; ${unsent} could not even be sent (disconnected)` : ''),
    );
    const seqRuns = [...new Set(everyone.map((r) => r.seqs))];
    lab.check(
      "the room's numbering went on in v2: every participant got seq 1..N, no gap, no restart",
      seqRuns.length === 1 && /^1-\d+$/.test(seqRuns[0]),
      seqRuns.length === 1 ? `seq ${seqRuns[0]} at all ${everyone.length}` : `${seqRuns.length} different: ${seqRuns.slice(0, 2).map((s) => (s.length > 40 ? `${s.slice(0, 40)}...` : s)).join(' | ')}`,
    );
    const shown = (p: PageReport) => `"${p.badge.text}"${p.badge.visible ? '' : ' (NOT visible)'}`;
    const formats = pages.map((p) => p.newFormat);
    lab.check(
      "v2's badge is shown in every page, and its new message format",
      pages.length > 0 && pages.every((p) => p.badge.text === 'server v2' && p.badge.visible && p.newFormat > 0),
      (new Set(pages.map(shown)).size === 1 ? `${pages.length === 1 ? 'page-1' : `all ${pages.length} pages`}: ${shown(pages[0])}` : pages.map((p) => `${p.name}: ${shown(p)}`).join('; ')) +
        `; ${Math.min(...formats)}${Math.max(...formats) > Math.min(...formats) ? `-${Math.max(...formats)}` : ''} messages shown in v2's format${pages.length > 1 ? ' each' : ''}`,
    );
    const shot = path.join(lab.capturesDir, SCREENSHOT);
    const png = pngSize(shot);
    lab.check('a screenshot of page-1 after the upgrade', png !== null && png.width > 0 && png.height > 0,
      png ? `${path.relative(process.cwd(), shot) || shot}: ${png.width}×${png.height} PNG, ${Math.round(png.bytes / 1024)} kB` : `no PNG at ${shot}`);
    lab.record('pages', pages);
    lab.record('clients', users);
    lab.record('server', stats.replace(/^.*stats: /, ''));
  },

  checkCaptures(pairs, lab, roles) {
    // The WebSockets v1 served, by name and the client's port (its log: "joined: page-1 (WebSocket from 127.0.0.1:41234)").
    const joined = [...(roles.get('server-v1')?.lines ?? []).join('\n').matchAll(/joined: (\S+) \(WebSocket from [\d.]+:(\d+)\)/g)].map(([, name, port]) => ({ name, port }));
    const crossed = pairs.filter((p) => p.sent?.role === 'server-v1' && p.received?.role === 'server-v2');
    const byPort = new Map(crossed.filter((p) => p.sent!.fd?.remote).map((p) => [p.sent!.fd!.remote!.split(':').pop(), p]));
    // strace -s 128 prints at most 128 fds of a message; cmsg_len says how many it carried (lab 5 counts the same way).
    const messages = [...new Map(crossed.map((p) => [p.sent!.event.line, p.sent!.event])).values()];
    const fds = messages.reduce((n, e) => n + e.fdCount, 0);
    const unprinted = fds - messages.reduce((n, e) => n + e.fds.length, 0);
    const seen = joined.filter((j) => byPort.has(j.port));
    const shown = seen.slice(0, 3).map((j) => {
      const pair = byPort.get(j.port)!;
      return `${j.name} :${j.port} fd ${pair.sent!.fd!.fd} → ${pair.received!.fd ? `fd ${pair.received!.fd.fd}` : '?'}`;
    });
    lab.check(
      'strace: every WebSocket crossed from v1 to v2 (SCM_RIGHTS)',
      joined.length > 0 && seen.length + unprinted >= joined.length,
      `${seen.length} of ${joined.length} WebSockets seen crossing${unprinted ? ` (and ${unprinted} fds strace did not print: it prints 128 a message)` : ''}; ${fds} fds in all` +
        (shown.length ? `: ${shown.join(', ')}${seen.length > 3 ? ', ...' : ''}` : ''),
    );
  },
};
