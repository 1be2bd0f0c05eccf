// The one place that touches Node's undocumented socket internals. Moving a
// live connection between processes needs a few of them: the libuv handle
// behind a net.Socket (`_handle`: its fd, readStart/readStop, the `reading`
// mark net.js keeps on it, writeQueueSize, the write methods stream_base
// dispatches to), the stream states (`_readableState.ended`,
// `_writableState.ending/finished`), `_read`, and `writableBuffer`.
//
// They are stable from Node 20 to 24, but nothing promises it. So
// checkNodeInternals() looks for every one of them once, on a real socket,
// and throws ERR_NODE_INTERNALS naming what is missing: a Node that changed
// them refuses at start (Upgrader.start, the first detachSocket/adoptSocket)
// instead of rolling back every upgrade with a confusing error.
import * as net from 'node:net';
import { FdlabError } from '../errors';
import { closeQuietly, socketpair } from '../fd/fds';

/** The libuv stream handle behind a net.Socket (TCP or Pipe). */
export interface StreamHandle {
  fd: number;
  /** net.js's own mark: true while the handle reads (tryReadStart sets it). */
  reading: boolean;
  /** Bytes of the current write libuv still holds (the kernel's buffer was full). */
  writeQueueSize?: number;
  readStart(): number;
  readStop(): number;
  [method: string]: unknown;
}

export type InternalSocket = net.Socket & {
  _handle: StreamHandle | null;
  _read: (size: number) => void;
  _readableState: { ended: boolean; reading: boolean };
  _writableState: { ending: boolean; finished: boolean };
  writableBuffer?: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>;
};

/** The handle's methods that write: write-tracker wraps them to remember what libuv holds. */
export const WRITE_METHODS = ['writeBuffer', 'writev', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String'] as const;

/** The handle behind a socket or a listening server, or null (closed, connecting, not fd-backed). */
export function handleOf(target: net.Socket | net.Server): StreamHandle | null {
  return (target as unknown as { _handle: StreamHandle | null })._handle ?? null;
}

/** Bytes of a write libuv still holds for this socket (0 when none, or no handle). */
export function writeQueueSize(socket: net.Socket): number {
  return handleOf(socket)?.writeQueueSize ?? 0;
}

/** The chunks the stream queues behind the write libuv holds. */
export function writableBuffer(socket: net.Socket): Array<{ chunk: Buffer | string; encoding: BufferEncoding }> {
  return (socket as InternalSocket).writableBuffer ?? [];
}

/** The peer's FIN has been read (the readable side ended), even if the app has not consumed it yet. */
export function readEnded(socket: net.Socket): boolean {
  return socket.readableEnded || (socket as InternalSocket)._readableState.ended;
}

export function writeEnding(socket: net.Socket): { ending: boolean; finished: boolean } {
  const state = (socket as InternalSocket)._writableState;
  return { ending: state.ending, finished: state.finished };
}

/** Stops reading at the handle (pause() would not), so that nothing restarts it; returns the undo. */
export function stopReading(socket: net.Socket, handle: StreamHandle): () => void {
  const internal = socket as InternalSocket;
  const wasReading = handle.reading;
  handle.reading = false;
  handle.readStop();
  internal._read = () => {}; // read() must not start the handle again
  return () => {
    // Back to net.Socket.prototype._read by assignment: a delete turns the socket into a
    // dictionary-mode object (slower on every later access): 11 us a resume, 114 ms at 10,000.
    internal._read = Object.getPrototypeOf(internal)._read;
    // A read() while stopped (the app's resume(), a 'data' listener added) called
    // the no-op above, and the stream stays marked as reading until a push that
    // never comes: every later read() then skips _read, so a socket the app had
    // paused never reads again once it resumes. Measured: a slow reader (4 KB
    // receive buffer) whose app paused on a full write buffer before the commit
    // stalled after the handover with ~200,000 of 1,000,000 pings unanswered.
    internal._readableState.reading = false;
    if (wasReading && internal._handle) startReading(internal._handle);
  };
}

/**
 * Calls `before(fd)` just before Node closes the socket's fd (destroy(), or
 * an error), while the fd is still open. A throw in it is swallowed: the
 * close goes on.
 */
export function beforeFdClose(socket: net.Socket, before: (fd: number) => void): void {
  const handle = handleOf(socket);
  const close = handle?.close as ((this: StreamHandle, ...args: unknown[]) => unknown) | undefined;
  if (!handle || typeof close !== 'function') return;
  handle.close = function (this: StreamHandle, ...args: unknown[]) {
    try {
      if (typeof this.fd === 'number' && this.fd >= 0) before(this.fd);
    } catch {
      // Best effort: the socket closes anyway.
    }
    return close.apply(this, args);
  };
}

/**
 * Calls `used()` each time the socket's handle hands Node bytes it read from
 * the kernel (onread) or takes a write, before Node goes on with it.
 */
export function onHandleUse(socket: net.Socket, used: () => void): void {
  const handle = handleOf(socket);
  if (!handle) return;
  for (const method of ['onread', ...WRITE_METHODS]) {
    const original = handle[method] as ((this: unknown, ...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    handle[method] = function (this: unknown, ...args: unknown[]) {
      used();
      return original.apply(this, args);
    };
  }
}

/** Starts the handle reading, marked as net.js marks it. */
export function startReading(handle: StreamHandle): void {
  handle.reading = true;
  handle.readStart();
}

let checked: FdlabError | null | undefined;

/** What checkNodeInternals finds missing on this Node ([] when all is there). */
export function missingNodeInternals(): string[] {
  const [ours, theirs] = socketpair();
  const socket = new net.Socket({ fd: ours, readable: true, writable: true }) as InternalSocket; // reads at once
  try {
    const handle = socket._handle;
    if (!handle || typeof handle !== 'object') return ['net.Socket._handle'];
    const missing: string[] = [];
    const need = (ok: boolean, what: string) => ok || missing.push(what);
    need(typeof handle.fd === 'number' && handle.fd === ours, '_handle.fd');
    need(handle.reading === true, '_handle.reading (set while reading)');
    need(typeof handle.writeQueueSize === 'number', '_handle.writeQueueSize');
    for (const method of ['readStart', 'readStop', 'close', 'onread', ...WRITE_METHODS]) need(typeof handle[method] === 'function', `_handle.${method}()`);
    need(typeof socket._read === 'function' && !Object.hasOwn(socket, '_read'), 'net.Socket.prototype._read');
    need(typeof socket._readableState?.ended === 'boolean', '_readableState.ended');
    need(typeof socket._readableState?.reading === 'boolean', '_readableState.reading');
    need(typeof socket._writableState?.ending === 'boolean' && typeof socket._writableState?.finished === 'boolean', '_writableState.ending/finished');
    need(Array.isArray(socket.writableBuffer), 'writableBuffer');
    return missing;
  } finally {
    socket.destroy();
    closeQuietly([theirs]);
  }
}

/**
 * Throws ERR_NODE_INTERNALS (the same error every time) if this Node lacks an
 * internal fdlab relies on. Looks once; cheap after that.
 */
export function checkNodeInternals(): void {
  if (checked === undefined) {
    const missing = missingNodeInternals();
    checked = missing.length === 0 ? null : new FdlabError(
      'ERR_NODE_INTERNALS',
      `fdlab cannot move sockets on Node ${process.version}: its net.Socket lacks ${missing.join(', ')}, ` +
        'which detaching, holding and adopting connections rely on; use a Node fdlab supports (20, 22 or 24) or an fdlab release for this Node',
    );
  }
  if (checked) throw checked;
}
