// Taking a live net.Socket away from Node without losing a byte.
//
// Two traps, both measured on Node 20: socket.pause() does not stop libuv
// reading from the kernel (the bytes land in the stream's buffer instead), and
// two net.Sockets on one fd abort the process when one is destroyed. So we stop
// reading at the handle, hand back what Node already read, and return a dup()
// of the fd: destroying the old socket then closes only its own number.
//
// What travels with the connection (MOSN does the same for Go): the bytes read
// but not consumed, the bytes written but not yet in the kernel, whether the
// app had called end(), and whether the peer's FIN had been read.
import * as net from 'node:net';
import { FdlabError } from '../errors';
import { dup } from '../fd/fds';
import { checkNodeInternals, handleOf as handleBehind, readEnded, stopReading, writeEnding, type StreamHandle } from './internals';
import { unsentBytes } from './write-tracker';

/** Where the app's writing side stood: still open, end() called with bytes pending, or the FIN sent. */
export type WriteEnd = 'open' | 'ending' | 'ended';

export interface DetachedSocket {
  /** A new fd for the same connection, owned by the caller. */
  fd: number;
  /** Bytes Node had read from the kernel that the application had not consumed. */
  unread: Buffer;
  /** Bytes the app wrote that had not reached the kernel: the next owner writes them first. */
  unsent: Buffer;
  /** The peer's FIN had already been read (the stream ended). */
  ended: boolean;
  writeEnd: WriteEnd;
}

export interface DetachOptions {
  /**
   * Only for sockets whose writes were not tracked (trackWrites): how long to
   * wait for a write libuv holds to reach the kernel (default 5000 ms).
   */
  flushTimeoutMs?: number;
}

function handleOf(socket: net.Socket): StreamHandle {
  if (!(socket instanceof net.Socket)) {
    throw new FdlabError('ERR_INVALID_ARG_TYPE', 'detachSocket needs a net.Socket');
  }
  checkNodeInternals();
  const handle = handleBehind(socket);
  if (socket.destroyed || !handle || typeof handle.fd !== 'number' || handle.fd < 0) {
    throw new FdlabError(
      'ERR_SOCKET_NOT_DETACHABLE',
      'detachSocket: the socket has no open fd (destroyed, still connecting, or not backed by an fd)',
    );
  }
  if (socket.readableEncoding !== null) {
    throw new FdlabError(
      'ERR_SOCKET_NOT_DETACHABLE',
      'detachSocket: setEncoding() was called; buffered text cannot be turned back into the exact bytes',
    );
  }
  return handle;
}

/** For untracked sockets only: waits until libuv has handed its current write to the kernel. */
function flushWrites(socket: net.Socket, timeoutMs: number): Promise<void> {
  if (socket.writableEnded) {
    return Promise.reject(new FdlabError(
      'ERR_SOCKET_WRITES_UNTRACKED',
      'detachSocket: end() was called while libuv still holds part of a write, and trackWrites() was not called on this socket',
    ));
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new FdlabError(
          'ERR_DETACH_FLUSH_TIMEOUT',
          `detachSocket: ${socket.writableLength} bytes still waiting to be written after ${timeoutMs} ms ` +
            '(the peer is not reading, and trackWrites() was not called on this socket, so they cannot travel); ' +
            'the socket was left as it was',
        ),
      );
    }, timeoutMs);
    // Writes complete in order: this callback runs once everything before it is in the kernel.
    socket.write(Buffer.alloc(0), (error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    });
  });
}

/**
 * The connection lives on elsewhere: the app must not see data, an end or a
 * close from this husk (an app counting disconnects would count a false one).
 */
export function silence(socket: net.Socket): void {
  for (const event of ['data', 'readable', 'end', 'close', 'error', 'timeout', 'drain', 'finish']) socket.removeAllListeners(event);
  socket.on('error', () => {});
}

/** Drains Node's readable buffer without letting the stream restart reading or emit to the app. */
function takeUnread(socket: net.Socket): Buffer {
  silence(socket);
  const chunks: Buffer[] = [];
  let chunk: Buffer | null;
  while ((chunk = socket.read() as Buffer | null) !== null) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** The synchronous part: the socket is gone from Node once this returns. */
function take(socket: net.Socket, handle: StreamHandle, unsent: Buffer): DetachedSocket {
  const ended = readEnded(socket);
  const state = writeEnding(socket);
  const writeEnd: WriteEnd = state.finished ? 'ended' : state.ending ? 'ending' : 'open';
  const fd = dup(handle.fd); // may throw EMFILE: nothing has been changed yet
  const unread = takeUnread(socket);
  // destroy() closes only Node's fd number; libuv drops the writes it still
  // held (they are in `unsent`), and no FIN goes out: end() was never called here.
  socket.destroy();
  return { fd, unread, unsent, ended, writeEnd };
}

/**
 * Takes a connection away from Node at once: stops reading at the handle and
 * returns a dup of its fd with every byte read but not consumed and every byte
 * written but not yet in the kernel. The net.Socket is destroyed silently (no
 * 'end' or 'close' reaches its listeners). Throws (leaving the socket reading
 * as before) if it cannot: then the caller still serves it.
 *
 * Needs trackWrites(socket) to have been called when the socket was created,
 * or no write may be half-way in libuv (see detachSocket for that case).
 */
export function detachSocketNow(socket: net.Socket): DetachedSocket {
  const handle = handleOf(socket);
  const unsent = unsentBytes(socket);
  if (unsent === null) {
    throw new FdlabError(
      'ERR_SOCKET_WRITES_UNTRACKED',
      'detaching a socket: libuv holds part of a write and trackWrites() was not called on this socket; use detachSocket(), which waits for it',
    );
  }
  const resume = stopReading(socket, handle);
  try {
    return take(socket, handle, unsent);
  } catch (error) {
    resume();
    throw error;
  }
}

/**
 * Like detachSocketNow, for any socket: when its writes were not tracked and
 * libuv holds part of a write, first waits (up to flushTimeoutMs) until the
 * kernel has it.
 */
export async function detachSocket(socket: net.Socket, options: DetachOptions = {}): Promise<DetachedSocket> {
  const handle = handleOf(socket);
  if (unsentBytes(socket) !== null) return detachSocketNow(socket);
  const resume = stopReading(socket, handle);
  try {
    await flushWrites(socket, options.flushTimeoutMs ?? 5000);
    const still = handleOf(socket); // still open after the wait?
    return take(socket, still, unsentBytes(socket) ?? Buffer.alloc(0));
  } catch (error) {
    resume();
    throw error;
  }
}

/** The fd behind a socket or a listening server, still owned by it (for sending a copy). */
export function fdOf(target: net.Socket | net.Server): number {
  const handle = handleBehind(target);
  if (!handle || typeof handle.fd !== 'number' || handle.fd < 0) {
    throw new FdlabError('ERR_NO_FD', 'fdOf: this socket or server has no open fd (not listening, closed, or Windows-style handle)');
  }
  return handle.fd;
}
