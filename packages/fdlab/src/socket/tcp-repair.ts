// A new body for a connection: TCP_REPAIR reads an established connection's
// kernel state out of its socket (dumpTcp) and builds it again in a fresh
// socket (restoreTcp), in this process or another, in this network namespace
// or another that holds the connection's local address: the way CRIU moves
// connections between hosts. Fd passing (sendFds) moves the same kernel
// socket instead, for less: lab 7 measured 3-4x less for one connection and
// 31-43x less for 1,000 (and no hold of the peer's packets).
//
// Carried (native/tcp-repair.cc): the 4-tuple; both queues' sequence numbers
// and bytes (unread received bytes; sent-but-unacknowledged and unsent bytes);
// the MSS clamp; SACK, window scale (both ways) and timestamps with the
// timestamp clock; the windows (TCP_REPAIR_WINDOW). NOT carried: congestion
// state (cwnd, ssthresh, RTT: the new socket starts afresh, and retransmits its
// unacknowledged bytes at its first RTO, 1 s), TCP_FASTOPEN, MD5/AO keys,
// urgent data (refused while pending), half-closed connections (refused), and every socket option not
// named here (TCP_NODELAY, keepalive, buffer sizes, marks...), nor bytes Node
// holds in user space (detachSocket's unread/unsent do that part).
//
// Needs CAP_NET_ADMIN (ERR_TCP_REPAIR_PERMISSION otherwise). Between the dump
// and the restore the peer's packets must be kept away (a firewall drop rule):
// a segment reaching no socket gets a RST, and one reaching the dumped socket
// is acknowledged and then lost with it.
import { codedError } from '../errors';
import { binding, type RawTcpRepairState } from '../native/binding';

export interface TcpEndpoint {
  address: string;
  port: number;
}

/** A connection's kernel state: plain JSON (bytes as base64), for a file, a pipe or another host. */
export interface TcpRepairState {
  version: 1;
  /** 4 or 6: the socket's family (an IPv4 peer of an IPv6 socket shows as ::ffff:a.b.c.d). */
  family: 4 | 6;
  local: TcpEndpoint;
  remote: TcpEndpoint;
  /** rcv_nxt: the sequence number of the next byte the peer sends. */
  recvEnd: number;
  /** write_seq: the sequence number the next byte this side writes gets. */
  sendEnd: number;
  /** Received, not read by the app (base64): they start at recvEnd - their length. */
  recvQueue: string;
  /** Written, not acknowledged by the peer (base64): they start at sendEnd - their length (snd_una). */
  sendQueue: string;
  /** How many of sendQueue's last bytes were never sent. */
  unsent: number;
  /** MSS clamp (TCP_MAXSEG). */
  mss: number;
  sack: boolean;
  windowScale: boolean;
  sendWindowScale: number;
  recvWindowScale: number;
  timestamps: boolean;
  /** TCP_TIMESTAMP: the connection's timestamp clock at the dump. */
  timestamp: number;
  /** TCP_REPAIR_WINDOW. */
  window: { sndWl1: number; sndWnd: number; maxWindow: number; rcvWnd: number; rcvWup: number };
}

/**
 * Dumps an ESTABLISHED TCP connection and leaves its socket in repair mode:
 * close the fd then and nothing reaches the peer (no FIN, no RST), or call
 * resumeTcp(fd) to let it go on. Keep the peer's packets away first.
 */
export function dumpTcp(fd: number): TcpRepairState {
  const raw = binding.tcpRepairDump(fd);
  return {
    version: 1,
    family: raw.family,
    local: raw.local,
    remote: raw.remote,
    recvEnd: raw.recvEnd,
    sendEnd: raw.sendEnd,
    recvQueue: raw.recvQueue.toString('base64'),
    sendQueue: raw.sendQueue.toString('base64'),
    unsent: raw.unsent,
    mss: raw.mss,
    sack: raw.sack,
    windowScale: raw.windowScale,
    sendWindowScale: raw.sendWindowScale,
    recvWindowScale: raw.recvWindowScale,
    timestamps: raw.timestamps,
    timestamp: raw.timestamp,
    window: raw.window,
  };
}

/** Repair mode off on a dumped socket: it goes on as if nothing happened (the kernel sends a window probe). */
export function resumeTcp(fd: number): void {
  binding.tcpRepairSet(fd, false);
}

/**
 * Builds the connection again in a fresh socket and returns its fd (close-on-exec,
 * blocking: adoptSocket(fd) makes it a net.Socket). The old socket must be closed
 * (its 4-tuple free) and the local address present in this network namespace.
 */
export function restoreTcp(state: TcpRepairState): number {
  if (typeof state !== 'object' || state === null || state.version !== 1) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', 'restoreTcp: state must be what dumpTcp returned (version 1)');
  }
  for (const key of ['recvQueue', 'sendQueue'] as const) {
    if (typeof state[key] !== 'string') throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `restoreTcp: state.${key} must be a base64 string`);
  }
  const raw: RawTcpRepairState = {
    ...state,
    recvQueue: Buffer.from(state.recvQueue, 'base64'),
    sendQueue: Buffer.from(state.sendQueue, 'base64'),
  };
  return binding.tcpRepairRestore(raw);
}
