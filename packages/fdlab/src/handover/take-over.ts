// The new version's side of an upgrade (docs/handover.md, "new side"):
// connect, check that the old side is who it should be, say hello, take the
// listener and every connection as they arrive (each checked, each wrapped in
// a socket that does not read yet), acknowledge, and serve only at the commit.
// Until then the old version owns everything, so failing here loses nothing.
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { FdChannel } from '../channel';
import { FdlabError, isErrorWithCode } from '../errors';
import { closeQuietly } from '../fd/fds';
import { requireStreamSocket } from '../socket/adopt';
import { Arrivals } from './arrivals';
import type { HeldSocket } from '../socket/hold';
import type { WriteEnd } from '../socket/detach';
import { nextMessage } from './peer';
import { encode, MAX_UPGRADE_MESSAGE, type FromOld } from './protocol';
import { readTokenFile } from './state-dir';
import type { NewState, StateMachine } from './states';
import type { Log } from './types';

export interface TakeOverOptions {
  upgradeSocket: string;
  /** The one-time token for the hello; without it, the token file beside the socket (externalSuccessor). */
  token?: string;
  version: string;
  timeoutMs: number;
  /** The old side must run as this uid (default: ours). */
  expectedPeerUid: number;
  log: Log;
  machine: StateMachine<NewState>;
  /**
   * Called with everything received, just before the ack: the app may serve
   * the connections now, so that the commit only has to let them read.
   */
  prepare?: (incoming: Incoming<unknown>[]) => void;
}

export interface Incoming<S> {
  /** A socket on the received fd that does not read until the app listens. */
  socket: net.Socket;
  session: S;
  pending: Buffer;
  /** Written first, at the commit (before it the old side still owns the connection). */
  unsent: Buffer;
  writeEnd: WriteEnd;
  /** Set once the app serves it, held still until the commit (see Upgrader.prepare). */
  hold?: HeldSocket;
}

export interface TakenOver<S> {
  listenerFd: number;
  /** What arrived; at the commit only the first group is switched, the rest follows on the channel. */
  arrivals: Arrivals<S>;
  oldPid: number;
  /** Open while the old version streams the rest and stands by; null if it is gone (orphaned). */
  channel: FdChannel | null;
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

const DEATH_WAIT_MS = 1000;

const isHangUp = (error: unknown) => ['ERR_CHANNEL_CLOSED', 'ERR_CHANNEL_TRUNCATED', 'ECONNRESET', 'EPIPE'].some((code) => isErrorWithCode(error, code));

export async function takeOver<S>(options: TakeOverOptions): Promise<TakenOver<S>> {
  const { log, machine } = options;
  let deadline = Date.now() + options.timeoutMs;
  const channel = await FdChannel.connect(options.upgradeSocket, { waitMs: Math.min(options.timeoutMs, 5000), maxMessageBytes: MAX_UPGRADE_MESSAGE });
  const old = channel.peer();
  if (old.uid !== options.expectedPeerUid) {
    channel.close();
    throw new FdlabError('ERR_UPGRADE_UNTRUSTED', `the process on ${options.upgradeSocket} runs as uid ${old.uid}, not ${options.expectedPeerUid}: not taking anything from it`);
  }
  const token = options.token ?? readTokenFile(options.upgradeSocket) ?? '';

  let listenerFd = -1;
  const arrivals = new Arrivals<S>();
  const dropAll = () => {
    closeQuietly(listenerFd >= 0 ? [listenerFd] : []);
    arrivals.dropAll();
  };
  const orphaned = (why: string): TakenOver<S> => {
    machine.to('orphaned');
    // Copies whose state never came are served as fresh connections: better than closing them.
    arrivals.unswitched();
    log(`the old version vanished ${why}: serving the listener and the ${arrivals.taken.length} connections it had sent`);
    return { listenerFd, arrivals, oldPid: old.pid, channel: null };
  };

  try {
    machine.to('hello-sent');
    await channel.send({ data: encode({ type: 'hello', pid: process.pid, version: options.version, token }) });
    const first = await nextMessage(channel, 'old', deadline, 'while waiting for the listener');
    if (first.message.type !== 'listener') throw refusal(first.message, 'listener');
    listenerFd = first.fds[0];
    requireStreamSocket(listenerFd, true, 'the listener');
    // The old side's deadline governs; allow for the clocks' start difference.
    deadline = Date.now() + first.message.remainingMs + 1000;
    machine.to('receiving');

    for (;;) {
      let received;
      try {
        received = await nextMessage(channel, 'old', deadline, 'while receiving connections');
      } catch (error) {
        // Mid-transfer the old side may have batches it never wrote: serve only if it is certainly dead.
        if (isHangUp(error) && (await certainlyDead(old.pid))) return orphaned('in the middle of the transfer');
        throw error;
      }
      const { message, fds, bytes } = received;
      if (message.type === 'copies') {
        arrivals.takeCopies(message.copies, fds);
        continue;
      }
      if (message.type === 'copies-end') {
        if (message.copies !== arrivals.copiesLeft) throw garbled(`'copies-end' says ${message.copies} copies, ${arrivals.copiesLeft} came`);
        // Every copy is wrapped: the old version may stop serving now (it waits for this, still serving).
        try {
          await channel.send({ data: encode({ type: 'ready', copies: arrivals.copiesLeft }) });
        } catch (error) {
          if (isHangUp(error) && (await certainlyDead(old.pid))) return orphaned('as we took its copies');
          throw error;
        }
        continue;
      }
      if (message.type === 'connections') {
        arrivals.takeDetached(message.entries, fds, bytes);
        continue;
      }
      if (message.type === 'switch') {
        arrivals.applySwitch(message, bytes); // the first group: the commit follows our ack
        break;
      }
      closeQuietly(fds);
      throw refusal(message, 'copies, connections or switch');
    }

    options.prepare?.(arrivals.taken as Incoming<unknown>[]);
    machine.to('acked');
    let verdict;
    try {
      await channel.send({ data: encode({ type: 'ack', pid: process.pid, connections: arrivals.taken.length }) });
      verdict = await nextMessage(channel, 'old', deadline, 'while waiting for the commit');
    } catch (error) {
      // We hold everything; the old side hung up before its commit. If it died, we are all
      // there is: serve. If it lives, it rolled back (its abort lost): serving too would
      // put two readers on every connection.
      if (isHangUp(error) && (await certainlyDead(old.pid))) return orphaned('after sending everything, before its commit');
      throw error;
    }
    if (verdict.message.type !== 'commit') throw refusal(verdict.message, 'commit');
    machine.to('serving-standby');
    const from = old.pid === 0 ? 'the old version (in another pid namespace: SO_PEERCRED says pid 0)' : `pid ${old.pid}`;
    log(`took over the listener and the first ${arrivals.taken.length} connections from ${from}`);
    return { listenerFd, arrivals, oldPid: old.pid, channel };
  } catch (error) {
    if (machine.state !== 'failed') machine.to('failed');
    const reason = (error as Error).message;
    if (!isHangUp(error) && !channel.closed) {
      channel.send({ data: encode({ type: 'refuse', reason }) }).catch(() => {}).finally(() => channel.close());
    } else {
      channel.close();
    }
    dropAll();
    throw error;
  }
}

function garbled(what: string): FdlabError {
  return new FdlabError('ERR_UPGRADE_GARBLED', `upgrade socket: ${what}`);
}

function refusal(message: FromOld, expected: string): FdlabError {
  if (message.type === 'abort') return new FdlabError('ERR_UPGRADE_ABORTED', `the old version aborted the upgrade: ${message.reason}`);
  if (message.type === 'refuse') return new FdlabError('ERR_UPGRADE_REFUSED', `the old version refused us: ${message.reason}`);
  return new FdlabError('ERR_UPGRADE_GARBLED', `expected '${expected}', got '${message.type}'`);
}
