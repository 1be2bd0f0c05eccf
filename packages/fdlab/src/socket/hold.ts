// Stopping a live net.Socket where it stands, so that another process can
// take the connection over while this one keeps it, untouched, to fall back
// on. Unlike detachSocketNow nothing is taken apart: resume() undoes it
// exactly (the app's listeners and state never noticed), drop() lets go of
// it without a FIN (the other process holds the same connection).
//
// Holding is exact only for a socket with nothing in flight inside Node: no
// bytes read but not consumed, no write short of the kernel, no end() under
// way, no FIN read. Those are detached instead (their bytes must travel).
//
// The app's writes and end() wait behind a gate (gate.ts) while held: they go
// out in order on resume(), and are refused (ERR_CONNECTION_HANDED_OVER, no
// 'error' event) once handOver() says the other process serves the connection.
import type * as net from 'node:net';
import { silence } from './detach';
import { gate, type Refused } from './gate';
import { handleOf, readEnded, startReading, stopReading, writeQueueSize } from './internals';

export interface HeldSocket {
  readonly socket: net.Socket;
  /** Reads again, and lets out what the app wrote meanwhile (nothing, if it was handed over). */
  resume(): void;
  /** The other process serves it now: the app's writes and end() send nothing, and say so to their callbacks. */
  handOver(): void;
  /** Closes our fd only; the app sees nothing, and its later writes are refused. */
  drop(): void;
}

/**
 * Stops `socket` reading and writing, or returns null when that would not be
 * exact (detach it instead). `refused` counts the app's writes and ends
 * refused once it is handed over.
 */
export function holdSocket(socket: net.Socket, refused?: Refused): HeldSocket | null {
  const handle = handleOf(socket);
  if (
    socket.destroyed || !handle || typeof handle.fd !== 'number' || handle.fd < 0 ||
    socket.readableLength > 0 || socket.writableLength > 0 || writeQueueSize(socket) > 0 ||
    socket.writableEnded || readEnded(socket) || socket.readableEncoding !== null
  ) {
    return null;
  }
  const restartReading = stopReading(socket, handle);
  // A write the app makes now must not reach the peer while the other process
  // serves it: it waits at the gate (sent on resume, refused once handed over).
  // Corked too, for a write that bypasses socket.write().
  const writes = gate(socket, refused);
  socket.cork();
  return {
    socket,
    resume: () => {
      restartReading();
      readIfListening(socket);
      writes.open();
      socket.uncork();
    },
    handOver: () => writes.refuse(),
    drop: () => {
      writes.refuse();
      silence(socket);
      socket.destroy();
    },
  };
}

/** A socket that never read yet (a handover's fresh wrap, manualStart) reads once the app listens. */
export function readIfListening(socket: net.Socket): void {
  const handle = handleOf(socket);
  if (handle && !handle.reading && socket.readableFlowing && !socket.destroyed) startReading(handle);
}
