// Headless chromium driven over the Chrome DevTools Protocol on a pipe
// (--remote-debugging-pipe: commands on its fd 3, answers and events on its
// fd 4, each message JSON ending in a NUL byte), as Playwright and Puppeteer
// drive it. A pipe, not a port: the browser listens on nothing, and it
// exits when the pipe closes, so it cannot outlive its driver.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';

/** Where chromium is: $CHROMIUM (if executable), else the first of these on PATH (Debian's package installs /usr/bin/chromium). */
export function findChromium(): string | null {
  if (process.env.CHROMIUM) {
    try {
      fs.accessSync(process.env.CHROMIUM, fs.constants.X_OK);
      return process.env.CHROMIUM;
    } catch {
      return null;
    }
  }
  return ['chromium', 'chromium-browser', 'google-chrome'].find((name) => spawnSync('which', [name]).status === 0) ?? null;
}

/** Flags for a quiet headless browser that runs as root in a container or namespace and calls nowhere. */
export function chromiumFlags(profileDir: string, extra: readonly string[] = []): string[] {
  return [
    ...extra,
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--remote-debugging-pipe', `--user-data-dir=${profileDir}`,
    '--no-first-run', '--no-default-browser-check', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-default-apps', '--disable-breakpad', '--disable-crash-reporter', '--disable-domain-reliability', '--no-pings', '--mute-audio',
    '--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate',
    'about:blank',
  ];
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered = '';
  private readonly listeners: Array<(method: string, params: Record<string, unknown>, sessionId?: string) => void> = [];
  /** The browser's last lines on stderr (dbus noise and all), for an error message. */
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;

  private constructor(readonly process: ChildProcess) {
    const output = process.stdio[4] as Readable;
    output.on('data', (chunk: Buffer) => this.read(chunk));
    process.stderr!.on('data', (chunk: Buffer) => {
      this.stderr.push(...chunk.toString().split('\n').filter(Boolean));
      this.stderr.splice(0, Math.max(0, this.stderr.length - 20));
    });
    this.exited = new Promise((resolve) => process.once('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`chromium exited (code ${code}): ${this.stderr.slice(-3).join(' | ')}`));
      this.pending.clear();
      resolve(code);
    }));
  }

  /** `extra`: more flags (a test's --proxy-server that counts what the page asks the network for). */
  static async launch(executable: string, profileDir: string, extra: readonly string[] = []): Promise<Browser> {
    const child = spawn(executable, chromiumFlags(profileDir, extra), { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const browser = new Browser(child);
    await browser.send('Browser.getVersion'); // answers once the browser is up
    return browser;
  }

  private read(chunk: Buffer): void {
    this.buffered += chunk.toString();
    for (let end = this.buffered.indexOf('\0'); end >= 0; end = this.buffered.indexOf('\0')) {
      const message = JSON.parse(this.buffered.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
      this.buffered = this.buffered.slice(end + 1);
      if (message.id !== undefined) {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(message.error.message));
        else waiter?.resolve(message.result ?? {});
      } else if (message.method) {
        for (const listener of this.listeners) listener(message.method, message.params ?? {}, message.sessionId);
      }
    }
  }

  /** A command to the browser, or (sessionId) to one page. */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as Pending['resolve'], reject });
      (this.process.stdio[3] as Writable).write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  /** Calls `listener` for every event; returns what stops it. */
  on(listener: (method: string, params: Record<string, unknown>, sessionId?: string) => void): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }

  /** A new tab at `url`, attached: resolves once its load event fired. */
  async open(url: string, size: { width: number; height: number }): Promise<Page> {
    const { targetId } = await this.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(this, sessionId);
    await page.send('Page.enable');
    await page.send('Emulation.setDeviceMetricsOverride', { width: size.width, height: size.height, deviceScaleFactor: 1, mobile: false });
    let stop = () => {};
    const loaded = new Promise<void>((resolve) => (stop = this.on((method, _params, session) => method === 'Page.loadEventFired' && session === sessionId && resolve())));
    await page.send('Page.navigate', { url });
    await loaded;
    stop();
    return page;
  }

  /** Closes the browser; kills it if it does not go within 3 s. */
  async close(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    await Promise.race([this.send('Browser.close').catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    if (!gone) this.process.kill('SIGKILL');
  }
}

export class Page {
  constructor(private readonly browser: Browser, readonly sessionId: string) {}

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.browser.send<T>(method, params, this.sessionId);
  }

  /** The value of a JavaScript expression in the page (JSON-able); a thrown error rejects. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send<{ result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
      'Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (exceptionDetails) throw new Error(`in the page: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value;
  }

  /** A PNG of the page as it is shown (brought to the front first: a background tab draws no frame to capture). */
  async screenshot(): Promise<Buffer> {
    await this.send('Page.bringToFront');
    const { data } = await this.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
    return Buffer.from(data, 'base64');
  }
}
