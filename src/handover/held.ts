// What the old version holds once it has stopped serving: its own copy of the
// listener and of every connection, with everything needed to serve each
// again (a rollback, or a take-back from a dead successor) or to send it.
import type * as net from 'node:net';
import { closeQuietly, dup } from '../fd/fds';
import { adoptServer, wrapSocket } from '../socket/adopt';
import { detachSocketNow, fdOf, type WriteEnd } from '../socket/detach';
import type { ServedConnection } from './types';

export interface HeldConnection<S> {
  fd: number;
  session: S;
  /** The app's half-processed bytes, then what Node had read: the next owner processes them first. */
  unread: Buffer;
  unsent: Buffer;
  peerEnded: boolean;
  writeEnd: WriteEnd;
  /** The new version closed it during the standby: ours is closed too, and it is not taken back. */
  closed?: boolean;
}

export interface Held<S> {
  listenerFd: number;
  connections: HeldConnection<S>[];
}

/**
 * Stops the server and takes every connection from Node, synchronously, so
 * nothing is read or accepted in between. If any connection cannot be taken
 * (EMFILE on dup, a socket already gone) the ones taken are returned with the
 * error: the caller serves them again and the upgrade fails whole, because a
 * connection left behind would die with this process.
 */
export function detachAll<S>(server: net.Server, connections: Set<ServedConnection<S>>): { held: Held<S>; failed: Error | null } {
  const held: Held<S> = { listenerFd: dup(fdOf(server)), connections: [] };
  server.close();
  let failed: Error | null = null;
  for (const connection of [...connections]) {
    if (connection.socket.destroyed) {
      connections.delete(connection);
      continue;
    }
    try {
      const { session, pending } = connection.snapshot();
      const { fd, unread, unsent, ended, writeEnd } = detachSocketNow(connection.socket);
      connections.delete(connection);
      held.connections.push({ fd, session, unread: pending.length ? Buffer.concat([pending, unread]) : unread, unsent, peerEnded: ended, writeEnd });
    } catch (error) {
      failed = error as Error; // this one still reads and is served as before
      break;
    }
  }
  return { held, failed };
}

/** Serves everything held again, here: after a rollback or a take-back. */
export async function serveAgain<S>(
  held: Held<S>,
  newServer: () => net.Server,
  serve: (socket: net.Socket, session?: S, pending?: Buffer) => void,
): Promise<net.Server> {
  const server = await adoptServer(held.listenerFd, newServer());
  for (const c of held.connections) {
    if (c.closed) continue;
    serve(wrapSocket(c.fd, { unsent: c.unsent, writeEnd: c.writeEnd }), c.session, c.unread);
  }
  held.connections = [];
  return server;
}

/** Closes our copies (the new version has its own): no FIN goes out, the kernel keeps each connection. */
export function release<S>(held: Held<S>): void {
  closeQuietly([held.listenerFd, ...held.connections.filter((c) => !c.closed).map((c) => c.fd)]);
  held.connections = [];
}
