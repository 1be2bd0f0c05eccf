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
import { adoptServer, wrapSocket } from '../socket/adopt';
import { detachSocketNow, type WriteEnd } from '../socket/detach';
import { gate } from '../socket/gate';
import { holdSocket, type HeldSocket } from '../socket/hold';
import { LateWrites } from './late-writes';
import type { ServedConnection } from './types';

export interface DetachedConnection<S> {
  kind: 'detached';
  /** The app's connection it was: its socket is gone (destroyed silently), so the app no longer serves it. */
  connection: ServedConnection<S>;
  fd: number;
  /** The copy of it the new version has (sent while we served), which this replaces. */
  copy?: number;
  session: S;
  /** The app's half-processed bytes, then what Node had read: the next owner processes them first. */
  unread: Buffer;
  unsent: Buffer;
  peerEnded: boolean;
  writeEnd: WriteEnd;
  /** The new version closed it during the standby: ours is closed too, and it is not taken back. */
  closed?: boolean;
}

export interface StillConnection<S> {
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
): HeldGroup<S> {
  const result: HeldGroup<S> = { still: [], detached: [], dropped: [], failed: null };
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
      const { fd, unread, unsent, ended, writeEnd } = detachSocketNow(connection.socket);
      const detached: DetachedConnection<S> = {
        kind: 'detached', connection, fd, copy, session, unread: pending.length ? Buffer.concat([pending, unread]) : unread, unsent, peerEnded: ended, writeEnd,
      };
      result.detached.push(detached);
      held.connections.push(detached);
    } catch (error) {
      result.failed = error as Error;
      break;
    }
  }
  return result;
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
  return { session: session as S, pending };
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
    if (c.kind === 'still') c.hold.handOver();
    else if (!gatedHusks.has(c.connection.socket)) {
      gatedHusks.add(c.connection.socket);
      gate(c.connection.socket, late.note).refuse();
    }
  }
}

const gatedHusks = new WeakSet<object>();

/**
 * Serves everything held again, here: after a rollback or a take-back. The
 * still ones read again (the app never stopped serving them); the detached
 * ones are served as new sockets on their fds. Returns the listener, and the
 * app's connections that are gone (detached, or closed by the new version).
 */
export async function serveAgain<S>(
  held: Held<S>,
  newServer: () => net.Server,
  serve: (socket: net.Socket, session?: S, pending?: Buffer) => void,
): Promise<{ server: net.Server; gone: ServedConnection<S>[] }> {
  const server = await adoptServer(held.listenerFd, newServer());
  const gone: ServedConnection<S>[] = [];
  for (const c of held.connections) {
    // A still one the app destroy()ed meanwhile closed only our fd: it is gone, not served again.
    if (c.kind === 'still' && !c.closed && !c.connection.socket.destroyed) {
      c.hold.resume();
      continue;
    }
    gone.push(c.connection);
    if (c.kind === 'detached' && !c.closed) serve(wrapSocket(c.fd, { unsent: c.unsent, writeEnd: c.writeEnd }), c.session, c.unread);
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
