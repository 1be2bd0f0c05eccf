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
import { requireStreamSocket, requireStreamSockets, wrapSocket } from '../socket/adopt';
import type { HeldSocket } from '../socket/hold';
import type { WriteEnd } from '../socket/detach';
import { nextMessage } from './peer';
import { encode, MAX_UPGRADE_MESSAGE, type ConnectionEntry, type FromOld, type SwitchEntry } from './protocol';
import { readTokenFile } from './state-dir';
import type { NewState, StateMachine } from './states';
import { UPGRADE_TOKEN_ENV } from './successor';
import type { Log } from './types';

export interface TakeOverOptions {
  upgradeSocket: string;
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
  connections: Incoming<S>[];
  oldPid: number;
  /** Open while the old version stands by; null if it is gone (orphaned). */
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
async function certainlyDead(pid: number): Promise<boolean> {
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
  const token = process.env[UPGRADE_TOKEN_ENV] ?? readTokenFile(options.upgradeSocket) ?? '';
  delete process.env[UPGRADE_TOKEN_ENV]; // one-time: our own successor gets its own

  let listenerFd = -1;
  const incoming: Incoming<S>[] = [];
  /** Copies of connections the old version still serves, by copy number: wrapped now, kept or dropped at its switch. */
  const copies = new Map<number, net.Socket>();
  let switched = false;
  const dropAll = () => {
    closeQuietly(listenerFd >= 0 ? [listenerFd] : []);
    for (const c of incoming) c.socket.destroy(); // our copies only: the old side has its own
    for (const socket of copies.values()) socket.destroy();
  };
  const orphaned = (why: string): TakenOver<S> => {
    machine.to('orphaned');
    // Copies whose state never came are served as fresh connections: better than closing them.
    for (const socket of copies.values()) incoming.push({ socket, session: undefined as S, pending: EMPTY, unsent: EMPTY, writeEnd: 'open' });
    copies.clear();
    log(`the old version vanished ${why}: serving the listener and the ${incoming.length} connections it had sent`);
    return { listenerFd, connections: incoming, oldPid: old.pid, channel: null };
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
      if (message.type === 'copies' && !switched) {
        takeCopies(message.copies, fds, copies);
        continue;
      }
      if (message.type === 'copies-end' && !switched) {
        if (message.copies !== copies.size) throw garbled(`'copies-end' says ${message.copies} copies, ${copies.size} came`);
        // Every copy is wrapped: the old version may stop serving now (it waits for this, still serving).
        await channel.send({ data: encode({ type: 'ready', copies: copies.size }) });
        continue;
      }
      if (message.type === 'switch' && !switched) {
        applySwitch(message.entries, message.dropped, bytes, copies, incoming);
        switched = true;
        continue;
      }
      if (message.type === 'connections' && switched) {
        takeDetached(message.entries, fds, bytes, incoming);
        continue;
      }
      if (message.type === 'done' && switched) {
        if (message.connections !== incoming.length) {
          throw new FdlabError('ERR_UPGRADE_GARBLED', `'done' says ${message.connections} connections, ${incoming.length} arrived`);
        }
        break;
      }
      closeQuietly(fds);
      throw refusal(message, switched ? 'connections or done' : 'copies or switch');
    }

    options.prepare?.(incoming as Incoming<unknown>[]);
    machine.to('acked');
    let verdict;
    try {
      await channel.send({ data: encode({ type: 'ack', pid: process.pid, connections: incoming.length }) });
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
    log(`took over the listener and ${incoming.length} connections from ${from}`);
    return { listenerFd, connections: incoming, oldPid: old.pid, channel };
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

const EMPTY = Buffer.alloc(0);

function garbled(what: string): FdlabError {
  return new FdlabError('ERR_UPGRADE_GARBLED', `upgrade socket: ${what}`);
}

/** Copies of live connections, sent while the old version still serves them: checked, wrapped, not read. */
function takeCopies(numbers: number[], fds: number[], copies: Map<number, net.Socket>): void {
  try {
    requireStreamSockets(fds, false, (i) => `copy ${numbers[i]}`);
    const seen = new Set<number>();
    const repeated = numbers.find((n) => copies.has(n) || seen.size === seen.add(n).size);
    if (repeated !== undefined) throw garbled(`copy ${repeated} came twice`);
  } catch (error) {
    closeQuietly(fds);
    throw error;
  }
  numbers.forEach((n, i) => copies.set(n, wrapSocket(fds[i], { manualStart: true })));
}

/** The old version stopped: which copies we keep (with their state, in its order) and which we drop. */
function applySwitch<S>(entries: SwitchEntry[], dropped: number[], bytes: Buffer, copies: Map<number, net.Socket>, incoming: Incoming<S>[]): void {
  const named = [...entries.map((e) => e.copy), ...dropped];
  const seen = new Set<number>();
  const unknown = named.find((n) => !copies.has(n) || seen.size === seen.add(n).size);
  if (unknown !== undefined) throw garbled(`the switch names copy ${unknown}, which never came or is named twice`);
  if (named.length !== copies.size) throw garbled(`the switch names ${named.length} of ${copies.size} copies`);
  let offset = 0;
  for (const entry of entries) {
    incoming.push({ socket: copies.get(entry.copy)!, session: entry.session as S, pending: bytes.subarray(offset, offset + entry.unread), unsent: EMPTY, writeEnd: 'open' });
    offset += entry.unread;
    copies.delete(entry.copy);
  }
  for (const copy of dropped) {
    copies.get(copy)!.destroy(); // closed by the old version, or detached and sent again below
    copies.delete(copy);
  }
}

/** Connections the old version detached (bytes in flight), each with its fd, its unread and its unsent bytes. */
function takeDetached<S>(entries: ConnectionEntry[], fds: number[], bytes: Buffer, incoming: Incoming<S>[]): void {
  try {
    requireStreamSockets(fds, false, (i) => `connection ${incoming.length + i + 1}`);
  } catch (error) {
    closeQuietly(fds);
    throw error;
  }
  let offset = 0;
  fds.forEach((fd, i) => {
    const entry = entries[i];
    const pending = bytes.subarray(offset, offset + entry.unread);
    const unsent = bytes.subarray(offset + entry.unread, offset + entry.unread + entry.unsent);
    offset += entry.unread + entry.unsent;
    incoming.push({ socket: wrapSocket(fd, { manualStart: true }), session: entry.session as S, pending, unsent, writeEnd: entry.writeEnd });
  });
}

function refusal(message: FromOld, expected: string): FdlabError {
  if (message.type === 'abort') return new FdlabError('ERR_UPGRADE_ABORTED', `the old version aborted the upgrade: ${message.reason}`);
  if (message.type === 'refuse') return new FdlabError('ERR_UPGRADE_REFUSED', `the old version refused us: ${message.reason}`);
  return new FdlabError('ERR_UPGRADE_GARBLED', `expected '${expected}', got '${message.type}'`);
}
