// Another process's fd table, read from /proc the way `ls -l /proc/<pid>/fd`
// and `cat /proc/<pid>/fdinfo/<fd>` show it. Works from the host for a
// container's process too (by its host pid): /proc needs no namespace entry.
import * as fs from 'node:fs';

export interface ProcFd {
  fd: number;
  /** What /proc/<pid>/fd/<fd> links to: "socket:[61530]", "/tmp/x/tmp.txt", "pipe:[12]", "anon_inode:[eventpoll]". */
  target: string;
  kind: 'socket' | 'file' | 'other';
  /** The socket's inode, or the file's (stat through the link). */
  inode: number;
  /** fdinfo "pos:": the open file description's offset. */
  pos: number;
  /** Regular files: the size, from stat through the link. */
  size?: number;
}

function fdEntry(pid: number, fd: number): ProcFd | null {
  try {
    const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    const pos = Number(/^pos:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? 0);
    const socket = /^socket:\[(\d+)\]$/.exec(target);
    if (socket) return { fd, target, kind: 'socket', inode: Number(socket[1]), pos };
    if (!target.startsWith('/')) return { fd, target, kind: 'other', inode: 0, pos };
    const stat = fs.statSync(`/proc/${pid}/fd/${fd}`);
    return stat.isFile() ? { fd, target, kind: 'file', inode: stat.ino, pos, size: stat.size } : { fd, target, kind: 'other', inode: stat.ino, pos };
  } catch {
    return null; // closed between the listing and the read: it is not in the table any more
  }
}

/** Every open fd of `pid`, by number; null when the process is gone. */
export function readFdTable(pid: number): ProcFd[] | null {
  let names: string[];
  try {
    names = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  return names
    .map(Number)
    .sort((a, b) => a - b)
    .map((fd) => fdEntry(pid, fd))
    .filter((entry): entry is ProcFd => entry !== null);
}

export interface ProcSocket {
  inode: number;
  protocol: 'tcp' | 'tcp6' | 'unix';
  local: string;
  remote: string;
  listening: boolean;
  /** tx_queue: bytes not yet acknowledged by the peer (ss Send-Q). */
  sendQueue: number;
  /** rx_queue: bytes not yet read (ss Recv-Q); for a listener, connections waiting for accept(). */
  receiveQueue: number;
}

function ipv4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

function ipv6(hex: string): string {
  // Four 32-bit words, each in host (little-endian) byte order.
  const bytes = Buffer.from(hex, 'hex');
  for (let i = 0; i < 16; i += 4) bytes.subarray(i, i + 4).reverse();
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return `[${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]`;
}

function endpoint(text: string, six: boolean): string {
  const [address, port] = text.split(':');
  return `${six ? ipv6(address) : ipv4(address)}:${parseInt(port, 16)}`;
}

function readTcp(pid: number, protocol: 'tcp' | 'tcp6', into: Map<number, ProcSocket>): void {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/net/${protocol}`, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
    const six = protocol === 'tcp6';
    into.set(Number(f[9]), { inode: Number(f[9]), protocol, local: endpoint(f[1], six), remote: endpoint(f[2], six), listening: f[3] === '0A', sendQueue: tx, receiveQueue: rx });
  }
}

function readUnix(pid: number, into: Map<number, ProcSocket>): void {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/net/unix`, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    // Flags 00010000 is __SO_ACCEPTCON: a listening socket.
    into.set(Number(f[6]), { inode: Number(f[6]), protocol: 'unix', local: f[7] ?? '(unnamed)', remote: '', listening: f[3] === '00010000', sendQueue: 0, receiveQueue: 0 });
  }
}

/**
 * The sockets of the network namespaces `pids` live in, by inode. A socket is
 * listed in the namespace it was created in, which need not be its owner's
 * (lab 2's receiver has no network, yet holds a TCP socket of the pod's).
 */
export function readSockets(pids: readonly number[]): Map<number, ProcSocket> {
  const sockets = new Map<number, ProcSocket>();
  const seen = new Set<string>();
  for (const pid of pids) {
    let namespace: string;
    try {
      namespace = fs.readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      continue;
    }
    if (seen.has(namespace)) continue;
    seen.add(namespace);
    readTcp(pid, 'tcp', sockets);
    readTcp(pid, 'tcp6', sockets);
    readUnix(pid, sockets);
  }
  return sockets;
}
