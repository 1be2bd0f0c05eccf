// A picture of live processes' fd tables at one step of a lab: each role's
// fds (the ones the lab cares about) and what they point at, read from
// /proc by host pid while the roles wait at that step. Saved in
// captures/lab<n>/fd-tables.json; drawn by fd-picture-text.ts and
// src/strace/fd-picture-svg.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readFdTable, readSockets, type ProcFd, type ProcSocket } from './proc-table';
import type { Role } from '../runtime/types';

export const FD_TABLES_FILE = 'fd-tables.json';

/** What one or more fds point at: an open file description (a file) or a socket. */
export interface FdObject {
  /** "socket:[61530]" or "file:<inode>". */
  key: string;
  kind: 'file' | 'tcp' | 'unix' | 'socket';
  inode: number;
  /** "/tmp/sender-private-x/tmp.txt", "TCP 127.0.0.1:7000 (listening)", "TCP 127.0.0.1:35634->127.0.0.1:9999". */
  label: string;
  /** Files: the shared offset (fdinfo pos) and the size. */
  offset?: number;
  size?: number;
  /** TCP: ss Send-Q and Recv-Q (for a listener, Recv-Q is connections waiting for accept). */
  sendQueue?: number;
  receiveQueue?: number;
}

export interface FdRef {
  fd: number;
  object: string;
  /** Files: this fd's offset as its fdinfo says (one open file description, one offset). */
  pos?: number;
}

export interface ProcessFds {
  role: string;
  /** Host pid; null when the role had exited by then. */
  pid: number | null;
  fds: FdRef[];
}

export interface FdSnapshot {
  /** Short id ("before", "after"). */
  key: string;
  /** What the moment is: "before the receiver reads". */
  title: string;
  at: string;
  processes: ProcessFds[];
  objects: Record<string, FdObject>;
  /** Set when running roles' tables could not be read from here, and why. */
  unseen?: string;
}

export interface FdTablesFile {
  lab: number;
  runtime: string;
  snapshots: FdSnapshot[];
}

/** Which fds a picture shows: sockets of these kinds, and files whose path matches. */
export interface FdFilter {
  sockets?: ReadonlyArray<'tcp' | 'unix'>;
  files?: RegExp;
}

function objectOf(entry: ProcFd, sockets: ReadonlyMap<number, ProcSocket>): FdObject {
  if (entry.kind === 'file') {
    return { key: `file:${entry.inode}`, kind: 'file', inode: entry.inode, label: entry.target, offset: entry.pos, size: entry.size };
  }
  const socket = sockets.get(entry.inode);
  const key = entry.target;
  if (!socket) return { key, kind: 'socket', inode: entry.inode, label: `socket (in no namespace the lab can see)` };
  if (socket.protocol === 'unix') return { key, kind: 'unix', inode: entry.inode, label: `UNIX ${socket.local}${socket.listening ? ' (listening)' : ''}` };
  const ends = socket.listening ? `${socket.local} (listening)` : `${socket.local}->${socket.remote}`;
  return { key, kind: 'tcp', inode: entry.inode, label: `TCP ${ends}`, sendQueue: socket.sendQueue, receiveQueue: socket.receiveQueue };
}

function wanted(object: FdObject, filter: FdFilter): boolean {
  if (object.kind === 'file') return filter.files?.test(object.label) ?? false;
  return object.kind !== 'socket' && (filter.sockets ?? []).includes(object.kind);
}

/**
 * Reads the fd tables of `roles` now. `everyRole`: all of the lab's roles,
 * whose network namespaces are searched for the sockets' addresses and queues.
 */
export async function takeFdSnapshot(key: string, title: string, roles: readonly Role[], everyRole: readonly Role[], filter: FdFilter): Promise<FdSnapshot> {
  const pids = new Map<Role, number | null>();
  for (const role of new Set([...roles, ...everyRole])) pids.set(role, await role.hostPid().catch(() => null));
  const sockets = readSockets([...pids.values()].filter((pid): pid is number => pid !== null));
  const objects: Record<string, FdObject> = {};
  const processes = roles.map((role): ProcessFds => {
    const pid = pids.get(role) ?? null;
    const table = pid === null ? null : readFdTable(pid);
    if (!table) return { role: role.name, pid: null, fds: [] };
    const fds: FdRef[] = [];
    for (const entry of table.filter((e) => e.kind !== 'other')) {
      const object = objectOf(entry, sockets);
      if (!wanted(object, filter)) continue;
      objects[object.key] ??= object;
      fds.push({ fd: entry.fd, object: object.key, ...(entry.kind === 'file' ? { pos: entry.pos } : {}) });
    }
    return { role: role.name, pid, fds };
  });
  const hidden = roles.filter((role) => role.exitCode === null && pids.get(role) === null).map((role) => role.name);
  const unseen = hidden.length
    ? `cannot read ${hidden.join(' and ')}'s fd table from here: this process does not see their pids (it runs in another pid namespace than the Docker engine's, as in a devcontainer or with Docker Desktop); to look, use docker exec -it <container> sh, then ls -l /proc/*/fd`
    : undefined;
  return { key, title, at: new Date().toISOString(), processes, objects, ...(unseen ? { unseen } : {}) };
}

/** Why some of these snapshots could not see the roles' fd tables, if they could not: their checks are skipped with it. */
export function unseenIn(...snapshots: readonly FdSnapshot[]): string | undefined {
  return snapshots.find((s) => s.unseen)?.unseen;
}

export function writeFdTables(dir: string, file: FdTablesFile): void {
  fs.writeFileSync(path.join(dir, FD_TABLES_FILE), JSON.stringify(file, null, 2) + '\n');
}

/** The snapshots saved in `dir`, or none. */
export function readFdTables(dir: string): FdSnapshot[] {
  const file = path.join(dir, FD_TABLES_FILE);
  if (!fs.existsSync(file)) return [];
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as FdTablesFile).snapshots;
}
