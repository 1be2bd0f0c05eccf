// Lab 6's chat server, v1 or v2: an http.Server that serves the chat page
// and a `ws` WebSocketServer on it (one room: every message goes to
// everyone, numbered by the room's seq), made upgradable by fdlab/ws and the
// Upgrader. SIGUSR2: hand every WebSocket (and the page's HTTP connection)
// to the next version, which the lab starts. SIGTERM: close everything and
// exit, the way a plain restart does (the lab's "what breaks").
//   node chat-server.js <port> <version> <state dir> <pid file>
// v2 differs where a user sees it: its badge, and messages with the
// server's time. Each connection's session (its name, the room's seq)
// travels with it, so seq goes on in v2 where v1 left it.
import * as http from 'node:http';
import { externalSuccessor, fromEnvironment, removePidFile, Upgrader } from 'fdlab';
import { sessionOf, wsApp } from 'fdlab/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { CHAT_PATH, type ChatOut, type Say } from './chat';
import { chatPage, PAGE_CSP } from './page';

const [port, version, stateDir, pidFile] = process.argv.slice(2);
if (!pidFile || !/^\d+$/.test(port)) {
  console.error('usage: node chat-server.js <port> <version> <state dir> <pid file>   (e.g. 7000 v1 /tmp/fdlab-chat /tmp/fdlab-chat.pid)');
  process.exit(2);
}
/** Everything after v1 speaks the new format: messages carry the server's time. */
const NEW_FORMAT = version !== 'v1';

const clock = () => new Date().toISOString().slice(11, 23);
const log = (line: string) => console.log(`${clock()} [${version} pid ${process.pid}] ${line}`);

/** What travels with each WebSocket to the next version. */
interface ChatSession {
  name: string;
  seq: number;
}

const members = new Map<WebSocket, string>();
/** The room's last message number. */
let seq = 0;
let broadcast = 0;
let carried = 0;
/** Set once serving: a WebSocket that closes while we are not 'serving' (handed over, closing) did not leave the chat. */
let upgrader: Upgrader<unknown> | undefined;

function send(ws: WebSocket, message: ChatOut): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

function say(from: string, said: Say): void {
  seq += 1;
  broadcast += 1;
  const message: ChatOut = { type: 'msg', seq, from, n: said.n, text: said.text, ...(NEW_FORMAT ? { at: clock().slice(0, 8), v: version } : {}) };
  const frame = JSON.stringify(message);
  for (const ws of members.keys()) if (ws.readyState === ws.OPEN) ws.send(frame);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': PAGE_CSP });
    res.end(chatPage(version));
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
});
server.keepAliveTimeout = 0; // the page's HTTP connection stays open: it moves too
const wss = new WebSocketServer({ server, path: CHAT_PATH, perMessageDeflate: false });

wss.on('connection', (ws: WebSocket, req?: http.IncomingMessage) => {
  const session = sessionOf<ChatSession>(ws);
  const name = session?.name ?? (new URL(req?.url ?? '/', 'http://chat').searchParams.get('name') || `guest-${members.size + 1}`);
  members.set(ws, name);
  if (session) {
    // Carried from the previous version: no handshake, no hello; tell it who serves it now.
    carried += 1;
    seq = Math.max(seq, session.seq);
    send(ws, { type: 'version', version });
  } else {
    log(`joined: ${name} (WebSocket from ${req?.socket.remoteAddress}:${req?.socket.remotePort})`);
    send(ws, { type: 'hello', version, name, seq });
  }
  ws.on('message', (data) => {
    let said: Partial<Say>;
    try {
      said = JSON.parse(String(data)) as Partial<Say>;
    } catch {
      return log(`${name}: not JSON, ignored: ${String(data).slice(0, 40)}`);
    }
    if (said.type === 'say' && Number.isInteger(said.n) && typeof said.text === 'string') say(name, said as Say);
    else log(`${name}: not a {type: 'say', n, text} message, ignored`);
  });
  ws.on('close', () => {
    members.delete(ws);
    if (upgrader?.status === 'serving') log(`left: ${name}`);
  });
  ws.on('error', (error) => log(`${name}: ${error.message}`));
});

const stats = () => `${members.size} WebSockets, ${broadcast} messages broadcast here, room seq ${seq}${carried ? `, ${carried} carried from the previous version` : ''}`;

async function main(): Promise<void> {
  const { takeOver } = fromEnvironment();
  upgrader = await Upgrader.start({
    app: wsApp(server, wss, { log, save: (ws): ChatSession => ({ name: members.get(ws as WebSocket) ?? '?', seq }) }),
    port: Number(port),
    host: '127.0.0.1',
    stateDir,
    pidFile,
    version,
    startSuccessor: externalSuccessor, // the lab starts v2 (a new container in Docker)
    takeOver,
    timeoutMs: 10_000,
    standbyMs: 1000,
    signals: true,
    log,
  });
  upgrader.on('upgraded', () => {
    log(`handed over; exiting; ${stats()}`);
    process.exit(0);
  });
  upgrader.on('rolled-back', () => log(`rolled back: serving on; ${stats()}`));
  upgrader.on('taken-back', () => log(`took everything back; ${stats()}`));
  process.on('SIGWINCH', () => log(`stats: ${stats()}`));
  process.once('SIGTERM', () => {
    log(`SIGTERM: closing every connection and exiting; ${stats()}`);
    void upgrader!.close().then(() => {
      removePidFile(pidFile);
      process.exit(0);
    });
  });
  // Last: the lab signals as soon as it reads this line.
  log(`chat on http://127.0.0.1:${port}/ (${version}${takeOver ? `, took over: ${stats()}` : ''})`);
}

main().catch((error: Error & { code?: string }) => {
  log(`cannot serve: ${error.code ? `${error.code}: ` : ''}${error.message}`);
  process.exit(1);
});
