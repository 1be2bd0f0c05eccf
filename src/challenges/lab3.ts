// Lab 3's challenges: two copies of the learner's server pass one connection
// back and forth after every request; a client writes every request at once.
import * as net from 'node:net';
import { syscallLines } from '../strace';
import { firstOf } from './run';
import type { Role } from '../runtime/types';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';

const REQUESTS = 200;
const QUIET_MS = 3000;

function frame(text: string): Buffer {
  const body = Buffer.from(text);
  return Buffer.concat([Buffer.from([body.length]), body]);
}

/** Writes every request in one write; resolves with the replies once all came, or none came for QUIET_MS. */
function streamRequests(port: number): Promise<string[]> {
  return new Promise((resolve) => {
    const replies: string[] = [];
    let buffered = Buffer.alloc(0);
    let quiet: NodeJS.Timeout;
    const finish = () => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(replies);
    };
    const watch = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, QUIET_MS); // a deadline for the next reply, not a pause
    };
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(Buffer.concat(Array.from({ length: REQUESTS }, (_, i) => frame(`request ${i}`))));
      watch();
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length > 0 && buffered.length >= 1 + buffered[0]) {
        replies.push(buffered.subarray(1, 1 + buffered[0]).toString());
        buffered = buffered.subarray(1 + buffered[0]);
      }
      if (replies.length >= REQUESTS) finish();
      else watch();
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}

interface Exchange {
  roles: Role[];
  replies: string[];
  measured: string[];
  problem?: string;
}

/** Starts servers a (listening) and b, streams the requests, and judges the replies. */
async function exchange(ctx: ChallengeContext, traced?: string[]): Promise<Exchange> {
  const a = await ctx.startRole('a', ctx.script, { args: ['a', 'b', '--listen'], traced });
  const b = await ctx.startRole('b', ctx.script, { args: ['b', 'a'], traced });
  const listening = await firstOf([a.waitForLine(/listening on 127\.0\.0\.1:\d+/), a.wait().then(() => undefined)], 15_000);
  const ready = await firstOf([b.waitForLine(/waiting for connections/), b.wait().then(() => undefined)], 15_000);
  if (!listening || !ready) {
    return { roles: [a, b], replies: [], measured: [], problem: 'your servers did not start: a must print "a: listening on 127.0.0.1:<port>" and b "b: waiting for connections ..." (their logs are below)' };
  }
  const port = Number(listening.match(/:(\d+)$/)![1]);
  const replies = await streamRequests(port);
  const servers = replies.map((r) => r.match(/^rsp from (\w+)/)?.[1] ?? '?');
  const alternating = servers.every((s, i) => s === (i % 2 === 0 ? 'a' : 'b'));
  const inOrder = replies.every((r, i) => r.endsWith(`: request ${i}`));
  const measured = [`${replies.length} of ${REQUESTS} replies${replies.length ? `, first from ${servers[0]}, last "${replies[replies.length - 1]}"` : ''}`, `alternating a, b, a, ...: ${alternating ? 'yes' : 'no'}; in request order: ${inOrder ? 'yes' : 'no'}`];
  if (replies.length < REQUESTS) {
    return {
      roles: [a, b],
      replies,
      measured,
      problem: `${replies.length} of ${REQUESTS} replies, then none for ${QUIET_MS / 1000} s: the connection moved on, but the requests after reply ${replies.length} never reached the server that holds it`,
    };
  }
  if (!alternating || !inOrder) return { roles: [a, b], replies, measured, problem: 'every reply came, but not alternating between a and b in request order: each server must answer exactly one request, then hand over' };
  return { roles: [a, b], replies, measured };
}

const greedyRead: Challenge = {
  lab: 3,
  id: 'greedy-read',
  title: 'fix the greedy-read server so no request is lost',
  goal:
    'Two copies of your server pass one connection back and forth after every request. The client writes\n' +
    `${REQUESTS} requests in one go and waits for ${REQUESTS} replies, alternating between the servers. Today it gets 1.\n` +
    'Make every request get its reply, in order, without reading less greedily.',
  file: 'server.ts',
  start: 'challenges/lab3/greedy-read/server.ts',
  solution: 'challenges/lab3/greedy-read/solution.ts',
  hints: [
    'After the first reply, where are the other requests? Not in the kernel any more: the first greedy read took them.',
    'Bytes in the kernel travel with the fd. Bytes your process has read travel only if you send them.',
    'Send `leftover` (and detachSocket\'s `unread`) as the message data beside the fd; adoptSocket(fd, { unread: data }) on the other side delivers them first.',
  ],
  async check(ctx): Promise<CheckOutcome> {
    const { measured, problem } = await exchange(ctx);
    return { passed: problem === undefined, measured, problem };
  },
};

/** The largest read on a TCP connection in a capture (read, recvmsg, recvfrom), in bytes. */
function largestTcpRead(capture: string): number {
  const reads = syscallLines(capture).filter((c) => ['read', 'recvmsg', 'recvfrom'].includes(c.syscall) && /^\d+<TCP/.test(c.args));
  return Math.max(0, ...reads.map((c) => c.result ?? 0));
}

const LARGEST_FRAME = 1 + `request ${REQUESTS - 1}`.length;

const exactRead: Challenge = {
  lab: 3,
  id: 'exact-read',
  title: 'lose no request, with nothing but the fd in the handover',
  goal:
    'The same two servers, reading the connection\'s fd themselves, and handing it over with no bytes beside it.\n' +
    `The client writes ${REQUESTS} requests in one go; today it gets 1 reply. Make every request get its reply, in order,\n` +
    'still sending nothing but the fd: every request not yet answered must travel in the kernel.',
  file: 'server.ts',
  start: 'challenges/lab3/exact-read/server.ts',
  solution: 'challenges/lab3/exact-read/solution.ts',
  hints: [
    'What travels with the fd is the socket, and with it the kernel\'s receive queue: every byte no process has read yet.',
    `The check's strace shows how many bytes one read took off the connection. A request is at most ${LARGEST_FRAME} bytes here.`,
    'A frame says its own length in its first byte: read 1 byte, then exactly that many. readUpTo(fd, max) never takes more than max.',
  ],
  async check(ctx): Promise<CheckOutcome> {
    const { roles, measured, problem } = await exchange(ctx, ['read', 'recvmsg', 'recvfrom']);
    // strace's captures are complete once the servers have exited.
    await Promise.all(roles.map((role) => role.signal('SIGTERM').catch(() => undefined)));
    await firstOf([Promise.all(roles.map((role) => role.wait()))], 10_000);
    const largest = Math.max(largestTcpRead(ctx.capture('a')), largestTcpRead(ctx.capture('b')));
    measured.push(`strace: the largest read on the connection took ${largest} bytes (a request is at most ${LARGEST_FRAME})`);
    if (problem) return { passed: false, measured, problem };
    if (largest > LARGEST_FRAME) {
      return {
        passed: false,
        measured,
        problem: `every reply came, but one read took ${largest} bytes off the connection, more than one request: those requests left the kernel and had to ride beside the fd. Here only the fd may travel`,
      };
    }
    return { passed: true, measured };
  },
};

export const lab3Challenges: Challenge[] = [greedyRead, exactRead];
