// Lab 5's challenges: the learner's old version hands live ping/pong
// connections to a shipped new version on SIGUSR2, under a client that keeps
// pings in flight on every connection; every ping must get its pong, and in
// carry-state the pongs' numbers must go on where they were.
import * as path from 'node:path';
import { roleScripts } from '../project';
import { allUntil, Pinger, SessionPinger } from './pingers';
import { firstOf } from './run';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';

/** The shipped roles beside this module (roles/, compiled: dist/src/challenges/roles). */
const roleScript = roleScripts(path.join(__dirname, 'roles'), ['lab5-new-server', 'lab5-session-server']);
const NEW_SERVER = roleScript('lab5-new-server');
const SESSION_SERVER = roleScript('lab5-session-server');
const CONNECTIONS = 20;
const IN_FLIGHT = 4;
const PONGS_BEFORE = 20;
const PONGS_AFTER = 20;

/** Starts the shipped new version, then the learner's old one; the old one's port, or a problem. */
async function startOldAndNew(ctx: ChallengeContext, newServer: string) {
  const fresh = await ctx.startRole('new', newServer);
  await fresh.waitForLine('waiting for the old version', 15_000);
  const old = await ctx.startRole('old', ctx.script);
  const serving = await firstOf([old.waitForLine(/serving on 127\.0\.0\.1:\d+/), old.wait().then(() => undefined)], 15_000);
  return { fresh, old, port: serving ? Number(/:(\d+)/.exec(serving)![1]) : undefined };
}

const NOT_SERVING = 'your old server did not print "old: serving on 127.0.0.1:<port> ..." (its log is below)';

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
    const { fresh, old, port } = await startOldAndNew(ctx, NEW_SERVER);
    if (port === undefined) return { passed: false, measured: [], problem: NOT_SERVING };
    const pingers = Array.from({ length: CONNECTIONS }, () => new Pinger(port, IN_FLIGHT));
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

const carryState: Challenge = {
  lab: 5,
  id: 'carry-state',
  title: 'carry each connection\'s session, not only its fd',
  goal:
    `Your old server answers each "ping" with "pong <n>", n counting that connection's pongs. On SIGUSR2 it hands its\n` +
    `${CONNECTIONS} connections to a new version, bytes and all, and exits. No pong is lost, yet after the upgrade every\n` +
    'connection counts from 1 again. Make the numbers go on. The new version (src/challenges/roles/lab5-session-server.ts)\n' +
    'stays as it is; the comment at the top of your file says what it accepts.',
  file: 'old-server.ts',
  start: 'challenges/lab5/carry-state/old-server.ts',
  solution: 'challenges/lab5/carry-state/solution.ts',
  hints: [
    'What did SCM_RIGHTS give the new version? The socket, with everything the kernel holds for it. Where does the count live?',
    'The count is a variable in the old process: no fd carries it. It must travel as data, in the same message as its fd.',
    'Start each message\'s data with a line of JSON, {"answered": n}, then the bytes you already send.',
  ],
  async check(ctx): Promise<CheckOutcome> {
    const { fresh, old, port } = await startOldAndNew(ctx, SESSION_SERVER);
    if (port === undefined) return { passed: false, measured: [], problem: NOT_SERVING };
    const pingers = Array.from({ length: CONNECTIONS }, () => new SessionPinger(port, 2));
    try {
      if (!(await firstOf([allUntil(pingers, () => PONGS_BEFORE)], 10_000))) {
        return { passed: false, measured: [], problem: `before any SIGUSR2, not every connection got ${PONGS_BEFORE} pongs within 10 s: the old server must answer every "ping" line with "pong <n>"` };
      }
      await old.signal('SIGUSR2');
      const exited = await firstOf([old.wait()], 10_000);
      const adopted = await firstOf([fresh.waitForLine(/adopted \d+ connections/)], 5000);
      const before = pingers.map((p) => p.received);
      await firstOf([allUntil(pingers, (p) => before[pingers.indexOf(p)] + PONGS_AFTER)], 3000);
      for (const p of pingers) p.sending = false;
      await firstOf([allUntil(pingers, (p) => p.sent)], 2000); // the pongs still on their way
      const jumped = pingers.map((p, i) => ({ i, p })).filter(({ p }) => p.firstJump);
      const lost = pingers.filter((p) => p.sent > p.received || p.closed).length;
      const measured = [
        `old version: ${exited ? `exited (code ${exited.exitCode})` : 'still running 10 s after SIGUSR2'}; new version: ${adopted ?? 'adopted nothing'}`,
        `${pingers.reduce((n, p) => n + p.sent, 0)} pings, ${pingers.reduce((n, p) => n + p.received, 0)} pongs over ${CONNECTIONS} connections; ${lost} lost pongs or closed`,
        ...jumped.slice(0, 5).map(({ i, p }) => `connection ${i}: pong ${p.firstJump!.got} came where pong ${p.firstJump!.expected} was due`),
      ];
      if (!exited || exited.exitCode !== 0) return { passed: false, measured, problem: 'the old server must exit (code 0) once it has handed every connection over' };
      if (!adopted) return { passed: false, measured, problem: 'the new version adopted no connections: send each fd on handover.sock, then "done"' };
      if (lost > 0) return { passed: false, measured, problem: `${lost} of ${CONNECTIONS} connections lost pongs or were closed: the bytes must travel as they do in the starting file` };
      if (jumped.length > 0) {
        return {
          passed: false,
          measured,
          problem: `${jumped.length} of ${CONNECTIONS} connections saw their pong numbers start over after the upgrade: the new version got each connection, but not what your old server knew about it`,
        };
      }
      return { passed: true, measured };
    } finally {
      for (const p of pingers) p.socket.destroy();
    }
  },
};

export const lab5Challenges: Challenge[] = [pauseTrap, carryState];
