// The other half of a handover: a received fd becomes an ordinary
// net.Socket or net.Server that owns it from now on.
import * as net from 'node:net';
import { FdlabError } from '../errors';
import { describeFd, type FdDescription } from '../fd/inspect';

export interface AdoptSocketOptions {
  /** Bytes the previous owner had read but not processed: delivered first. */
  unread?: Buffer;
  allowHalfOpen?: boolean;
}

function requireStreamSocket(fd: number, listening: boolean, what: string): FdDescription {
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

/** Wraps a connected TCP or Unix stream socket fd; the socket now owns the fd. */
export function adoptSocket(fd: number, options: AdoptSocketOptions = {}): net.Socket {
  requireStreamSocket(fd, false, 'adoptSocket');
  const socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: options.allowHalfOpen ?? false });
  if (options.unread && options.unread.length > 0) socket.unshift(options.unread);
  return socket;
}

/** Serves on an inherited listening socket fd; resolves once Node listens on it. */
export async function adoptServer(fd: number, server: net.Server = net.createServer()): Promise<net.Server> {
  requireStreamSocket(fd, true, 'adoptServer');
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
