// How far processes have read and written a TCP connection, as the kernel
// counts it (native/tcp-state.cc): bytes received minus bytes still queued,
// bytes acknowledged plus bytes still queued to send. Arriving data and ACKs
// move both terms of each sum, so the numbers change only when a process
// reads or writes the socket. A take-back compares them with the ones taken
// when the connection was held: equal, nobody touched it since.
import { fdsToInt32 } from '../fd/fds';
import { binding } from '../native/binding';

/** A connection's use: equal values mean nobody read or wrote it in between. */
export interface TcpUse {
  consumed: number;
  written: number;
}

/** Each fd's use, or null for an fd that is not a TCP socket (or not open). */
export function tcpUseOf(fds: readonly number[]): (TcpUse | null)[] {
  const ints = fdsToInt32(fds, new Int32Array(fds.length));
  const out = new Float64Array(fds.length * 2);
  binding.tcpUse(ints, fds.length, out);
  return fds.map((_, i) => (Number.isNaN(out[2 * i]) ? null : { consumed: out[2 * i], written: out[2 * i + 1] }));
}

export function sameUse(a: TcpUse | null | undefined, b: TcpUse | null | undefined): boolean {
  return !!a && !!b && a.consumed === b.consumed && a.written === b.written;
}

/**
 * Sends the FIN now, even while another process still holds a copy of the
 * socket (close() alone would wait for the last copy). False when it was not
 * connected any more.
 */
export function shutdownBoth(fd: number): boolean {
  return binding.shutdownBoth(fd);
}
