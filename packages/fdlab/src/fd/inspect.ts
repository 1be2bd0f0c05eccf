// What an fd is, in the words of ss, strace -yy and /proc/<pid>/fd: the labs
// print these to show that two processes' different numbers are one socket.
import { binding, type RawAddress } from '../native/binding';

export type FdKind = 'tcp' | 'udp' | 'unix' | 'socket' | 'file' | 'dir' | 'pipe' | 'char' | 'block' | 'other';

export interface Endpoint {
  address?: string;
  port?: number;
  /** Unix sockets: the path, '@name' for the abstract namespace, '' if unnamed. */
  path?: string;
}

export interface FdDescription {
  fd: number;
  kind: FdKind;
  /** Inode number: for a socket the N of "socket:[N]" in ls -l /proc/<pid>/fd, ss -e and strace -yy. */
  inode: number;
  /** What /proc/self/fd/<fd> links to. */
  target: string;
  nonBlocking: boolean;
  closeOnExec: boolean;
  /** Regular files: the shared read/write offset and the size. */
  offset?: number;
  size?: number;
  family?: 'inet' | 'inet6' | 'unix' | 'netlink' | 'other';
  socketType?: 'stream' | 'dgram' | 'seqpacket' | 'raw' | 'other';
  listening?: boolean;
  local?: Endpoint | null;
  remote?: Endpoint | null;
}

export function describeFd(fd: number): FdDescription {
  return binding.fdInfo(fd) as FdDescription;
}

/** "127.0.0.1:9999", "[::1]:7000", "/run/fdlab/x.sock", "@abstract", "(unnamed)". */
export function formatEndpoint(endpoint: RawAddress | null | undefined): string {
  if (!endpoint) return '-';
  if (endpoint.path !== undefined) return endpoint.path === '' ? '(unnamed)' : endpoint.path;
  const host = endpoint.address?.includes(':') ? `[${endpoint.address}]` : endpoint.address;
  return `${host}:${endpoint.port}`;
}

/** One line, like strace -yy decorates an fd: "5<TCP:[127.0.0.1:35634->127.0.0.1:9000]> inode 61530". */
export function formatFd(description: FdDescription): string {
  const d = description;
  if (d.kind === 'tcp' || d.kind === 'udp' || d.kind === 'unix') {
    const ends = d.listening ? `${formatEndpoint(d.local)} (listening)` : `${formatEndpoint(d.local)}->${formatEndpoint(d.remote)}`;
    return `${d.fd}<${d.kind.toUpperCase()}:[${ends}]> inode ${d.inode}`;
  }
  if (d.kind === 'file') return `${d.fd}<${d.target}> offset ${d.offset}`;
  return `${d.fd}<${d.target}>`;
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** Who is on the other end of a Unix socket (SO_PEERCRED), as of connect(). */
export function peerCredentials(fd: number): PeerCredentials {
  return binding.peerCred(fd);
}

/** Bytes waiting in the kernel: unread (SIOCINQ) and unacknowledged (SIOCOUTQ). */
export function queuedBytes(fd: number): { receive: number; send: number } {
  return binding.queuedBytes(fd);
}
