// What strace -yy says an fd is: `7</tmp/private.txt>`,
// `5<TCP:[127.0.0.1:35634->127.0.0.1:9000]>`, `5<TCP:[61530]>` (only the
// inode when strace cannot look the socket up: it runs in another network
// namespace than the one the socket was made in, e.g. a --network none
// container), `3<UNIX-STREAM:[12345->12346,"/run/fdlab/x.sock"]>`.

export type TracedFdKind = 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'unix' | 'file' | 'other';

export interface FdIdentity {
  kind: TracedFdKind;
  /** Sockets, pipes: the inode (the N of socket:[N]), when strace printed it. */
  inode?: number;
  /** Unix sockets: the inode of the connected peer end, when strace printed it. */
  peerInode?: number;
  /** Internet sockets: "address:port" of this end (a listener has only this). */
  local?: string;
  remote?: string;
  /** Files: the path; Unix sockets: the bound path. As strace printed it (escapes kept). */
  path?: string;
}

export interface TracedFd extends FdIdentity {
  fd: number;
  /** The fd as strace printed it, e.g. `5<TCP:[61530]>`. */
  raw: string;
}

const INET_KINDS: Record<string, TracedFdKind> = { TCP: 'tcp', TCPv6: 'tcp6', UDP: 'udp', UDPv6: 'udp6' };

function internetIdentity(kind: TracedFdKind, body: string): FdIdentity {
  if (/^\d+$/.test(body)) return { kind, inode: Number(body) };
  const arrow = body.indexOf('->');
  return arrow < 0 ? { kind, local: body } : { kind, local: body.slice(0, arrow), remote: body.slice(arrow + 2) };
}

function unixIdentity(body: string): FdIdentity {
  const match = /^(\d+)(?:->(\d+))?(?:,"(.*)")?$/s.exec(body);
  if (!match) return { kind: 'unix' };
  const [, inode, peer, path] = match;
  return { kind: 'unix', inode: Number(inode), ...(peer ? { peerInode: Number(peer) } : {}), ...(path ? { path } : {}) };
}

/** Reads the text between the outer < and > of a decoration. */
export function identify(decoration: string): FdIdentity {
  const socket = /^([\w-]+):\[(.*)\]$/s.exec(decoration);
  if (socket) {
    const [, type, body] = socket;
    if (INET_KINDS[type]) return internetIdentity(INET_KINDS[type], body);
    if (type.startsWith('UNIX')) return unixIdentity(body);
    return /^\d+$/.test(body) ? { kind: 'other', inode: Number(body) } : { kind: 'other' }; // socket:[N], pipe:[N], anon_inode:[eventfd]
  }
  // Newer strace adds the device to device files: `/dev/null<char 1:3>`.
  if (decoration.startsWith('/')) return { kind: 'file', path: decoration.replace(/<(?:char|block) [^<>]*>$/, '') };
  return { kind: 'other' };
}

/** `5<TCP:[61530]>` as 5 and 'TCP:[61530]'; a bare `5` has no decoration; null for anything else (strace's `...`). */
export function splitDecorated(text: string): { fd: number; decoration?: string } | null {
  const match = /^(\d+)(?:<(.*)>)?$/s.exec(text);
  return match && { fd: Number(match[1]), ...(match[2] === undefined ? {} : { decoration: match[2] }) };
}

export function parseTracedFd(text: string): TracedFd | null {
  const split = splitDecorated(text);
  if (!split) return null;
  const identity: FdIdentity = split.decoration === undefined ? { kind: 'other' } : identify(split.decoration);
  return { fd: split.fd, ...identity, raw: text };
}
