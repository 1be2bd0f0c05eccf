// Taking a live net.Socket away from Node without losing a byte.
//
// Two traps, both measured on Node 20: socket.pause() does not stop libuv
// reading from the kernel (the bytes land in the stream's buffer instead), and
// two net.Sockets on one fd abort the process when one is destroyed. So we stop
// reading at the handle, hand back what Node already read, and return a dup()
// of the fd: destroying the old socket then closes only its own number.
import * as net from 'node:net';
import { FdlabError } from '../errors';
import { dup } from '../fd/fds';

export interface DetachedSocket {
  /** A new fd for the same connection, owned by the caller. */
  fd: number;
  /** Bytes Node had read from the kernel that the application had not consumed. */
  unread: Buffer;
  /** The peer's FIN had already been read (the stream ended). */
  ended: boolean;
}

export interface DetachOptions {
  /** How long to wait for Node's pending writes to reach the kernel (default 5000 ms). */
  flushTimeoutMs?: number;
}

interface StreamHandle {
  fd: number;
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

type InternalSocket = net.Socket & { _handle: StreamHandle | null; _read: (size: number) => void };

function handleOf(socket: net.Socket): StreamHandle {
  const handle = (socket as InternalSocket)._handle;
  if (!(socket instanceof net.Socket)) {
    throw new FdlabError('ERR_INVALID_ARG_TYPE', 'detachSocket needs a net.Socket');
  }
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

function flushWrites(socket: net.Socket, timeoutMs: number): Promise<void> {
  if (socket.writableLength === 0 || socket.writableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new FdlabError(
          'ERR_DETACH_FLUSH_TIMEOUT',
          `detachSocket: ${socket.writableLength} bytes still waiting to be written after ${timeoutMs} ms ` +
            '(the peer is not reading); the socket was left as it was',
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

/** Drains Node's readable buffer without letting the stream restart reading or emit to the app. */
function takeUnread(socket: InternalSocket): Buffer {
  // The connection lives on elsewhere: the app must not see data, an end or a
  // close from this husk (an app counting disconnects would count a false one).
  for (const event of ['data', 'readable', 'end', 'close', 'error', 'timeout']) socket.removeAllListeners(event);
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  let chunk: Buffer | null;
  while ((chunk = socket.read() as Buffer | null) !== null) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Stops Node from reading `socket`, waits for its queued writes to reach the
 * kernel, and returns a dup of its fd plus every byte read but not consumed.
 * The net.Socket is destroyed silently (no 'end' or 'close' reaches its
 * listeners). On failure the socket is left reading as before.
 */
export async function detachSocket(socket: net.Socket, options: DetachOptions = {}): Promise<DetachedSocket> {
  const handle = handleOf(socket);
  const internal = socket as InternalSocket;
  const wasReading = handle.reading;
  handle.reading = false;
  handle.readStop();
  internal._read = () => {}; // read() below must not start the handle again
  try {
    await flushWrites(socket, options.flushTimeoutMs ?? 5000);
    handleOf(socket); // still open after the wait?
  } catch (error) {
    delete (internal as Partial<InternalSocket>)._read; // back to net.Socket.prototype._read
    if (wasReading && internal._handle) {
      internal._handle.reading = true;
      internal._handle.readStart();
    }
    throw error;
  }
  const ended = socket.readableEnded || (socket as unknown as { _readableState: { ended: boolean } })._readableState.ended;
  const unread = takeUnread(internal);
  const fd = dup(handle.fd);
  socket.destroy();
  return { fd, unread, ended };
}

/** The fd behind a socket or a listening server, still owned by it (for sending a copy). */
export function fdOf(target: net.Socket | net.Server): number {
  const handle = (target as unknown as { _handle: { fd?: number } | null })._handle;
  if (!handle || typeof handle.fd !== 'number' || handle.fd < 0) {
    throw new FdlabError('ERR_NO_FD', 'fdOf: this socket or server has no open fd (not listening, closed, or Windows-style handle)');
  }
  return handle.fd;
}
