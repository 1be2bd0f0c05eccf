// Typed declaration of the raw C++ binding (native/*.cc). Nothing here adds
// behaviour: src/fd, src/channel and src/socket build the real API on top.
import * as path from 'node:path';
import { codedError } from '../errors';
import { NATIVE_BUILD_ENV, nativeBuildFromEnvironment } from '../environment';

export interface RawAddress {
  address?: string;
  port?: number;
  path?: string;
}

export interface RawFdInfo {
  fd: number;
  kind: string;
  inode: number;
  target: string;
  nonBlocking: boolean;
  closeOnExec: boolean;
  offset?: number;
  size?: number;
  family?: string;
  socketType?: string;
  listening?: boolean;
  local?: RawAddress | null;
  remote?: RawAddress | null;
}

export interface RawPoller {
  start(readable: boolean, writable: boolean): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

/** native/tcp-repair.cc's view of a connection; src/socket/tcp-repair.ts turns the bytes into base64. */
export interface RawTcpRepairState {
  family: 4 | 6;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  recvEnd: number;
  sendEnd: number;
  recvQueue: Buffer;
  sendQueue: Buffer;
  unsent: number;
  mss: number;
  sack: boolean;
  windowScale: boolean;
  sendWindowScale: number;
  recvWindowScale: number;
  timestamps: boolean;
  timestamp: number;
  window: { sndWl1: number; sndWnd: number; maxWindow: number; rcvWnd: number; rcvWup: number };
}

export interface RawBinding {
  SCM_MAX_FD: number;
  /** fds[0..count) must already be valid fd numbers; checkUnix=false skips the AF_UNIX check. */
  sendFdsFrom(channelFd: number, fds: Int32Array, count: number, data: Uint8Array, checkUnix: boolean): number;
  /** Writes counts[0] = bytes read into `data`, counts[1] = fds written into `fds`. */
  recvFdsInto(channelFd: number, data: Uint8Array, fds: Int32Array, counts: Int32Array): void;
  /** Sends data[offset..] (no AF_UNIX check); returns the bytes taken, or -1 for EAGAIN instead of throwing. */
  trySendFdsFrom(channelFd: number, fds: Int32Array, count: number, data: Uint8Array, offset: number): number;
  /** recvFdsInto that returns the bytes read (0: the peer closed), or -1 for EAGAIN instead of throwing. */
  tryRecvFdsInto(channelFd: number, data: Uint8Array, fds: Int32Array, counts: Int32Array): number;
  /** Closes fds[0..count); returns how many were not open. */
  closeFds(fds: Int32Array, count: number): number;
  socketpair(type: 'stream' | 'dgram' | 'seqpacket', nonBlocking: boolean): [number, number];
  dup(fd: number): number;
  close(fd: number): void;
  setNonBlocking(fd: number, on: boolean): void;
  pidfdGetfd(pid: number, targetFd: number): number;
  fdInfo(fd: number): RawFdInfo;
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  queuedBytes(fd: number): { receive: number; send: number };
  /** The index of the first of fds[0..count) that is not an inet/inet6/unix stream socket in that listening state, or -1. */
  firstNotStreamSocket(fds: Int32Array, count: number, listening: boolean): number;
  /** out[2i] = bytes of fds[i] read by a process, out[2i+1] = bytes written by one (NaN: not TCP). */
  tcpUse(fds: Int32Array, count: number, out: Float64Array): void;
  /** shutdown(SHUT_RDWR): true, or false when it was not connected. */
  shutdownBoth(fd: number): boolean;
  /** TCP_REPAIR on, then the state of an ESTABLISHED connection; the socket stays in repair mode. */
  tcpRepairDump(fd: number): RawTcpRepairState;
  /** A fresh socket rebuilt from the state, repair mode off; returns its fd. */
  tcpRepairRestore(state: RawTcpRepairState): number;
  /** TCP_REPAIR on or off. */
  tcpRepairSet(fd: number, on: boolean): void;
  /** listen(fd, backlog) again on a listening socket: a new accept queue length (the kernel caps it at somaxconn). */
  setBacklog(fd: number, backlog: number): void;
  /** flock(fd, mode | LOCK_NB): true if taken (or released), false if a conflicting lock is held elsewhere. */
  tryFlock(fd: number, mode: 'shared' | 'exclusive' | 'unlock'): boolean;
  /** One datagram to a Unix socket (sd_notify); '@' starts an abstract name. */
  notifyDatagram(path: string, text: string): void;
  /** Reaps exited children not in `ours` (those are Node's to reap); returns their pids. */
  reapOthers(ours: Int32Array): number[];
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of our children are re-parented to us. */
  setChildSubreaper(): void;
  /** prctl(PR_SET_PDEATHSIG, signal): `signal` when our parent dies; false if `parent` is not our parent any more (it died before). */
  setParentDeathSignal(signal: number, parent: number): boolean;
  Poller: new (fd: number, callback: (error: Error | null, readable: boolean, writable: boolean) => void) => RawPoller;
}


function load(): RawBinding {
  // dist/native/binding.js -> the package (where build/ and prebuilds/ are).
  const root = path.resolve(__dirname, '..', '..');
  const build = nativeBuildFromEnvironment();
  if (build) {
    // node-gyp-build always prefers build/Release: a debugger session that
    // wants the -O0 -g3 build must name it (npm run build:native:debug).
    if (build !== 'Debug' && build !== 'Release') {
      throw codedError(Error, 'ERR_INVALID_ARG_VALUE', `${NATIVE_BUILD_ENV} must be Debug or Release; got '${build}'`);
    }
    const file = path.join(root, 'build', build, 'fdlab.node');
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(file) as RawBinding;
    } catch (cause) {
      const script = build === 'Debug' ? 'npm run build:native:debug' : 'npm run build:native';
      throw codedError(
        Error,
        'ERR_FDLAB_NATIVE_MISSING',
        `${NATIVE_BUILD_ENV}=${build}, but ${file} cannot be loaded (${(cause as Error).message.split('\n')[0]}). Run '${script}' in ${root}.`,
        { cause },
      );
    }
  }
  try {
    // node-gyp-build finds build/Release (or build/Debug when that is the only build).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(root) as RawBinding;
  } catch (cause) {
    throw codedError(
      Error,
      'ERR_FDLAB_NATIVE_MISSING',
      `fdlab's native module is not built (${(cause as Error).message.split('\n')[0]}). ` +
        `Run 'npm install' (or 'npm run build:native') in ${root}; it needs python3, make and g++.`,
      { cause },
    );
  }
}

export const binding: RawBinding = load();
