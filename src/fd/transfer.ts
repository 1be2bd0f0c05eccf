// One sendmsg / recvmsg carrying fds (SCM_RIGHTS). Synchronous, for
// non-blocking fds: EAGAIN is thrown (err.code === 'EAGAIN'), never waited on.
// FdChannel (src/channel) is the waiting, framed, unlimited form.
import { binding } from '../native/binding';

/** The kernel's limit of fds in one message (SCM_MAX_FD). */
export const SCM_MAX_FD = binding.SCM_MAX_FD;

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

/**
 * Sends up to 253 fds with `data` (at least one byte) in one message.
 * Returns how many bytes of `data` the kernel took; the fds went with the first.
 */
export function sendFds(channelFd: number, fds: readonly number[], data: Buffer | string = 'F'): number {
  return binding.sendFds(channelFd, [...fds], typeof data === 'string' ? Buffer.from(data) : data);
}

/**
 * Receives one message. MSG_CMSG_CLOEXEC is set; if the control data was
 * truncated (err.code 'ERR_FD_CTRUNC') every fd that arrived is closed first.
 */
export function recvFds(channelFd: number, options: RecvFdsOptions = {}): ReceivedFds {
  return binding.recvFds(channelFd, options.maxData ?? 64 * 1024, options.maxFds ?? SCM_MAX_FD);
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
  const error = new Error(
    data.length === 0 ? 'recvFd: the peer closed the channel before sending an fd' : 'recvFd: a message arrived with no fd',
  );
  throw Object.assign(error, { code: data.length === 0 ? 'ERR_CHANNEL_CLOSED' : 'ERR_NO_FD' });
}
