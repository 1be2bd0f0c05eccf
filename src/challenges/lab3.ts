// Lab 3's challenge: two copies of the learner's server pass one connection
// back and forth after every request; a client writes every request at once.
import * as net from 'node:net';
import { firstOf } from './run';
import type { Challenge, CheckOutcome } from './types';

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
    const a = await ctx.startRole('a', ctx.script, { args: ['a', 'b', '--listen'] });
    const b = await ctx.startRole('b', ctx.script, { args: ['b', 'a'] });
    const listening = await firstOf([a.waitForLine(/listening on 127\.0\.0\.1:\d+/), a.wait().then(() => undefined)], 15_000);
    const ready = await firstOf([b.waitForLine(/waiting for connections/), b.wait().then(() => undefined)], 15_000);
    if (!listening || !ready) {
      return { passed: false, measured: [], problem: 'your servers did not start: a must print "a: listening on 127.0.0.1:<port>" and b "b: waiting for connections ..." (their logs are below)' };
    }
    const port = Number(listening.match(/:(\d+)$/)![1]);
    const replies = await streamRequests(port);
    const servers = replies.map((r) => r.match(/^rsp from (\w+)/)?.[1] ?? '?');
    const alternating = servers.every((s, i) => s === (i % 2 === 0 ? 'a' : 'b'));
    const inOrder = replies.every((r, i) => r.endsWith(`: request ${i}`));
    const measured = [`${replies.length} of ${REQUESTS} replies${replies.length ? `, first from ${servers[0]}, last "${replies[replies.length - 1]}"` : ''}`, `alternating a, b, a, ...: ${alternating ? 'yes' : 'no'}; in request order: ${inOrder ? 'yes' : 'no'}`];
    if (replies.length < REQUESTS) {
      return {
        passed: false,
        measured,
        problem: `${replies.length} of ${REQUESTS} replies, then none for ${QUIET_MS / 1000} s: the connection moved on, but the requests after reply ${replies.length} never reached the server that holds it`,
      };
    }
    if (!alternating || !inOrder) return { passed: false, measured, problem: 'every reply came, but not alternating between a and b in request order: each server must answer exactly one request, then hand over' };
    return { passed: true, measured };
  },
};

export const lab3Challenges: Challenge[] = [greedyRead];
