// fd housekeeping: pairs, copies, closing, flags, and taking an fd from
// another process without its help.
import { codedError } from '../errors';
import { binding } from '../native/binding';

export type SocketPairType = 'stream' | 'dgram' | 'seqpacket';

/** @internal A TypeError or RangeError carrying a Node-style err.code (one of ERRORS). */
export { codedError };

/** Whether `value` can be an fd number (not whether one is open). */
function isFd(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0x7fffffff;
}

/**
 * @internal Copies `fds` into `scratch` (or a new array when it is too small)
 * for the native layer. Validating here is cheaper than element by element
 * through N-API, and necessary: an Int32Array would silently turn 2 ** 32 + 3
 * into fd 3 and NaN into fd 0.
 */
export function fdsToInt32(fds: readonly number[], scratch: Int32Array): Int32Array {
  if (!Array.isArray(fds)) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'The "fds" argument must be an array of fds');
  }
  const into = fds.length <= scratch.length ? scratch : new Int32Array(fds.length);
  for (let i = 0; i < fds.length; i++) {
    const fd: unknown = fds[i];
    if (!isFd(fd)) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `fds[${i}] is not a file descriptor: ${String(fd)}`);
    }
    into[i] = fd;
  }
  return into;
}

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

// Big enough for any one message's fds; longer lists get a one-off array
// rather than growing this for the life of the process.
const closeScratch = new Int32Array(binding.SCM_MAX_FD);

/**
 * Closes a batch of fds in one native call and returns how many were not
 * open (already closed, or never were). Throws only for a value that is not
 * an fd number (ERR_INVALID_ARG_TYPE), and then before closing any.
 *
 * Given an Int32Array, as filled by recvFdsInto, closes fds[0..count) with no
 * copy and no allocation: the hot-loop form.
 */
export function closeFds(fds: readonly number[]): number;
export function closeFds(fds: Int32Array, count?: number): number;
export function closeFds(fds: readonly number[] | Int32Array, count?: number): number {
  if (fds instanceof Int32Array) return binding.closeFds(fds, count ?? fds.length);
  return binding.closeFds(fdsToInt32(fds, closeScratch), fds.length);
}

/** Closes every fd, ignoring the ones already closed: for cleanup paths. */
export function closeQuietly(fds: Iterable<number>): void {
  // A value that is not an fd number cannot be open either: a cleanup path
  // skips it rather than throw before closing the rest.
  closeFds(Array.from(fds).filter(isFd));
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
