// Lab 6's scripted chat users: N `ws` clients (client-1 ... client-N), each
// saying something every <interval> ms once the lab says go (SIGUSR2), and, like any chat client,
// reconnecting when its connection closes (each 'open' and 'close' is
// counted: the lab wants 1 and 0). Each writes down every message it gets.
//   node clients.js <port> <count> <interval ms>
// SIGUSR2: start talking. SIGUSR1: stop talking, wait for our own last messages to come back, print
// "stopped", then wait for page-1's last message (it follows everything)
// and print RESULT <json>: one ParticipantReport per client. SIGTERM: exit.
import WebSocket from 'ws';
import { CHAT_PATH, END_FROM, END_TEXT, summarize, type ChatOut, type ParticipantReport, type Say } from './chat';

const port = Number(process.argv[2] ?? 7000);
const count = Number(process.argv[3] ?? 5);
const intervalMs = Number(process.argv[4] ?? 100);
const RECONNECT_MS = 300;
const WAIT_MS = 10_000;

class Client {
  ws!: WebSocket;
  opens = 0;
  closes: number[] = [];
  failedAttempts = 0;
  sent = 0;
  unsent = 0;
  /** n of our last message handed to the WebSocket, and of our last message that came back. */
  lastSent = 0;
  lastEcho = 0;
  sawEnd = false;
  version = '?';
  received: Array<[number, string, number]> = [];
  stopped = false;

  constructor(readonly name: string) {}

  /** Resolves at the first 'open'. */
  connect(): Promise<void> {
    return new Promise((resolve) => {
      let opened = false;
      const ws = (this.ws = new WebSocket(`ws://127.0.0.1:${port}${CHAT_PATH}?name=${this.name}`, { perMessageDeflate: false }));
      ws.on('open', () => {
        opened = true;
        this.opens += 1;
        if (this.opens > 1) console.log(`${this.name}: reconnected (connection #${this.opens})`);
        resolve();
      });
      ws.on('message', (data) => this.receive(JSON.parse(String(data)) as ChatOut));
      // An 'error' (refused while the server restarts) is followed by 'close'.
      ws.on('error', () => undefined);
      ws.on('close', (code) => {
        if (opened) {
          this.closes.push(code);
          console.log(`${this.name}: connection closed (code ${code}); reconnecting`);
        } else if (this.opens > 0) this.failedAttempts += 1;
        if (!this.stopped || !this.sawEnd) setTimeout(() => void this.connect().then(resolve), RECONNECT_MS);
      });
    });
  }

  receive(message: ChatOut): void {
    if (message.type === 'hello' || message.type === 'version') this.version = message.version;
    if (message.type !== 'msg') return;
    this.received.push([message.seq, message.from, message.n]);
    if (message.from === this.name) this.lastEcho = message.n;
    if (message.from === END_FROM && message.text === END_TEXT) this.sawEnd = true;
  }

  say(): void {
    this.sent += 1;
    const said: Say = { type: 'say', n: this.sent, text: `hello from ${this.name} #${this.sent}` };
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(said));
      this.lastSent = this.sent;
    } else this.unsent += 1;
  }

  report(): ParticipantReport {
    const { name, opens, closes, failedAttempts, sent, unsent, version, sawEnd } = this;
    return { name, opens, closes, failedAttempts, sent, unsent, version, sawEnd, ...summarize(this.received) };
  }
}

const until = async (condition: () => boolean, ms: number) => {
  for (const deadline = Date.now() + ms; !condition() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
};

async function main(): Promise<void> {
  const clients = Array.from({ length: count }, (_, i) => new Client(`client-${i + 1}`));
  await Promise.all(clients.map((c) => c.connect()));
  // SIGUSR2, once everyone is in the room: talk. Staggered, so the room hears one client at a time rather than bursts.
  const timers: NodeJS.Timeout[] = [];
  let progress: NodeJS.Timeout | undefined;
  process.once('SIGUSR2', () => {
    clients.forEach((client, i) => timers.push(setTimeout(() => timers.push(setInterval(() => client.say(), intervalMs)), (intervalMs * i) / count)));
    progress = setInterval(() => {
      const sum = (f: (c: Client) => number) => clients.reduce((s, c) => s + f(c), 0);
      console.log(`said ${sum((c) => c.sent)}, received ${sum((c) => c.received.length)}, closes ${sum((c) => c.closes.length)}, versions ${[...new Set(clients.map((c) => c.version))].join('/')}`);
    }, 1000);
  });

  process.once('SIGUSR1', async () => {
    timers.forEach((t) => clearInterval(t)); // clearInterval clears timeouts too
    clearInterval(progress);
    clients.forEach((c) => (c.stopped = true));
    // Our last message back means the server has broadcast everything we sent before it (one stream, in order).
    await until(() => clients.every((c) => c.lastEcho >= c.lastSent), WAIT_MS);
    console.log(`stopped: said ${clients.reduce((s, c) => s + c.sent, 0)}; waiting for ${END_FROM}'s last message`);
    await until(() => clients.every((c) => c.sawEnd), WAIT_MS);
    console.log(`RESULT ${JSON.stringify(clients.map((c) => c.report()))}`);
  });
  process.once('SIGTERM', () => {
    clients.forEach((c) => c.ws.terminate());
    process.exit(0);
  });
  // Last: the lab signals as soon as it reads this line (a SIGUSR2 before our handler would kill us).
  console.log(`all ${count} clients connected to ws://127.0.0.1:${port}${CHAT_PATH}; at SIGUSR2 each says something every ${intervalMs} ms`);
}

void main();
