// Stopping a live net.Socket where it stands, so that another process can
// take the connection over while this one keeps it, untouched, to fall back
// on. Unlike detachSocketNow nothing is taken apart: resume() undoes it
// exactly (the app's listeners and state never noticed), drop() lets go of
// it without a FIN (the other process holds the same connection).
//
// Holding is exact only for a socket with nothing in flight inside Node: no
// bytes read but not consumed, no write short of the kernel, no end() under
// way, no FIN read. Those are detached instead (their bytes must travel).
import type * as net from 'node:net';
import { silence } from './detach';
import { handleOf, readEnded, startReading, stopReading, writeQueueSize } from './internals';

export interface HeldSocket {
  readonly socket: net.Socket;
  /** Reads again, and lets out what the app wrote meanwhile. */
  resume(): void;
  /** Closes our fd only; the app sees nothing. */
  drop(): void;
}

/** Stops `socket` reading and writing, or returns null when that would not be exact (detach it instead). */
export function holdSocket(socket: net.Socket): HeldSocket | null {
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
  // serves it: corked, it waits in Node (sent on resume, dropped on drop).
  socket.cork();
  return {
    socket,
    resume: () => {
      restartReading();
      // A socket that never read yet (a handover's fresh wrap) reads once the app listens.
      if (!handle.reading && socket.readableFlowing && !socket.destroyed) startReading(handle);
      socket.uncork();
    },
    drop: () => {
      silence(socket);
      socket.destroy();
    },
  };
}
