// Reading the upgrade socket: the next message of an expected type within the
// upgrade's deadline, and the choice of the one peer that may take over.
import { timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { FdChannel, FdChannelServer } from '../channel';
import { FdlabError, isErrorWithCode } from '../errors';
import { closeQuietly } from '../fd/fds';
import { withDeadline } from '../util/deadline';
import { decode, encode, type Decoded, type FromNew, type FromOld } from './protocol';
import type { Log } from './types';

type From<S> = S extends 'old' ? FromOld : FromNew;

export interface Received<M> extends Decoded<M> {
  fds: number[];
}

/** How long a connecting peer has to say hello before it is dropped (it never delays the real one). */
export const HELLO_TIMEOUT_MS = 2000;

/**
 * The errors that mean the other side hung up (closed its end, died, or
 * reset the connection) rather than said something wrong: the one list both
 * sides branch on.
 */
const HANG_UPS = ['ERR_CHANNEL_CLOSED', 'ERR_CHANNEL_TRUNCATED', 'ECONNRESET', 'EPIPE'];

export function isHangUp(error: unknown): boolean {
  return HANG_UPS.some((code) => isErrorWithCode(error, code));
}

/** Whether `pid` has exited: gone from /proc, or a zombie nobody reaped yet. */
function exited(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch (error) {
    return isErrorWithCode(error, 'ENOENT');
  }
}

/** Whether `pid` is stopped (SIGSTOP, a debugger, a freezer: state T or t in /proc/<pid>/stat); false if it runs or is not visible. */
export function isStopped(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[Tt]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** When `pid` started (/proc/<pid>/stat field 22, in clock ticks since boot), or null if it is not visible: a pid's identity. */
export function startTimeOf(pid: number): string | null {
  if (pid <= 0) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const DEATH_WAIT_MS = 1000;

/**
 * Whether the old side is certainly gone. Its end of the channel closes while
 * the kernel tears the process down, a moment before it shows as exited, so
 * look for up to DEATH_WAIT_MS. Only knowable when its pid is visible to us:
 * from another pid namespace SO_PEERCRED says 0, and a hang-up could as well
 * be a rollback whose abort never reached us, so we must not serve.
 */
export async function certainlyDead(pid: number): Promise<boolean> {
  if (pid <= 0) return false;
  const until = Date.now() + DEATH_WAIT_MS;
  while (!exited(pid)) {
    if (Date.now() >= until) return false;
    await delay(10);
  }
  return true;
}

export function deadlineError(what: string): FdlabError {
  return new FdlabError('ERR_UPGRADE_TIMEOUT', `the upgrade deadline passed ${what}`);
}

/** The next message from `from`'s side, checked; its fds are the caller's. A bad one closes the channel. */
export async function nextMessage<S extends 'old' | 'new'>(channel: FdChannel, from: S, deadline: number, waiting: string): Promise<Received<From<S>>> {
  const left = Math.max(0, deadline - Date.now());
  const { data, fds } = await withDeadline(channel.receive(), left, () => deadlineError(waiting));
  try {
    const decoded = decode(data, fds.length, from);
    return { ...decoded, fds } as Received<From<S>>;
  } catch (error) {
    closeQuietly(fds);
    channel.close();
    throw error;
  }
}

/** Tells the peer why, if it still listens, and hangs up. */
export function refuse(channel: FdChannel, reason: string): void {
  channel.send({ data: encode({ type: 'refuse', reason }) }).catch(() => {}).finally(() => channel.close());
}

export interface Expected {
  uid: number;
  /** The pid we started, if we did (SO_PEERCRED must match). */
  pid?: number;
  token: string;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Accepts connections on the upgrade socket until one passes every check:
 * the expected uid and (if we started it) pid, then a hello with the token
 * within HELLO_TIMEOUT_MS. Each peer is checked on its own, so an impostor
 * that connects first and says nothing delays no one. Refused peers get a
 * log line and a 'refuse' message.
 */
export function acceptSuccessor(
  server: FdChannelServer,
  expected: Expected,
  deadline: number,
  log: Log,
  died?: Promise<never>,
): Promise<{ channel: FdChannel; hello: Extract<FromNew, { type: 'hello' }> }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const pending = new Set<FdChannel>();
    const timer = setTimeout(() => finish(deadlineError('before the successor said hello')), Math.max(0, deadline - Date.now()));
    const finish = (error: Error | null, winner?: { channel: FdChannel; hello: Extract<FromNew, { type: 'hello' }> }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const channel of pending) if (channel !== winner?.channel) channel.close();
      if (winner) resolve(winner);
      else reject(error);
    };
    died?.catch((error: Error) => finish(error));

    const check = async (channel: FdChannel) => {
      const peer = channel.peer();
      const who = `pid ${peer.pid} uid ${peer.uid}`;
      if (peer.uid !== expected.uid) return refusePeer(channel, who, `uid ${peer.uid} is not the expected uid ${expected.uid}`);
      if (expected.pid !== undefined && peer.pid !== expected.pid) return refusePeer(channel, who, `pid ${peer.pid} is not the successor we started (pid ${expected.pid})`);
      let hello;
      try {
        const { message } = await nextMessage(channel, 'new', Math.min(deadline, Date.now() + HELLO_TIMEOUT_MS), 'before this peer said hello');
        hello = message;
      } catch (error) {
        return refusePeer(channel, who, (error as Error).message);
      }
      if (hello.type !== 'hello') return refusePeer(channel, who, `it sent '${hello.type}' instead of hello`);
      if (!sameToken(hello.token, expected.token)) return refusePeer(channel, who, 'its hello has the wrong token');
      pending.delete(channel);
      if (settled) channel.close();
      else finish(null, { channel, hello });
    };
    const refusePeer = (channel: FdChannel, who: string, why: string) => {
      pending.delete(channel);
      log(`refused a peer on the upgrade socket (${who}): ${why}`);
      refuse(channel, why);
    };
    const acceptNext = () => {
      if (settled) return;
      server.accept().then(
        (channel) => {
          if (settled) {
            channel.close();
            return;
          }
          pending.add(channel);
          check(channel).catch((error: Error) => refusePeer(channel, 'a peer', error.message));
          acceptNext();
        },
        (error: Error) => finish(error),
      );
    };
    acceptNext();
  });
}
