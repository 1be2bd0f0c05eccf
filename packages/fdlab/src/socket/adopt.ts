// The other half of a handover: a received fd becomes an ordinary
// net.Socket or net.Server that owns it from now on.
import * as net from 'node:net';
import { FdlabError } from '../errors';
import { describeFd, type FdDescription } from '../fd/inspect';
import { binding } from '../native/binding';
import type { WriteEnd } from './detach';
import { checkNodeInternals } from './internals';
import { trackWrites } from './write-tracker';
import { resolveBacklog, setBacklog } from './backlog';

export interface AdoptSocketOptions {
  /** Bytes the previous owner had read but not processed: delivered first. */
  unread?: Buffer;
  /** Bytes the previous owner had written that never reached the kernel: written first. */
  unsent?: Buffer;
  /** The previous owner had called end(): end it here too, after `unsent`. */
  writeEnd?: WriteEnd;
  allowHalfOpen?: boolean;
  /**
   * Do not start reading until the app listens for data (Node's manualStart):
   * a handover creates its sockets as they arrive and lets them read only
   * once it owns them.
   */
  manualStart?: boolean;
}

/** Throws ERR_FD_WRONG_KIND unless `fd` is a stream socket, listening or connected as asked. */
export function requireStreamSocket(fd: number, listening: boolean, what: string): FdDescription {
  const description = describeFd(fd); // throws EBADF for a closed fd
  const isStream = (description.kind === 'tcp' || description.kind === 'unix') && description.socketType === 'stream';
  if (!isStream || description.listening !== listening) {
    const found = description.kind === 'tcp' || description.kind === 'unix'
      ? `a ${description.kind} ${description.socketType} socket${description.listening ? ' (listening)' : ''}`
      : `${description.kind === 'other' ? 'something else' : `a ${description.kind}`} (${description.target})`;
    throw new FdlabError('ERR_FD_WRONG_KIND', `${what}: fd ${fd} is ${found}, not a ${listening ? 'listening' : 'connected'} stream socket`);
  }
  return description;
}

/**
 * requireStreamSocket for many fds at once: one native call that asks the
 * kernel three questions per fd (a tenth of what describing each costs); only
 * a bad one is described, for the error.
 */
export function requireStreamSockets(fds: readonly number[], listening: boolean, what: (index: number) => string): void {
  const bad = binding.firstNotStreamSocket(Int32Array.from(fds), fds.length, listening);
  if (bad < 0) return;
  requireStreamSocket(fds[bad], listening, what(bad));
  // The two checks disagree only for a socket family neither expects (netlink, vsock): refuse it too.
  throw new FdlabError('ERR_FD_WRONG_KIND', `${what(bad)}: fd ${fds[bad]} is not a ${listening ? 'listening' : 'connected'} inet or unix stream socket`);
}

/** Wraps a connected TCP or Unix stream socket fd; the socket now owns the fd. */
export function adoptSocket(fd: number, options: AdoptSocketOptions = {}): net.Socket {
  checkNodeInternals();
  requireStreamSocket(fd, false, 'adoptSocket');
  return wrapSocket(fd, options);
}

/** adoptSocket without the kind check, for fds already checked (the handover checks each as it arrives). */
export function wrapSocket(fd: number, options: AdoptSocketOptions = {}): net.Socket {
  const socket = new net.Socket({
    fd,
    readable: true,
    writable: true,
    allowHalfOpen: options.allowHalfOpen ?? false,
    ...(options.manualStart ? { manualStart: true } : {}),
  } as net.SocketConstructorOpts);
  trackWrites(socket);
  if (options.unread && options.unread.length > 0) socket.unshift(options.unread);
  if (options.unsent && options.unsent.length > 0) socket.write(options.unsent);
  if (options.writeEnd && options.writeEnd !== 'open') socket.end();
  return socket;
}

/**
 * Serves on an inherited listening socket fd; resolves once Node listens on
 * it. `backlog`: the accept queue's length to set again, since Node's
 * listen({ fd }) resets it to 511 whatever the socket had (and ignores the
 * option); default: leave Node's.
 */
export async function adoptServer(fd: number, server: net.Server = net.createServer(), backlog?: number): Promise<net.Server> {
  requireStreamSocket(fd, true, 'adoptServer');
  const queue = backlog === undefined ? undefined : resolveBacklog(backlog).backlog;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (queue !== undefined) setBacklog(server, queue);
  return server;
}
