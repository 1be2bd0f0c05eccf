// What the old version holds once it has stopped serving: its own copy of the
// listener and of every connection, to serve again (a rollback, or a
// take-back from a dead successor) or to let go of (the standby is over).
//
// A connection is held one of two ways. Most are held still (holdSocket):
// the net.Socket stays as it was, only not reading, so serving it again is
// one readStart and letting go is one close. A connection with bytes in
// flight inside Node is detached instead (detachSocketNow): a dup of its fd
// plus those bytes, which travel to the new version.
import type * as net from 'node:net';
import { FdlabError } from '../errors';
import { closeQuietly } from '../fd/fds';
import { wrapSocket } from '../socket/adopt';
import { detachSocketNow, type WriteEnd } from '../socket/detach';
import { gate } from '../socket/gate';
import { holdSocket, type HeldSocket } from '../socket/hold';
import { handleOf } from '../socket/internals';
import { sameUse, tcpUseOf, type TcpUse } from '../socket/tcp-use';
import { unsentLength } from '../socket/write-tracker';
import { LateWrites } from './late-writes';
import { MAX_CONNECTION_BYTES } from './protocol';
import { checkSession } from './session-check';
import { sessionBytes, tooLarge } from './too-large';
import type { Log, ServedConnection } from './types';

/** What the new version last reported of a connection during the standby ('alive' states). */
export interface Reported<S> {
  session: S;
  pending: Buffer;
  use: TcpUse;
}

/** What both kinds of held connection carry for a take-back. */
interface Restorable<S> {
  /** The kernel's count of its use when we held it (null: not TCP, nothing to compare). */
  use?: TcpUse | null;
  /** The new version's last report of it, if it used it during the standby. */
  report?: Reported<S>;
}

export interface DetachedConnection<S> extends Restorable<S> {
  kind: 'detached';
  /** The app's connection it was: its socket is gone (destroyed silently), so the app no longer serves it. */
  connection: ServedConnection<S>;
  fd: number;
  /** The copy of it the new version has (sent while we served), which this replaces. */
  copy?: number;
  session: S;
  /** What the session takes as JSON: a batch counts it (hand-off.ts, batches). */
  sessionBytes: number;
  /** The app's half-processed bytes, then what Node had read: the next owner processes them first. */
  unread: Buffer;
  unsent: Buffer;
  peerEnded: boolean;
  writeEnd: WriteEnd;
  /** The new version closed it during the standby: ours is closed too, and it is not taken back. */
  closed?: boolean;
}

export interface StillConnection<S> extends Restorable<S> {
  kind: 'still';
  connection: ServedConnection<S>;
  hold: HeldSocket;
  session: S;
  /** The app's half-processed bytes (the app keeps them too). */
  pending: Buffer;
  /** Which copy (sent while we still served) the new version has of it. */
  copy: number;
  closed?: boolean;
}

export type HeldConnection<S> = StillConnection<S> | DetachedConnection<S>;

export interface Held<S> {
  listenerFd: number;
  /** In the order the new version numbers them (alive.closed): the still ones, then the detached ones. */
  connections: HeldConnection<S>[];
  /** The app's writes and ends refused on connections handed over (made at the first hold). */
  late?: LateWrites;
}

export interface HeldGroup<S> {
  still: StillConnection<S>[];
  detached: DetachedConnection<S>[];
  /** Copy numbers the new version must let go of: closed meanwhile (a detached one names its copy itself). */
  dropped: number[];
  /** A connection that could not be detached (EMFILE on dup): it and the rest still read and are served here. */
  failed: Error | null;
  /**
   * Not held: too large to carry (tooLarge), or too large for what is left of
   * this group's switch. Served on here as if they were not in the group; the
   * caller holds them back to a later one.
   */
  notCarried: NotCarried<S>[];
  /** With closeTooLarge (the upgrade's deadline): the ones too large to carry, reset; their copies are in `dropped`. */
  closed: NotCarried<S>[];
}

export interface NotCarried<S> {
  connection: ServedConnection<S>;
  copy?: number;
  /** What it would take in a message: session JSON, the app's pending bytes, and (if not held still) Node's unread and unsent bytes. */
  bytes: number;
  /** Of those, the bytes in Node's buffers (read and not consumed, written and not in the kernel): they shrink as Node works. */
  inNode: number;
  /** Of those, the bytes the app wrote that are not in the kernel yet (its client does not read). */
  queued: number;
  /** nameOf its socket, taken before any close. */
  name: string;
}

/**
 * Stops serving one group of connections, synchronously, so nothing is read
 * in between: held still where that is exact, detached otherwise, each added
 * to `held` in the order the new version numbers them (still, then
 * detached). `group` are copy numbers into `copies` (the new version has
 * those fds already); `extra` are connections it has no copy of.
 */
export function holdGroup<S>(
  copies: readonly ServedConnection<S>[],
  group: readonly number[],
  extra: readonly ServedConnection<S>[],
  connections: ReadonlySet<ServedConnection<S>>,
  held: Held<S>,
  options: { closeTooLarge?: boolean } = {},
): HeldGroup<S> {
  const result: HeldGroup<S> = { still: [], detached: [], dropped: [], failed: null, notCarried: [], closed: [] };
  /** The still ones' states go in one switch message: it stays within what one connection may take. */
  let switchBytes = 0;
  const notCarried = (connection: ServedConnection<S>, copy: number | undefined, bytes: number, inNode: number, queued: number): void => {
    const entry = { connection, copy, bytes, inNode, queued, name: nameOf(connection.socket) };
    if (options.closeTooLarge && tooLarge(bytes)) {
      connection.socket.resetAndDestroy(); // a reset, not a FIN: the client must not take what it got for the whole
      if (copy !== undefined) result.dropped.push(copy);
      result.closed.push(entry);
    } else {
      result.notCarried.push(entry);
    }
  };
  const late = (held.late ??= new LateWrites());
  const toDetach: { connection: ServedConnection<S>; copy?: number }[] = extra.map((connection) => ({ connection }));
  for (const copy of group) {
    const connection = copies[copy];
    if (!connections.has(connection) || connection.socket.destroyed) {
      result.dropped.push(copy);
      continue;
    }
    const hold = holdSocket(connection.socket, late.note);
    if (!hold) {
      toDetach.push({ connection, copy });
      continue;
    }
    let snapshot: { session: S; pending: Buffer };
    try {
      snapshot = snapshotOf(connection);
    } catch (error) {
      hold.resume(); // never held: it reads again; the ones held before it are in `held`, served again by a rollback
      result.failed = error as Error;
      break;
    }
    const bytes = sessionBytes(snapshot.session) + snapshot.pending.length;
    if (tooLarge(bytes) || (switchBytes > 0 && switchBytes + bytes > MAX_CONNECTION_BYTES)) {
      hold.resume(); // not held after all: served on here until it fits
      notCarried(connection, copy, bytes, 0, 0);
      continue;
    }
    switchBytes += bytes;
    result.still.push({ kind: 'still', connection, hold, session: snapshot.session, pending: snapshot.pending, copy });
  }
  held.connections.push(...result.still);
  if (result.failed) return result;
  for (const { connection, copy } of toDetach) {
    if (connection.socket.destroyed) {
      if (copy !== undefined) result.dropped.push(copy);
      continue;
    }
    try {
      const { session, pending } = snapshotOf(connection);
      const { socket } = connection;
      const ofSession = sessionBytes(session);
      // What detaching takes from Node: unread is readableLength, unsent unsentLength (without copying them).
      const queued = unsentLength(socket);
      const bytes = ofSession + pending.length + socket.readableLength + queued;
      if (tooLarge(bytes)) {
        notCarried(connection, copy, bytes, socket.readableLength + queued, queued);
        continue;
      }
      const { fd, unread, unsent, ended, writeEnd } = detachSocketNow(socket);
      const detached: DetachedConnection<S> = {
        kind: 'detached', connection, fd, copy, session, sessionBytes: ofSession, unread: pending.length ? Buffer.concat([pending, unread]) : unread, unsent, peerEnded: ended, writeEnd,
      };
      result.detached.push(detached);
      held.connections.push(detached);
    } catch (error) {
      result.failed = error as Error;
      break;
    }
  }
  noteUse([...result.still, ...result.detached]);
  return result;
}

/** The fd of a held connection (ours), or -1 once it is gone. */
function fdOfHeld<S>(c: HeldConnection<S>): number {
  if (c.kind === 'detached') return c.fd;
  const handle = handleOf(c.connection.socket);
  return c.connection.socket.destroyed || !handle ? -1 : handle.fd;
}

/** How far each connection had been used when we held it: a take-back compares (one native call a group). */
function noteUse<S>(connections: HeldConnection<S>[]): void {
  const open = connections.filter((c) => fdOfHeld(c) >= 0);
  tcpUseOf(open.map(fdOfHeld)).forEach((use, i) => (open[i].use = use));
}

type Verdict = 'as-held' | 'reported' | 'closed';

/**
 * After a take-back: what each connection's state is. Nobody used it since
 * we held it: ours is exact. Used, and the counts match the new version's
 * last report: that report is exact. Used after its last report, or no count
 * to compare where we had one (urgent data, closed): its state died with the
 * new version, and no state we have matches what the client saw: it is
 * closed, never served a stale one. `successorDead` false (it was started by
 * someone else, or did not exit in time): it may still be using them, so no
 * report is trusted either. A socket that is not TCP has no counts: the last
 * report, or ours (docs/handover.md says so).
 */
function judge<S>(connections: HeldConnection<S>[], successorDead: boolean): Verdict[] {
  const uses = tcpUseOf(connections.map((c) => Math.max(0, fdOfHeld(c))));
  return connections.map((c, i) => {
    const now = fdOfHeld(c) >= 0 ? uses[i] : null;
    if (c.use === null || c.use === undefined) return c.report && successorDead ? 'reported' : 'as-held';
    if (now === null) return 'closed';
    if (sameUse(now, c.use)) return 'as-held';
    return successorDead && c.report && sameUse(now, c.report.use) ? 'reported' : 'closed';
  });
}

/**
 * The app's snapshot() of a connection, checked: it must return
 * { session, pending: Buffer }. Anything else (or a throw) is the app's bug,
 * said with ERR_APP_SNAPSHOT: the upgrade rolls back (or, after the commit,
 * takes everything back) instead of sending garbage or stalling.
 */
export function snapshotOf<S>(connection: ServedConnection<S>): { session: S; pending: Buffer } {
  let snapshot: unknown;
  try {
    snapshot = connection.snapshot();
  } catch (error) {
    throw new FdlabError('ERR_APP_SNAPSHOT', `the app's snapshot() threw: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
  if (snapshot === null || typeof snapshot !== 'object') {
    throw new FdlabError('ERR_APP_SNAPSHOT', `the app's snapshot() must return { session, pending: Buffer }, got ${snapshot === null ? 'null' : typeof snapshot}`);
  }
  const { session, pending } = snapshot as { session?: unknown; pending?: unknown };
  if (!Buffer.isBuffer(pending)) {
    throw new FdlabError('ERR_APP_SNAPSHOT', `the app's snapshot() must return { session, pending: Buffer }: pending is ${pending === null ? 'null' : typeof pending === 'object' ? 'not a Buffer' : typeof pending} (Buffer.alloc(0) if nothing is pending)`);
  }
  if (!('session' in (snapshot as object))) {
    throw new FdlabError('ERR_APP_SNAPSHOT', `the app's snapshot() must return { session, pending: Buffer }: it has no session`);
  }
  checkSession(session, () => nameOf(connection.socket)); // JSON would change it silently: said now, with the field
  return { session: session as S, pending };
}

/** How a log line names a connection: its client's address. */
export function nameOf(socket: net.Socket): string {
  return socket.remoteAddress ? `from ${socket.remoteAddress}:${socket.remotePort}` : '(no peer address)';
}

/**
 * These connections are the new version's from now on (the first group at the
 * commit, a later one as it is sent): whatever the app writes to them, or
 * wrote since the hold, is refused and counted, never sent (docs/handover.md,
 * "Late writes"). A detached one's husk refuses too, with the same code.
 */
export function refuseLateWrites<S>(held: Held<S>, connections: readonly HeldConnection<S>[] = held.connections): void {
  const late = (held.late ??= new LateWrites());
  for (const c of connections) {
    if (!handedOver.has(c.connection)) {
      handedOver.add(c.connection);
      tellApp(c.connection, 'handedOver');
    }
    if (c.kind === 'still') c.hold.handOver();
    else if (!gatedHusks.has(c.connection.socket)) {
      gatedHusks.add(c.connection.socket);
      gate(c.connection.socket, late.note).refuse();
    }
  }
}

const gatedHusks = new WeakSet<object>();
/** Connections whose handedOver() was called: a take-back calls their takenBack(). */
const handedOver = new WeakSet<object>();

/** The app's lifecycle callback, if it has one; a throw is the app's bug and must not stop the engine. */
export function tellApp<S>(connection: ServedConnection<S>, event: 'handedOver' | 'takenBack' | 'heldBack'): void {
  try {
    connection[event]?.();
  } catch (error) {
    // Nothing to undo: the connection is switched (or served again) either way; said, never thrown into the engine.
    process.emitWarning(`the app's ${event}() threw: ${(error as Error)?.message ?? String(error)}`, { code: 'ERR_APP_CALLBACK' });
  }
}

/**
 * Serves everything held again, here: after a rollback or a take-back. The
 * still ones read again (the app never stopped serving them); the detached
 * ones are served as new sockets on their fds. After a take-back (`takenBack`)
 * each connection is first judged (see judge): one the new version used is
 * served with the state it last reported, or closed if it used it after
 * that. Returns the listener, and the app's connections that are gone
 * (detached, closed by the new version, or served anew from a report).
 */
export async function serveAgain<S>(
  held: Held<S>,
  listenOn: (fd: number) => Promise<net.Server>,
  serve: (socket: net.Socket, session?: S, pending?: Buffer) => void,
  takenBack?: { log: Log; successorDead: boolean },
): Promise<{ server: net.Server; gone: ServedConnection<S>[] }> {
  const server = await listenOn(held.listenerFd);
  const gone: ServedConnection<S>[] = [];
  const open = held.connections.filter((c) => !c.closed);
  const verdicts: Verdict[] = takenBack ? judge(open, takenBack.successorDead) : open.map(() => 'as-held');
  let restored = 0;
  let closed = 0;
  for (const c of held.connections) if (c.closed) gone.push(c.connection);
  open.forEach((c, i) => {
    if (c.kind === 'still' && c.connection.socket.destroyed) return void gone.push(c.connection); // the app closed it meanwhile
    const verdict = verdicts[i];
    if (verdict === 'as-held') {
      if (c.kind === 'still') {
        c.hold.resume();
        // Only for one the new version had: a rollback's connections were never handed over.
        if (handedOver.delete(c.connection)) tellApp(c.connection, 'takenBack');
        return;
      }
      gone.push(c.connection);
      serve(wrapSocket(c.fd, { unsent: c.unsent, writeEnd: c.writeEnd }), c.session, c.unread);
      return;
    }
    gone.push(c.connection);
    if (verdict === 'reported') {
      // The app's object for it is stale: it gets a new socket with the reported state (late bytes the old app wrote are dropped).
      let fd = c.kind === 'detached' ? c.fd : -1;
      try {
        if (c.kind === 'still') fd = detachSocketNow(c.connection.socket).fd;
      } catch (error) {
        takenBack?.log(`take-back: could not take a connection apart to restore it (${(error as Error).message}): closed`);
      }
      if (fd >= 0) {
        serve(wrapSocket(fd), c.report!.session, c.report!.pending);
        restored++;
        return;
      }
    }
    closed++;
    if (c.kind === 'still') {
      c.hold.resume(); // the app sees a close, as for any client that went away
      c.connection.socket.destroy();
    } else {
      closeQuietly([c.fd]);
    }
  });
  if (takenBack && restored + closed > 0) {
    takenBack.log(`take-back: ${restored} connections served with the state the new version last reported` +
      (closed > 0 ? `; ${closed} closed: the new version read or wrote them after its last report, so no state we have is theirs` : ''));
  }
  held.connections = [];
  return { server, gone };
}

/** Lets go of one connection: no FIN goes out, the new version has the same connection. */
export function letGo<S>(connection: HeldConnection<S>): void {
  if (connection.closed) return;
  connection.closed = true;
  if (connection.kind === 'still') connection.hold.drop();
  else closeQuietly([connection.fd]);
}

/** Lets go of everything held (the new version has its own copies); each stays listed, closed. */
export function release<S>(held: Held<S>): void {
  closeQuietly([held.listenerFd]);
  for (const connection of held.connections) letGo(connection);
}
