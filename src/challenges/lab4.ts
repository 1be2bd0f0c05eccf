// Lab 4's challenges: the learner's self-restarting server under a load of
// new connections, SIGHUP in the middle. The load says what each connection
// got; strace (-f: both generations) says who called bind().
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { roleScripts } from '../project';
import { syscallLines, type SyscallLine } from '../strace';
import { formatLineLoad, runLineLoad, type LineLoadResult } from './line-load';
import { firstOf } from './run';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';

/** The shipped roles beside this module (roles/, compiled: dist/src/challenges/roles). */
const roleScript = roleScripts(path.join(__dirname, 'roles'), ['lab4-gen2']);

const RATE = 100;
/** Gen 1 must be gone this long after the load (drain: even with a client that never hangs up; the solution exits 2 s after its SIGTERM, about 1 s before the load ends). */
const GONE_MS = 4000;
const LOAD_MS = 2500;
const RESTART_AT_MS = 800;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true once `pid` is gone, false if it still runs after `ms` (checked every 20 ms). */
async function gone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await delay(20);
  }
  return true;
}

const callText = (c: SyscallLine) => `${c.syscall}(${c.args}) = ${c.errno ? `-1 ${c.errno}` : c.result}`;
const pidOf = (line: string | undefined) => Number(/^pid (\d+)/.exec(line ?? '')?.[1]);

/** A client that gets its answer and then never hangs up, as a phone on a long-lived connection. */
async function idleClient(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write('an idle client\n');
  await new Promise<void>((resolve, reject) => {
    socket.once('data', () => resolve());
    socket.once('close', () => reject(new Error('closed before its answer')));
  });
  return socket;
}

interface RestartOptions {
  /** The successor is the check's (drain): its path is the learner's server's argument. */
  successor?: string;
  /** Open one connection before the load that never hangs up: gen 1 must still exit (a drain deadline). */
  idle?: boolean;
}

async function checkRestart(ctx: ChallengeContext, options: RestartOptions = {}): Promise<CheckOutcome> {
  const server = await ctx.startRole('server', ctx.script, { args: options.successor ? [options.successor] : [], traced: ['bind', 'listen', 'kill'] });
  const serving = await firstOf([server.waitForLine(/\(gen 1\): serving on 127\.0\.0\.1:\d+/), server.wait().then(() => undefined)], 15_000);
  if (!serving) return { passed: false, measured: [], problem: 'your server did not print "pid <pid> (gen 1): serving on 127.0.0.1:<port>" (its log is below)' };
  const port = Number(/:(\d+)/.exec(serving)![1]);
  const gen1 = pidOf(serving);
  const idle = options.idle ? await idleClient(port).catch(() => null) : null;

  const load = runLineLoad(port, RATE, LOAD_MS);
  await delay(RESTART_AT_MS); // when in the load the restart comes, not a wait for something
  await server.signal('SIGHUP');
  const result: LineLoadResult = await load;

  const gen2Line = server.lines.find((l) => /\(gen 2\): serving/.test(l));
  const gen2 = pidOf(gen2Line);
  const gen1Gone = gen2Line ? await gone(gen1, GONE_MS) : false;
  idle?.destroy();
  // Stop whoever serves now, so that strace finishes its capture.
  if (gen2 && alive(gen2)) process.kill(gen2, 'SIGTERM');
  if (alive(gen1)) await server.signal('SIGTERM').catch(() => undefined);
  await firstOf([server.wait()], 10_000);

  const calls = syscallLines(ctx.capture('server'));
  const successorBinds = calls.filter((c) => c.syscall === 'bind' && c.pid !== gen1);
  const successorListen = calls.find((c) => c.syscall === 'listen' && c.pid !== gen1);
  const measured = [
    `load, ${RATE} new connections/s for ${LOAD_MS / 1000} s, SIGHUP at ${RESTART_AT_MS / 1000} s: ${formatLineLoad(result)}`,
    `gen 1 (pid ${gen1}): ${gen2Line ? (gen1Gone ? 'exited after its successor took over' : `still running ${GONE_MS / 1000} s after its successor took over`) : 'no successor ever served'}`,
    ...(options.idle ? [`an idle client (answered, then never hanging up): ${idle ? 'connected from before the SIGHUP' : 'got no answer'}`] : []),
    `strace, the successor: ${[...successorBinds, ...(successorListen ? [successorListen] : [])].map(callText).join(', ') || 'no bind, no listen'}`,
  ];
  const failedBind = successorBinds.find((c) => c.errno);
  if (failedBind) {
    return {
      passed: false,
      measured,
      problem: `your successor (pid ${failedBind.pid}) called bind(127.0.0.1:${port}) and got ${failedBind.errno}: gen 1's listening socket still holds that port, and will while any fd of it is open. So gen 2 never served, and gen 1 answered all ${result.answered}. Does gen 2 need a socket of its own?`,
    };
  }
  if (successorBinds.length > 0) {
    return { passed: false, measured, problem: `your successor bound the port itself (${callText(successorBinds[0])}): a new socket with a new accept queue, not the one gen 1 listened on` };
  }
  if (!gen2Line) return { passed: false, measured, problem: 'no "pid <pid> (gen 2): serving" line: the successor never served (the log below says why)' };
  if (result.cut + result.reset > 0) {
    return {
      passed: false,
      measured,
      problem: `${result.cut + result.reset} connections were closed without their answer: gen 1 had accepted them and read their line, and they ended with gen 1. Nobody else holds those connections`,
    };
  }
  if (result.refused + result.timeout > 0) return { passed: false, measured, problem: `${result.refused} refused and ${result.timeout} timed out: a restart must not leave the port without a listener` };
  const generations = Object.keys(result.answeredBy).map((who) => who.replace(/ pid.*/, ''));
  if (!generations.includes('gen 1') || !generations.includes('gen 2')) return { passed: false, measured, problem: 'both generations must answer: gen 1 before the restart, gen 2 after it' };
  if (!gen1Gone) {
    const why = options.idle ? ': one client never hangs up (a phone, a game), so gen 1 needs a bound on how long it waits for it' : '';
    return { passed: false, measured, problem: `gen 1 must exit once its connections are finished${why}` };
  }
  return { passed: true, measured };
}

const adoptFd3: Challenge = {
  lab: 4,
  id: 'adopt-fd3',
  title: 'restart without EADDRINUSE: serve on the listener inherited as fd 3',
  goal:
    'On SIGHUP your server starts its successor with its listening socket as the successor\'s fd 3. Today the\n' +
    `successor fails, and gen 1 serves on. Make gen 2 take over while ${RATE} new connections a second come in: none\n` +
    'refused, none cut, both generations answering, gen 1 gone at the end. Change only the gen 2 part.',
  file: 'server.ts',
  start: 'challenges/lab4/adopt-fd3/server.ts',
  solution: 'challenges/lab4/adopt-fd3/solution.ts',
  hints: [
    'Read the check\'s strace line: which syscall failed in the successor, and why would the kernel refuse it while gen 1 runs?',
    'bind() looks at sockets, not processes: a listening socket holds the port as long as any fd of it is open. Your successor already has one.',
    'fd 3 is bound and listening. fdlab\'s adoptServer(3, server) (or server.listen({ fd: 3 })) serves on it without bind.',
  ],
  check: (ctx) => checkRestart(ctx),
};

const drain: Challenge = {
  lab: 4,
  id: 'drain',
  title: 'let the old generation finish its connections before it exits',
  goal:
    'Your server (gen 1) restarts on SIGHUP the right way: the check\'s gen 2 serves on the inherited fd 3 and\n' +
    'sends SIGTERM to gen 1. No connection is refused, yet some never get their answer. Make gen 1 leave no\n' +
    `connection unanswered, and still exit within ${GONE_MS / 1000} s: one client never hangs up.`,
  file: 'server.ts',
  start: 'challenges/lab4/drain/server.ts',
  solution: 'challenges/lab4/drain/solution.ts',
  hints: [
    'The lost connections were accepted before the SIGTERM. Which process holds their sockets?',
    'Only the listener is shared with gen 2. An accepted connection is a socket of its own, open only in gen 1: when gen 1 exits, the kernel closes it.',
    'On SIGTERM, stop accepting (server.close() closes gen 1\'s fd of the listener only) and exit in its callback, which runs once every connection has closed.',
    'A client that never hangs up keeps server.close()\'s callback from ever running: exit at a deadline (a timer) too.',
  ],
  check: (ctx) => checkRestart(ctx, { successor: roleScript('lab4-gen2'), idle: true }),
};

export const lab4Challenges: Challenge[] = [adoptFd3, drain];
