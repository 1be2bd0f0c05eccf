// Lab 6's browser: headless chromium (Debian's package) with <pages> chat
// pages open (page-1 ... page-P), typing a message every <interval> ms each
// through the page's own form. It runs on this machine, not in the lab's
// image (chromium and its libraries are 348 MB more than the image's 133),
// but in the lab's network: the pod's, in Docker mode (lab.ts says how).
//   node browser.js <port> <pages> <interval ms> <screenshot.png>
// SIGUSR2: start typing. SIGUSR1: stop typing, wait for each page's own messages to come back,
// let page-1 say the last message, wait until every page has it, save a
// screenshot of page-1, print RESULT <json>: a ParticipantReport per page
// plus what its badge shows. SIGTERM: close the browser, exit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Browser, findChromium, type Page } from './cdp-pipe';
import { END_TEXT, summarize, type ParticipantReport } from './chat';

const port = Number(process.argv[2] ?? 7000);
const count = Number(process.argv[3] ?? 2);
const intervalMs = Number(process.argv[4] ?? 300);
const screenshotPath = process.argv[5];
const WAIT_MS = 10_000;
const SIZE = { width: 900, height: 640 };

/** What the page holds in window.chat (page.ts). */
interface PageChat {
  name: string;
  opens: number;
  closes: number[];
  failedAttempts: number;
  received: Array<[number, string, number]>;
  sent: number;
  unsent: number;
  /** n of our last message handed to the WebSocket, and of our last message that came back. */
  lastSent: number;
  lastEcho: number;
  sawEnd: boolean;
  version: string;
  newFormat: number;
}

export interface Badge {
  text: string;
  /** Rendered, with a size, inside the window. */
  visible: boolean;
}

/** A page's report: what it wrote down, its badge, how many messages it showed in v2's format, and its banner (the last connection event). */
export type PageReport = ParticipantReport & { badge: Badge; newFormat: number; banner: string };

const BADGE = `(() => {
  const badge = document.getElementById('badge');
  const box = badge.getBoundingClientRect();
  const style = getComputedStyle(badge);
  return { text: badge.textContent, visible: box.width > 0 && box.height > 0 && box.top >= 0 && box.bottom <= innerHeight && style.visibility === 'visible' && style.display !== 'none' };
})()`;

const until = async (condition: () => Promise<boolean>, ms: number) => {
  for (const deadline = Date.now() + ms; !(await condition()) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
};

async function main(): Promise<void> {
  const executable = findChromium();
  if (!executable) {
    const where = process.env.CHROMIUM ? `CHROMIUM=${process.env.CHROMIUM} is not an executable file` : 'no chromium on PATH';
    console.log(`cannot start the browser: ${where} (Debian: apt-get install -y chromium; or set CHROMIUM=/path/to/chromium)`);
    process.exit(3);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-lab6-chromium-'));
  const browser = await Browser.launch(executable, profile);
  let closing = false;
  const finish = async (code: number) => {
    closing = true;
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(code);
  };
  process.once('SIGTERM', () => void finish(0));
  void browser.exited.then((code) => {
    if (closing) return;
    console.log(`chromium exited (code ${code}): ${browser.stderr.slice(-3).join(' | ')}`);
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(4);
  });
  const { product } = await browser.send<{ product: string }>('Browser.getVersion');

  const pages: Page[] = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const page = await browser.open(`http://127.0.0.1:${port}/?name=page-${i + 1}`, SIZE);
    await until(() => page.evaluate<boolean>('window.chat?.opens === 1'), WAIT_MS);
    return page;
  }));
  const badges = await Promise.all(pages.map((p) => p.evaluate<Badge>(BADGE)));

  // Typing starts at SIGUSR2 (once the clients are in the room too), a page at a time in turn:
  // chat.type() goes through the page's form, as a person's Enter would.
  let typing = false;
  let typer: Promise<void> = Promise.resolve();
  process.once('SIGUSR2', () => {
    typing = true;
    typer = (async () => {
      for (let turn = 0; typing; turn++) {
        await pages[turn % pages.length].evaluate(`chat.type('hello from ' + chat.name + ' #' + (chat.sent + 1))`);
        await new Promise((r) => setTimeout(r, intervalMs / pages.length));
      }
    })();
  });
  const progress = setInterval(() => {
    void pages[0].evaluate<string>("`page-1: ${chat.received.length} messages, badge ${chat.version}, opened ${chat.opens}x, closed ${chat.closes.length}x`").then(
      (line) => console.log(line), () => undefined);
  }, 1000);

  process.once('SIGUSR1', async () => {
    typing = false;
    clearInterval(progress);
    await typer;
    // Only the counters: the whole chat object (every message) is too much to fetch 20 times a second.
    const chats = () => Promise.all(pages.map((p) => p.evaluate<Pick<PageChat, 'lastSent' | 'lastEcho' | 'sawEnd'>>('({ lastSent: chat.lastSent, lastEcho: chat.lastEcho, sawEnd: chat.sawEnd })')));
    // Our last message back means the server has broadcast everything we sent before it (one stream, in order).
    await until(async () => (await chats()).every((c) => c.lastEcho >= c.lastSent), WAIT_MS);
    // Everyone has stopped (the clients first, then us): page-1's last message follows everything.
    await pages[0].evaluate(`chat.type(${JSON.stringify(END_TEXT)})`);
    await until(async () => (await chats()).every((c) => c.sawEnd), WAIT_MS);
    if (screenshotPath) fs.writeFileSync(screenshotPath, await pages[0].screenshot());
    const reports: PageReport[] = await Promise.all(pages.map(async (page) => {
      const chat = await page.evaluate<PageChat>('chat');
      const { name, opens, closes, failedAttempts, sent, unsent, version, sawEnd, newFormat } = chat;
      return { name, opens, closes, failedAttempts, sent, unsent, version, sawEnd, ...summarize(chat.received), badge: await page.evaluate<Badge>(BADGE), newFormat, banner: await page.evaluate<string>("document.getElementById('banner').textContent") };
    }));
    console.log(`screenshot of page-1: ${screenshotPath ?? '(none asked for)'}`);
    console.log(`RESULT ${JSON.stringify(reports)}`);
  });

  // Last: the lab signals as soon as it reads this line, so every handler must be in place before it
  // (a SIGUSR2 that came first would kill us: its default action).
  console.log(`all ${count} pages connected in ${product} (pid ${browser.process.pid}): badge "${badges[0].text}"`);
}

main().catch((error: Error) => {
  console.log(`browser: ${error.message}`);
  process.exit(1);
});
