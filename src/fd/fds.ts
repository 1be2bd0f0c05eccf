// fd housekeeping: pairs, copies, closing, flags, and taking an fd from
// another process without its help.
import { binding } from '../native/binding';

export type SocketPairType = 'stream' | 'dgram' | 'seqpacket';

/** A connected pair of Unix sockets, close-on-exec, non-blocking unless asked. */
export function socketpair(type: SocketPairType = 'stream', options: { nonBlocking?: boolean } = {}): [number, number] {
  return binding.socketpair(type, options.nonBlocking ?? true);
}

/** A second fd for the same open file description (F_DUPFD_CLOEXEC). */
export function dup(fd: number): number {
  return binding.dup(fd);
}

export function close(fd: number): void {
  binding.close(fd);
}

/** Closes every fd, ignoring the ones already closed: for cleanup paths. */
export function closeQuietly(fds: Iterable<number>): void {
  for (const fd of fds) {
    try {
      binding.close(fd);
    } catch {
      // Already closed is the state we want.
    }
  }
}

export function setNonBlocking(fd: number, on = true): void {
  binding.setNonBlocking(fd, on);
}

/**
 * Copies fd `targetFd` out of process `pid` with pidfd_getfd (Linux >= 5.6).
 * Needs ptrace rights over that process; the error says which rule refused.
 */
export function takeFdFromProcess(pid: number, targetFd: number): number {
  return binding.pidfdGetfd(pid, targetFd);
}
