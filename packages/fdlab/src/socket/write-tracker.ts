// Which bytes of a net.Socket's writes are still in user space.
//
// Node hands one write at a time to libuv; when the kernel's send buffer is
// full, libuv keeps the rest of that write (handle.writeQueueSize bytes, the
// tail of it) and Node queues later writes in the stream's buffer. Neither is
// reachable from the socket, so a detach would have to wait until a peer that
// may never read drains them. Instead we remember the data of the write that
// was last handed to the handle: its tail plus the stream's buffer is exactly
// what has not reached the kernel, and it can travel with the connection.
import type * as net from 'node:net';
import { handleOf, writableBuffer, writeQueueSize } from './internals';

type WriteMethod = (req: unknown, data: unknown, ...rest: unknown[]) => number;

/** The string encodings Node's stream_base dispatches to their own handle methods. */
const STRING_WRITES: Record<string, BufferEncoding> = {
  writeUtf8String: 'utf8',
  writeLatin1String: 'latin1',
  writeAsciiString: 'ascii',
  writeUcs2String: 'ucs2',
};

const lastWrite = new WeakMap<net.Socket, () => Buffer>();

/** writev's chunks: all Buffers, or [chunk, encoding, chunk, encoding, ...]. */
function writevBytes(chunks: unknown[], allBuffers: boolean): Buffer {
  if (allBuffers) return Buffer.concat(chunks as Buffer[]);
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks.length; i += 2) {
    const chunk = chunks[i];
    parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, chunks[i + 1] as BufferEncoding));
  }
  return Buffer.concat(parts);
}

/**
 * Starts remembering what `socket` hands to libuv, so that detachSocket can
 * take unsent bytes along instead of waiting for them. Cheap: the bytes are
 * only turned into a Buffer if a detach asks for them. Idempotent.
 *
 * Call it as soon as you have a socket you may later detach (first thing in
 * the server's 'connection' handler, before any write): without it,
 * detachSocket must wait for a write libuv still holds (ERR_DETACH_FLUSH_TIMEOUT
 * when the peer does not read) and detachSocketNow refuses
 * (ERR_SOCKET_WRITES_UNTRACKED). Sockets from adoptSocket and the ones the
 * Upgrader serves are tracked already.
 */
export function trackWrites(socket: net.Socket): void {
  const handle = handleOf(socket);
  if (!handle || lastWrite.has(socket)) return;
  lastWrite.set(socket, () => Buffer.alloc(0));
  const wrap = (method: string, toBytes: (data: unknown, rest: unknown[]) => Buffer) => {
    const original = handle[method] as WriteMethod | undefined;
    if (typeof original !== 'function') return;
    handle[method] = function (this: unknown, req: unknown, data: unknown, ...rest: unknown[]) {
      lastWrite.set(socket, () => toBytes(data, rest));
      return original.call(this, req, data, ...rest);
    };
  };
  wrap('writeBuffer', (data) => data as Buffer);
  for (const [method, encoding] of Object.entries(STRING_WRITES)) wrap(method, (data) => Buffer.from(data as string, encoding));
  wrap('writev', (data, rest) => writevBytes(data as unknown[], rest[0] === true));
}

export function isTracked(socket: net.Socket): boolean {
  return lastWrite.has(socket);
}

/**
 * Bytes written by the app that the kernel does not have yet, in order; or
 * null when libuv holds part of a write and the socket was not tracked.
 */
export function unsentBytes(socket: net.Socket): Buffer | null {
  const inLibuv = writeQueueSize(socket);
  const parts: Buffer[] = [];
  if (inLibuv > 0) {
    const data = lastWrite.get(socket)?.();
    if (!data || data.length < inLibuv) return null;
    parts.push(data.subarray(data.length - inLibuv));
  }
  for (const { chunk, encoding } of writableBuffer(socket)) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding));
  return parts.length === 1 ? Buffer.from(parts[0]) : Buffer.concat(parts);
}

/**
 * How many bytes unsentBytes() would return, without copying them: what libuv
 * holds of its current write and what waits behind it. writableLength counts a
 * write whole until libuv is done with it: an 80 MiB write read 80 MiB until
 * the client had read all of it.
 */
export function unsentLength(socket: net.Socket): number {
  let length = writeQueueSize(socket);
  for (const { chunk, encoding } of writableBuffer(socket)) length += Buffer.isBuffer(chunk) ? chunk.length : Buffer.byteLength(chunk, encoding);
  return length;
}
