// One sendmsg / recvmsg carrying fds (SCM_RIGHTS). Synchronous, for
// non-blocking fds: EAGAIN is thrown (err.code === 'EAGAIN'), never waited on.
// FdChannel (src/channel) is the waiting, framed, unlimited form.
import { binding } from '../native/binding';
import { codedError, fdsToInt32 } from './fds';

/** The kernel's limit of fds in one message (SCM_MAX_FD). */
export const SCM_MAX_FD = binding.SCM_MAX_FD;

const DEFAULT_MAX_DATA = 64 * 1024;
const MAX_DATA_LIMIT = 64 * 1024 * 1024;

export interface ReceivedFds {
  /** The bytes that came with the fds; empty (with no fds) when the peer closed. */
  data: Buffer;
  /** The new fds, close-on-exec, now owned by the caller. */
  fds: number[];
}

export interface RecvFdsOptions {
  /** Largest number of data bytes to read (default 64 KiB). */
  maxData?: number;
  /** Largest number of fds to accept; more is a truncation error (default 253). */
  maxFds?: number;
}

// ---- sending

// Sending never holds more than SCM_MAX_FD: longer lists are refused first.
const sendScratch = new Int32Array(SCM_MAX_FD);

function send(channelFd: number, fds: readonly number[], data: Buffer | string, checkUnix: boolean): number {
  if (Array.isArray(fds) && fds.length > SCM_MAX_FD) {
    throw codedError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `One message carries at most 253 fds (SCM_MAX_FD); got ${fds.length}. ` +
        'Split the batch, or use FdChannel which splits and rejoins it.',
    );
  }
  fdsToInt32(fds, sendScratch);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return binding.sendFdsFrom(channelFd, sendScratch, fds.length, bytes, checkUnix);
}

/**
 * Sends up to 253 fds with `data` (at least one byte) in one message.
 * Returns how many bytes of `data` the kernel took; the fds went with the first.
 */
export function sendFds(channelFd: number, fds: readonly number[], data: Buffer | string = 'F'): number {
  return send(channelFd, fds, data, true);
}

/**
 * @internal sendFds minus its per-message getsockopt(SO_DOMAIN), for FdChannel,
 * which proved its socket AF_UNIX once at construction. Deliberately not
 * exported from the package: on any other socket the kernel drops the fds
 * without an error, which is what that check exists to prevent.
 */
export function sendFdsOverUnixSocket(channelFd: number, fds: readonly number[], data: Buffer): number {
  return send(channelFd, fds, data, false);
}

/**
 * @internal FdChannel's send: `data[offset..]` with `fds[0..count)` (already
 * validated) on its first byte, no AF_UNIX check (as sendFdsOverUnixSocket).
 * Returns the bytes the kernel took, or -1 when the socket is full: on that
 * path EAGAIN is routine, and a thrown one costs more than the send itself.
 */
export function trySendFdsOverUnixSocket(channelFd: number, fds: Int32Array, count: number, data: Uint8Array, offset: number): number {
  return binding.trySendFdsFrom(channelFd, fds, count, data, offset);
}

// ---- receiving

/**
 * recvFds for hot loops: one recvmsg straight into memory the caller owns and
 * reuses, creating no JS objects. Afterwards counts[0] is the number of bytes
 * written to `data` and counts[1] the number of fds written to `fds` (new,
 * close-on-exec, owned by the caller); [0, 0] means the peer closed.
 *
 * Accepts up to min(fds.length, 253) fds. More, or truncated control data,
 * is ERR_FD_CTRUNC with every fd that arrived already closed, as in recvFds.
 *
 *     const data = Buffer.alloc(1);
 *     const fds = new Int32Array(SCM_MAX_FD);
 *     const counts = new Int32Array(2);
 *     recvFdsInto(channelFd, data, fds, counts);
 *     // ... use fds[0 .. counts[1]), then closeFds(fds, counts[1])
 */
export function recvFdsInto(channelFd: number, data: Uint8Array, fds: Int32Array, counts: Int32Array): void {
  binding.recvFdsInto(channelFd, data, fds, counts);
}

/**
 * @internal recvFdsInto for FdChannel: returns the bytes read (0 with no fds:
 * the peer closed), or -1 when nothing is queued (EAGAIN) instead of throwing,
 * since an event-driven reader meets that once per wakeup.
 */
export function tryRecvFdsInto(channelFd: number, data: Uint8Array, fds: Int32Array, counts: Int32Array): number {
  return binding.tryRecvFdsInto(channelFd, data, fds, counts);
}

// recvFds reads through recvFdsInto into these and copies out only what
// arrived: no zero-filled buffer per call, and no caller ever holds memory
// that a later call overwrites. The data scratch grows to the largest maxData
// asked for (FdChannel asks 256 KiB), at most MAX_DATA_LIMIT.
let scratchData = Buffer.allocUnsafe(0);
let dataView = scratchData; // the first maxData bytes of scratchData, reused while maxData repeats
const scratchFds = new Int32Array(SCM_MAX_FD);
const fdViews: Int32Array[] = []; // fdViews[n]: the first n of scratchFds
const counts = new Int32Array(2);

function integerOption(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') {
    throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be an integer`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw codedError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `The "${name}" argument must be an integer >= ${min} and <= ${max}. Received ${value}`,
    );
  }
  return value;
}

/**
 * Receives one message. MSG_CMSG_CLOEXEC is set; if the control data was
 * truncated (err.code 'ERR_FD_CTRUNC') every fd that arrived is closed first.
 */
export function recvFds(channelFd: number, options: RecvFdsOptions = {}): ReceivedFds {
  const maxData = integerOption(options.maxData ?? DEFAULT_MAX_DATA, 'maxData', 1, MAX_DATA_LIMIT);
  const maxFds = integerOption(options.maxFds ?? SCM_MAX_FD, 'maxFds', 0, SCM_MAX_FD);
  if (dataView.length !== maxData) {
    if (scratchData.length < maxData) scratchData = Buffer.allocUnsafeSlow(maxData);
    dataView = scratchData.subarray(0, maxData);
  }
  recvFdsInto(channelFd, dataView, (fdViews[maxFds] ??= scratchFds.subarray(0, maxFds)), counts);
  const fds: number[] = [];
  for (let i = 0; i < counts[1]; i++) fds.push(scratchFds[i]);
  return { data: Buffer.from(dataView.subarray(0, counts[0])), fds };
}

/** Seed 000's send_fd(chan, fd): throws instead of returning non-zero. */
export function sendFd(channelFd: number, fdToSend: number): void {
  sendFds(channelFd, [fdToSend]);
}

/**
 * Seed 000's recv_fd(chan): the new fd (a different number, the same open
 * file). Throws if the peer closed, or sent no fd, instead of returning -1.
 */
export function recvFd(channelFd: number): number {
  const { data, fds } = recvFds(channelFd, { maxData: 1, maxFds: 1 });
  if (fds.length === 1) return fds[0];
  throw data.length === 0
    ? codedError(Error, 'ERR_CHANNEL_CLOSED', 'recvFd: the peer closed the channel before sending an fd')
    : codedError(Error, 'ERR_NO_FD', 'recvFd: a message arrived with no fd');
}
