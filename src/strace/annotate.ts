// Which fd in one process became which fd in another. The kernel delivers a
// Unix stream socket's fds in the order they were sent, so on one connection
// the n-th fd sent is the n-th received; what strace printed about each fd
// (inode, endpoints, path) confirms a pairing, or rules a candidate out when
// a capture missed some calls or the channel's ends could not be matched.
import { identify, type FdIdentity, type TracedFd } from './decoration';
import type { FdPassingEvent } from './parse';
import type { RolePid } from './timeline';

export interface RoleCapture {
  role: string;
  events: readonly FdPassingEvent[];
}

/** One fd in one sendmsg or recvmsg. */
export interface FdEnd {
  role: string;
  pid: number;
  /** undefined: strace did not print it (the array was cut at -s), only counted it. */
  fd?: TracedFd;
  event: FdPassingEvent;
}

/**
 * How a pairing is known: the same inode, the same TCP/UDP endpoints or the
 * same file on both sides, or only the position on the channel (strace showed
 * the two ends differently, e.g. endpoints on one side and an inode on the other).
 */
export type PairBasis = 'inode' | 'endpoints' | 'path' | 'order';

export interface FdPair {
  /** null: received from a sender that is in none of the captures. */
  sent: FdEnd | null;
  /** null: no capture shows it arriving. */
  received: FdEnd | null;
  basis: PairBasis | null;
}

interface Slot extends FdEnd {
  micros: number;
  channel: FdIdentity;
}

function micros(time: string): number {
  const match = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(time);
  return match ? ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1e6 : 0;
}

/** Every fd of every `syscall` event, printed or not, ordered by time (stable for equal times). */
function slots(captures: readonly RoleCapture[], syscall: FdPassingEvent['syscall']): Slot[] {
  return captures
    .flatMap(({ role, events }) =>
      events
        .filter((event) => event.syscall === syscall)
        .flatMap((event) => {
          const common = { role, pid: event.pid, event, micros: micros(event.time), channel: identify(event.channel) };
          return Array.from({ length: event.fdCount }, (_, i) => ({ ...common, fd: event.fds[i] }));
        }),
    )
    .sort((a, b) => a.micros - b.micros);
}

/** Whether the sending end's channel is connected to the receiving end's (unknown counts as yes). */
function connected(sender: FdIdentity, receiver: FdIdentity): boolean {
  if (sender.peerInode !== undefined && receiver.inode !== undefined) return sender.peerInode === receiver.inode;
  if (sender.inode !== undefined && receiver.peerInode !== undefined) return sender.inode === receiver.peerInode;
  return true;
}

/** What both sides printed that proves them one open file, or null if nothing does. */
function evidence(a: TracedFd, b: TracedFd): PairBasis | null {
  if (a.inode !== undefined && a.inode === b.inode) return 'inode';
  if (a.local !== undefined && a.local === b.local && a.remote === b.remote) return 'endpoints';
  // A Unix socket's path is shared by every connection accepted on it: only a file's proves anything.
  if (a.kind === 'file' && a.path === b.path) return 'path';
  return null;
}

const agree = (x: unknown, y: unknown) => x === undefined || y === undefined || x === y;

/** False when what both sides printed rules out one open file. */
function compatible(a: TracedFd | undefined, b: TracedFd | undefined): boolean {
  if (!a || !b) return true;
  if (a.inode !== undefined && b.inode !== undefined) return a.inode === b.inode;
  const kinds = a.kind === b.kind || a.kind === 'other' || b.kind === 'other';
  return kinds && agree(a.local, b.local) && agree(a.path, b.path);
}

function end({ role, pid, fd, event }: Slot): FdEnd {
  return { role, pid, fd, event };
}

/**
 * Pairs every fd sent in the captures with the earliest unclaimed received
 * fd on a connected channel that nothing rules out. Pairs where strace
 * printed neither fd (beyond -s) are left out unless `unprinted` (a picture
 * draws every fd that was handed over, numbers known or not).
 */
export function pairPassedFds(captures: readonly RoleCapture[], { unprinted = false } = {}): FdPair[] {
  const received = slots(captures, 'recvmsg');
  const claimed = new Array<boolean>(received.length).fill(false);
  const pairs: FdPair[] = [];
  for (const sent of slots(captures, 'sendmsg')) {
    const i = received.findIndex((r, k) => !claimed[k] && connected(sent.channel, r.channel) && compatible(sent.fd, r.fd));
    if (i >= 0) claimed[i] = true;
    const got = received[i];
    if (!sent.fd && !got?.fd && !unprinted) continue;
    const basis = got ? (sent.fd && got.fd && evidence(sent.fd, got.fd)) || 'order' : null;
    pairs.push({ sent: end(sent), received: got ? end(got) : null, basis });
  }
  received.forEach((r, k) => {
    if (!claimed[k] && r.fd) pairs.push({ sent: null, received: end(r), basis: null });
  });
  return pairs;
}

/** `<TCP 127.0.0.1:35634->127.0.0.1:9999>`, `<TCP inode 61530>`, `</tmp/private.txt>`. */
export function describeTracedFd(fd: TracedFd): string {
  if (fd.kind === 'file') return `<${fd.path}>`;
  if (fd.kind === 'other') return fd.raw.slice(String(fd.fd).length) || '<?>';
  const type = fd.kind.replace(/6$/, 'v6').toUpperCase();
  const where = fd.local !== undefined ? [fd.local, fd.remote].filter(Boolean).join('->') : fd.path;
  return `<${[type, where, fd.inode !== undefined ? `inode ${fd.inode}` : ''].filter(Boolean).join(' ')}>`;
}

/** A role and its pid; in a container, the host's pid too (the one the fd tables show). */
function who(side: FdEnd, pids: readonly RolePid[]): string {
  const host = pids.find((p) => p.role === side.role && p.pid === side.pid && p.hostPid !== p.pid);
  return `${side.role} (pid ${side.pid}${host ? `, host ${host.hostPid}` : ''})`;
}

const NOT_PRINTED = 'an fd strace did not print (cut at -s)';

function fdText(side: FdEnd): string {
  return side.fd ? `fd ${side.fd.fd} ${describeTracedFd(side.fd)}` : NOT_PRINTED;
}

function why(basis: PairBasis | null, fd: TracedFd | undefined): string {
  switch (basis) {
    case 'inode':
      return fd?.kind === 'other' ? `same inode ${fd.inode}` : `same socket, inode ${fd?.inode}`;
    case 'endpoints':
      return 'same endpoints';
    case 'path':
      return 'same file';
    default:
      return 'paired by order on the channel';
  }
}

/** One line for a person: who sent which fd, and which number it became on the other side. */
export function formatPair(pair: FdPair, pids: readonly RolePid[] = []): string {
  const { sent, received } = pair;
  if (!received) return sent ? `${who(sent, pids)} sent ${fdText(sent)} -> no capture shows it arriving` : '';
  if (!sent) return `${who(received, pids)} got ${fdText(received)} from a sender in none of the captures`;
  const got = received.fd ? `fd ${received.fd.fd}` : NOT_PRINTED;
  // Only when the two sides do not show the same thing is the receiver's view worth repeating.
  const view = pair.basis === 'order' && received.fd ? ` ${describeTracedFd(received.fd)}` : '';
  return `${who(sent, pids)} sent ${fdText(sent)} -> ${who(received, pids)} got it as ${got}${view} (${why(pair.basis, received.fd)})`;
}
