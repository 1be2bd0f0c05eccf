// Lab 5's challenges, under a client that keeps pings in flight on every
// connection. pause-trap: the learner's old version hands live ping/pong
// connections to a shipped new version on SIGUSR2; every ping must get its
// pong. carry-state: the learner's server is upgradable with the Upgrader and
// upgrades itself on SIGUSR2; the pongs' numbers must go on where they were.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { roleScripts } from '../project';
import { allUntil, Pinger, SessionPinger } from './pingers';
import { firstOf } from './run';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';

/** The shipped roles beside this module (roles/, compiled: dist/src/challenges/roles). */
const roleScript = roleScripts(path.join(__dirname, 'roles'), ['lab5-new-server']);
const NEW_SERVER = roleScript('lab5-new-server');
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
    'Your server is upgradable with fdlab\'s Upgrader and answers each "ping" with "pong <n>", n counting that\n' +
    `connection's pongs. On SIGUSR2 it starts itself again and the Upgrader hands the new version the listener and its\n` +
    `${CONNECTIONS} connections, bytes and all. No pong is lost, yet after the upgrade every connection counts from 1 again.\n` +
    'Make the numbers go on.',
  file: 'server.ts',
  start: 'challenges/lab5/carry-state/server.ts',
  solution: 'challenges/lab5/carry-state/solution.ts',
  hints: [
    'What did the new version get? The socket, with everything the kernel holds for it, and what snapshot() returned. Where does the count live?',
    'The count is a variable of the old process: no fd carries it. What the next version gets of a connection is its socket, its pending bytes and its session.',
    'Put the count in the Session (it travels as JSON), count with session.answered, and in serve() take it from the carried session (check its shape first).',
  ],
  async check(ctx): Promise<CheckOutcome> {
    const stateDir = path.join(ctx.runtime.sharedDir, 'state');
    const pidFile = path.join(stateDir, 'pid');
    const gen1 = await ctx.startRole('server', ctx.script, { args: [stateDir] });
    const serving = await firstOf([gen1.waitForLine(/^gen 1: serving on 127\.0\.0\.1:\d+ as pid \d+/), gen1.wait().then(() => undefined)], 15_000);
    if (!serving) return { passed: false, measured: [], problem: 'your server did not print "gen 1: serving on 127.0.0.1:<port> as pid <pid>" (its log is below)' };
    const port = Number(/:(\d+)/.exec(serving)![1]);
    const gen1Pid = Number(/as pid (\d+)/.exec(serving)![1]);
    const pingers = Array.from({ length: CONNECTIONS }, () => new SessionPinger(port, 2));
    let gen2Pid: number | undefined;
    try {
      if (!(await firstOf([allUntil(pingers, () => PONGS_BEFORE)], 10_000))) {
        return { passed: false, measured: [], problem: `before any SIGUSR2, not every connection got ${PONGS_BEFORE} pongs within 10 s: the server must answer every "ping" line with "pong <n>"` };
      }
      await gen1.signal('SIGUSR2');
      // Not gen1.wait(): gen 2 inherits gen 1's stdout, so the role's pipes stay open while gen 2 runs.
      const exited = await gone(gen1Pid, 10_000);
      gen2Pid = readPid(pidFile);
      if (gen2Pid === gen1Pid) gen2Pid = undefined;
      const before = pingers.map((p) => p.received);
      await firstOf([allUntil(pingers, (p) => before[pingers.indexOf(p)] + PONGS_AFTER)], 3000);
      for (const p of pingers) p.sending = false;
      await firstOf([allUntil(pingers, (p) => p.sent)], 2000); // the pongs still on their way
      const jumped = pingers.map((p, i) => ({ i, p })).filter(({ p }) => p.firstJump);
      const lost = pingers.filter((p) => p.sent > p.received || p.closed).length;
      const measured = [
        `gen 1: ${exited ? 'exited' : 'still running 10 s after SIGUSR2'}; the pid file names ${gen2Pid ? `gen 2, pid ${gen2Pid}` : 'no new version'}`,
        `${pingers.reduce((n, p) => n + p.sent, 0)} pings, ${pingers.reduce((n, p) => n + p.received, 0)} pongs over ${CONNECTIONS} connections; ${lost} lost pongs or closed`,
        ...jumped.slice(0, 5).map(({ i, p }) => `connection ${i}: pong ${p.firstJump!.got} came where pong ${p.firstJump!.expected} was due`),
      ];
      if (!exited || !gen2Pid) {
        return { passed: false, measured, problem: 'the upgrade did not complete: gen 1 must hand everything to gen 2 and exit (the log below says why; an upgrade that rolls back names its ERR_ code)' };
      }
      if (lost > 0) return { passed: false, measured, problem: `${lost} of ${CONNECTIONS} connections lost pongs or were closed: the pending bytes must travel as they do in the starting file` };
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
      // Gen 2 runs detached (its own session, as spawnSuccessor starts it): the runtime's cleanup does not reach it.
      const last = readPid(pidFile) ?? gen2Pid;
      for (const pid of new Set([gen2Pid, last])) if (pid && pid !== gen1Pid) killQuietly(pid);
    }
  },
};

/** The pid the Upgrader's pid file names, if any. */
function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is gone within `ms` (looked at every 50 ms: its role's pipes outlive it). */
async function gone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 50))) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
  }
  return false;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export const lab5Challenges: Challenge[] = [pauseTrap, carryState];
