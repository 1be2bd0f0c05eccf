// Lab 4 load: opens new connections at a steady rate through a restart and
// counts what happens to each one: answered, refused (nothing listened: RST
// to the SYN), reset (accepted by the kernel, then reset before an answer),
// closed without an answer, or no answer in time. Bounded in count and time.
//
//   node load-client.js <port> <per second> <duration ms> <max connections>
//
// Each connection writes one line and waits for seed 004's echo of it.
import * as net from 'node:net';
import { HOST, whoAnswered } from './common';

const port = Number(process.argv[2]);
const rate = Number(process.argv[3] ?? 200);
const durationMs = Number(process.argv[4] ?? 4000);
const max = Number(process.argv[5] ?? 800);
const ANSWER_TIMEOUT_MS = 3000;

type Outcome = 'answered' | 'refused' | 'reset' | 'closed' | 'timeout' | 'other';

const counts: Record<Outcome, number> = { answered: 0, refused: 0, reset: 0, closed: 0, timeout: 0, other: 0 };
const servedBy: Record<string, number> = {};
const failures: { at: number; outcome: Outcome; code?: string }[] = [];
let opened = 0;
let finished = 0;
let openingDone = false;
const started = performance.now();
const elapsed = () => Math.round(performance.now() - started);

function open(id: number): void {
  opened += 1;
  const socket = net.connect(port, HOST);
  let reply = '';
  let done = false;
  const finish = (outcome: Outcome, code?: string) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    finished += 1;
    counts[outcome] += 1;
    if (outcome !== 'answered') failures.push({ at: elapsed(), outcome, ...(code ? { code } : {}) });
    socket.destroy();
    if (openingDone && finished === opened) report();
  };
  const timer = setTimeout(() => finish('timeout'), ANSWER_TIMEOUT_MS);
  socket.setEncoding('utf8');
  socket.once('connect', () => socket.write(`connection ${id}\n`));
  socket.on('data', (chunk: string) => {
    reply += chunk;
    if (!reply.includes('\n')) return;
    const who = whoAnswered(reply) ?? 'unknown';
    servedBy[who] = (servedBy[who] ?? 0) + 1;
    finish('answered');
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNREFUSED') finish('refused', error.code);
    else if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish('reset', error.code);
    else finish('other', error.code);
  });
  socket.on('close', () => finish('closed'));
}

function line(): string {
  const who = Object.entries(servedBy).map(([name, n]) => `${name} ${n}`).join(', ');
  return `${opened} opened, ${counts.answered} answered (${who || 'none yet'}), ${counts.refused} refused, ${counts.reset} reset, ${counts.closed + counts.timeout + counts.other} other failures`;
}

let reported = false;
function report(): void {
  if (reported) return;
  reported = true;
  const seconds = (performance.now() - started) / 1000;
  console.log(`load: done in ${seconds.toFixed(2)} s: ${line()}`);
  const window = failures.length ? { firstFailureMs: failures[0].at, lastFailureMs: failures[failures.length - 1].at } : {};
  console.log(`RESULT ${JSON.stringify({ port, rate, durationMs, opened, ...counts, servedBy, ...window, seconds: Number(seconds.toFixed(2)) })}`);
  process.exit(0);
}

console.log(`load: started: ${rate} new connections/s to ${HOST}:${port} for ${durationMs} ms (at most ${max})`);
let nextReport = 1000;
const tick = setInterval(() => {
  const now = performance.now() - started;
  const due = Math.min(max, Math.floor((Math.min(now, durationMs) * rate) / 1000));
  while (opened < due) open(opened);
  if (now >= nextReport) {
    console.log(`load: t=${(nextReport / 1000).toFixed(1)} s: ${line()}`);
    nextReport += 1000;
  }
  if (now >= durationMs || opened >= max) {
    clearInterval(tick);
    openingDone = true;
    if (finished === opened) report();
    // Otherwise the last finish() reports; every connection ends within ANSWER_TIMEOUT_MS.
  }
}, 2);
