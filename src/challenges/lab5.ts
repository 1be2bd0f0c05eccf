// Lab 5's challenge: the learner's old version hands live ping/pong
// connections to a shipped new version on SIGUSR2, under a client that keeps
// pings in flight on every connection; every ping must get its pong.
import * as net from 'node:net';
import * as path from 'node:path';
import { firstOf } from './run';
import type { Challenge, CheckOutcome } from './types';
import { PROJECT_ROOT } from './workspace';

const NEW_SERVER = path.join(PROJECT_ROOT, 'dist', 'src', 'challenges', 'roles', 'lab5-new-server.js');
const CONNECTIONS = 20;
const IN_FLIGHT = 4;
const PONGS_BEFORE = 20;
const PONGS_AFTER = 20;

class Pinger {
  sent = 0;
  received = 0;
  closed = false;
  sending = true;
  private waiters: { pongs: number; resolve: () => void }[] = [];
  readonly socket: net.Socket;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1', () => {
      for (let i = 0; i < IN_FLIGHT; i++) this.ping();
    });
    this.socket.setNoDelay(true);
    let bytes = 0;
    this.socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const pongs = Math.floor(bytes / 4) - this.received;
      this.received += pongs;
      for (let i = 0; i < pongs && this.sending; i++) this.ping();
      this.waiters = this.waiters.filter((w) => (this.received >= w.pongs ? (w.resolve(), false) : true));
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }

  private ping(): void {
    this.socket.write('ping');
    this.sent += 1;
  }

  /** Resolves once `pongs` pongs in all have come. */
  until(pongs: number): Promise<void> {
    return this.received >= pongs ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ pongs, resolve }));
  }
}

const allUntil = (pingers: Pinger[], pongs: (p: Pinger) => number) => Promise.all(pingers.map((p) => p.until(pongs(p)))).then(() => true);

const pauseTrap: Challenge = {
  lab: 5,
  id: 'pause-trap',
  title: 'hand connections over without losing a ping (the pause() trap)',
  goal:
    `On SIGUSR2 your old server hands its ${CONNECTIONS} ping/pong connections to a new version and exits. It stops\n` +
    'reading first, with socket.pause(), then sends a dup of each fd. Run the check and see which pongs are lost; then\n' +
    'make the handover lose none. The new version (src/challenges/roles/lab5-new-server.ts) stays as it is.',
  file: 'old-server.ts',
  start: 'challenges/lab5/pause-trap/old-server.ts',
  solution: 'challenges/lab5/pause-trap/solution.ts',
  hints: [
    'The lost pings were sent by the client and reached the old server after pause(). Where did they go?',
    'socket.pause() only stops Node from emitting \'data\'. libuv goes on reading the kernel buffer into Node\'s own buffer, which dies with the process.',
    'fdlab\'s detachSocket(socket) stops the reads at the handle and returns { fd, unread }: send `unread` (after your `partial`) as the data beside the fd, and drop the pause() and the dup.',
  ],
  async check(ctx): Promise<CheckOutcome> {
    const fresh = await ctx.startRole('new', NEW_SERVER);
    await fresh.waitForLine('waiting for the old version', 15_000);
    const old = await ctx.startRole('old', ctx.script);
    const serving = await firstOf([old.waitForLine(/serving on 127\.0\.0\.1:\d+/), old.wait().then(() => undefined)], 15_000);
    if (!serving) return { passed: false, measured: [], problem: 'your old server did not print "old: serving on 127.0.0.1:<port> ..." (its log is below)' };
    const pingers = Array.from({ length: CONNECTIONS }, () => new Pinger(Number(serving.match(/:(\d+)/)![1])));
    try {
      if (!(await firstOf([allUntil(pingers, () => PONGS_BEFORE)], 10_000))) {
        return { passed: false, measured: [], problem: `before any SIGUSR2, not every connection got ${PONGS_BEFORE} pongs within 10 s: the old server must answer every "ping" with "pong"` };
      }
      await old.signal('SIGUSR2');
      const exited = await firstOf([old.wait()], 10_000);
      const adopted = await firstOf([fresh.waitForLine(/adopted \d+ connections/)], 5000);
      const before = pingers.map((p) => p.received);
      const progressed = await firstOf([allUntil(pingers, (p) => before[pingers.indexOf(p)] + PONGS_AFTER)], 3000);
      for (const p of pingers) p.sending = false;
      await firstOf([allUntil(pingers, (p) => p.sent)], 2000); // the pongs still on their way
      const lost = pingers.map((p, i) => ({ i, lost: p.sent - p.received, p })).filter((c) => c.lost > 0 || c.p.closed);
      const pings = pingers.reduce((n, p) => n + p.sent, 0);
      const pongs = pingers.reduce((n, p) => n + p.received, 0);
      const measured = [
        `old version: ${exited ? `exited (code ${exited.exitCode})` : 'still running 10 s after SIGUSR2'}; new version: ${adopted ?? 'adopted nothing'}`,
        `${pings} pings, ${pongs} pongs over ${CONNECTIONS} connections (${IN_FLIGHT} pings in flight on each)`,
        ...lost.slice(0, 8).map((c) => `connection ${c.i}: sent ${c.p.sent}, got ${c.p.received} pongs${c.p.closed ? ', closed' : ''}: ${c.lost} lost`),
      ];
      if (!exited || exited.exitCode !== 0) return { passed: false, measured, problem: 'the old server must exit (code 0) once it has handed every connection over' };
      if (lost.length > 0) {
        return {
          passed: false,
          measured,
          problem: `${lost.length} of ${CONNECTIONS} connections lost pongs: their pings reached the old server during the handover and never reached the new one${progressed ? '' : ' (some connections stalled: every ping they had in flight was lost)'}`,
        };
      }
      if (!adopted) return { passed: false, measured, problem: 'the new version adopted no connections: send each fd on handover.sock, then "done"' };
      return { passed: true, measured };
    } finally {
      for (const p of pingers) p.socket.destroy();
    }
  },
};

export const lab5Challenges: Challenge[] = [pauseTrap];
