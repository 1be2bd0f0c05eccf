// Lab 2's challenges: one TCP connection, two processes holding it. The
// check's own TCP peer says what really arrived and when the end of stream
// (FIN) came; strace says who called shutdown().
import * as path from 'node:path';
import { roleScripts } from '../project';
import { syscallLines } from '../strace';
import { firstOf } from './run';
import { TcpPeer, type PeerConnection } from './tcp-peer';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';

/** The shipped roles beside this module (roles/, compiled: dist/src/challenges/roles). */
const roleScript = roleScripts(path.join(__dirname, 'roles'), ['lab2-receiver', 'lab2-sender']);
const RECEIVER_LINES = 3;
const FIN_WAIT_MS = 3000;

/** "shutdown(17<TCP:[...]>, SHUT_WR) = 0" lines of a capture, or "no shutdown()". */
function shutdowns(capture: string): string {
  const calls = syscallLines(capture, 'shutdown').map((c) => `shutdown(${c.args}) = ${c.errno ? `-1 ${c.errno}` : c.result}`);
  return calls.length ? calls.join('; ') : 'no shutdown()';
}

const fromReceiver = (c: PeerConnection) => c.lines.filter((l) => l.startsWith('from the receiver')).length;

function peerLine(peer: TcpPeer): string {
  if (peer.connections.length === 0) return 'peer: no connection came';
  return `peer: ${peer.connections
    .map((c) => `connection from ${c.remote}: ${c.lines.length} line(s) (${fromReceiver(c)} of ${RECEIVER_LINES} from the receiver), end of stream ${c.linesAtEnd === undefined ? 'not seen' : `after line ${c.linesAtEnd}`}`)
    .join('; ')}`;
}

async function withPeer(run: (peer: TcpPeer) => Promise<CheckOutcome>): Promise<CheckOutcome> {
  const peer = await TcpPeer.start();
  try {
    return await run(peer);
  } finally {
    peer.close();
  }
}

async function waitForReceiver(ctx: ChallengeContext, script: string, traced?: string[]) {
  const receiver = await ctx.startRole('receiver', script, { traced });
  const ready = await firstOf([receiver.waitForLine('waiting for the connection', 15_000).then(() => true), receiver.wait().then(() => false)], 15_000);
  return { receiver, ready };
}

const handOff: Challenge = {
  lab: 2,
  id: 'hand-off',
  title: 'hand the connection over and let go of it without ending it',
  goal:
    'Your sender connects to a TCP peer, says hello, hands the connection to a receiver and exits. Once it has\n' +
    `exited, the receiver writes ${RECEIVER_LINES} lines on the connection. Today the peer never gets them. Make your sender let go of its\n` +
    'fd so that the connection lives on in the receiver. The receiver (src/challenges/roles/lab2-receiver.ts) stays as it is.',
  file: 'sender.ts',
  start: 'challenges/lab2/hand-off/sender.ts',
  solution: 'challenges/lab2/hand-off/solution.ts',
  hints: [
    'Both processes hold an fd of one kernel socket. Some ways of letting go act on your fd; others act on the socket, for every holder.',
    'close() drops one reference: the connection ends when the last one goes. shutdown() ends a direction of the connection itself, whoever holds it.',
    'socket.destroySoon() ends the socket first: shutdown(SHUT_WR) (strace shows it), then close(). Take the fd away from Node with detachSocket(socket) (no FIN), send that fd, then close(fd).',
  ],
  check: (ctx) =>
    withPeer(async (peer) => {
      const { receiver, ready } = await waitForReceiver(ctx, roleScript('lab2-receiver'));
      if (!ready) return { passed: false, measured: [], problem: 'the receiver did not start (its log is below)' };
      const sender = await ctx.startRole('sender', ctx.script, { args: [String(peer.port)], traced: ['shutdown'] });
      const senderExit = await firstOf([sender.wait()], 15_000);
      const measured = [`sender: ${senderExit ? `exited (code ${senderExit.exitCode})` : 'still running 15 s after it started'}; strace: ${shutdowns(ctx.capture('sender'))}`];
      if (!senderExit || senderExit.exitCode !== 0) {
        return { passed: false, measured: [...measured, peerLine(peer)], problem: 'your sender must hand the connection over, let go of it and exit (code 0) within 15 s (its log is below)' };
      }
      const got = await firstOf([receiver.waitForLine(/^receiver: got fd/, 5000)], 5000);
      if (!got) return { passed: false, measured: [...measured, peerLine(peer)], problem: 'the receiver got no connection: send the fd on migrate.sock before you exit' };
      await receiver.signal('SIGUSR2'); // the sender is gone: now the receiver writes
      await firstOf([receiver.wait()], 10_000);
      const [connection] = peer.connections;
      await peer.until(() => connection?.linesAtEnd !== undefined && fromReceiver(connection) === RECEIVER_LINES, FIN_WAIT_MS);
      const writes = receiver.lines.filter((l) => /^receiver: write \d+:/.test(l)).map((l) => l.replace(/^receiver: write (\d+): /, '$1 '));
      measured.push(peerLine(peer), `receiver's writes, after your sender exited: ${writes.join(', ') || 'none'}`);
      if (peer.connections.length !== 1) return { passed: false, measured, problem: `the peer saw ${peer.connections.length} connections; the receiver must write on the one your sender opened` };
      const received = fromReceiver(connection);
      if (received < RECEIVER_LINES) {
        const early = connection.linesAtEnd !== undefined && connection.linesAtEnd <= connection.lines.length - received; // the FIN came before the receiver's lines
        return {
          passed: false,
          measured,
          problem: early
            ? `the peer read end of stream (a FIN) before the receiver wrote anything, and got ${received} of ${RECEIVER_LINES} of its lines: the way your sender let go ended the connection for the receiver too`
            : `the peer got ${received} of ${RECEIVER_LINES} of the receiver's lines`,
        };
      }
      return { passed: true, measured };
    }),
};

const endForAll: Challenge = {
  lab: 2,
  id: 'end-for-all',
  title: 'end a connection that another process still holds',
  goal:
    `A sender hands you a TCP connection and keeps its own fd of it open. Your receiver writes ${RECEIVER_LINES} lines and hangs\n` +
    'up, but the peer never learns the conversation is over. Make the peer read end of stream while the sender is\n' +
    'still running with its fd open. The sender (src/challenges/roles/lab2-sender.ts) stays as it is.',
  file: 'receiver.ts',
  start: 'challenges/lab2/end-for-all/receiver.ts',
  solution: 'challenges/lab2/end-for-all/solution.ts',
  hints: [
    'Your receiver closed its fd. How many fds of that socket are still open, and in which process?',
    'A TCP connection ends (FIN) when the last reference to the socket is closed, or when someone shuts it down: shutdown(2) acts on the socket, not on one fd.',
    'In Node, socket.end() is shutdown(SHUT_WR) once the queued writes are out; socket.destroy() is only close().',
  ],
  check: (ctx) =>
    withPeer(async (peer) => {
      const { receiver, ready } = await waitForReceiver(ctx, ctx.script, ['shutdown']);
      if (!ready) return { passed: false, measured: [], problem: 'your receiver must print "receiver: waiting for the connection ..." and listen on $FDLAB_SHARED/migrate.sock (its log is below)' };
      const sender = await ctx.startRole('sender', roleScript('lab2-sender'), { args: [String(peer.port)] });
      await firstOf([sender.waitForLine(/^sender: handed over/, 15_000)], 15_000);
      const exited = await firstOf([receiver.wait()], 10_000);
      const [connection] = peer.connections;
      const ended = await peer.until(() => connection?.linesAtEnd !== undefined, FIN_WAIT_MS);
      const senderAlive = sender.exitCode === null;
      const measured = [
        `receiver: ${exited ? `exited (code ${exited.exitCode})` : 'still running 10 s after the hand-over'}; strace: ${shutdowns(ctx.capture('receiver'))}`,
        peerLine(peer),
        `sender: ${senderAlive ? 'still running, its own fd of the connection open' : `exited (code ${sender.exitCode})`}`,
      ];
      if (!exited || exited.exitCode !== 0) return { passed: false, measured, problem: 'your receiver must write its lines, end the connection and exit (code 0) (its log is below)' };
      if (!connection || fromReceiver(connection) < RECEIVER_LINES) return { passed: false, measured, problem: `the peer must get all ${RECEIVER_LINES} of your receiver's lines on the connection it was handed` };
      if (!ended) {
        return {
          passed: false,
          measured,
          problem: `the peer got your ${RECEIVER_LINES} lines but no end of stream within ${FIN_WAIT_MS / 1000} s of your receiver's exit: the connection is still open, because a process still holds it`,
        };
      }
      if (!senderAlive) return { passed: false, measured, problem: 'the sender must still be running when the peer reads end of stream' };
      return { passed: true, measured };
    }),
};

export const lab2Challenges: Challenge[] = [handOff, endForAll];
