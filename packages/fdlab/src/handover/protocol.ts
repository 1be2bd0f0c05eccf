// Messages on the upgrade socket: one FdChannel message each, a JSON header
// and, for connection batches, the connections' bytes after it:
//
//   u32 (big-endian) header length | header JSON | bytes
//
// Bytes travel raw, not in the JSON, so a connection with megabytes of unsent
// replies costs a copy, not base64. Every message is checked on arrival: its
// type is one the sender may send, its fields have the right types and
// bounds, and it came with exactly the fds it needs. Anything else is refused
// as garbled (its fds are closed by the caller).
import { FdlabError } from '../errors';
import type { WriteEnd } from '../socket/detach';

/** What the new version sends. */
export type FromNew =
  | { type: 'hello'; pid: number; version: string; token: string }
  | { type: 'ack'; pid: number; connections: number }
  | { type: 'alive'; closed: number[]; states?: ReportedState[] }
  | { type: 'ready'; copies: number }
  | { type: 'switched'; connections: number }
  | { type: 'serving' }
  /** The old version did not release us in time after its standby (stopped?): we serve alone, it lets go. */
  | { type: 'alone'; reason: string }
  | { type: 'refuse'; reason: string };

/**
 * During the standby, a connection the new version read or wrote since its
 * last heartbeat: its state then, and the kernel's counts of its use then
 * (socket/tcp-use.ts). A take-back restores it from here only if the counts
 * still match (nobody used it after the report); its unread bytes follow the header.
 */
export interface ReportedState {
  index: number;
  session: unknown;
  unread: number;
  consumed: number;
  written: number;
}

/** A connection's state, beside its fd; its bytes follow the header, unread then unsent. */
export interface ConnectionEntry {
  /** The copy (sent earlier) this connection replaces, if the new version has one. */
  copy?: number;
  session: unknown;
  unread: number;
  unsent: number;
  peerEnded: boolean;
  writeEnd: WriteEnd;
}

/** A connection the old version held still: its state, beside the copy of its fd already sent; its unread bytes follow the header. */
export interface SwitchEntry {
  copy: number;
  session: unknown;
  unread: number;
}

/** What the old version sends. */
export type FromOld =
  | { type: 'listener'; remainingMs: number; connections: number }
  | { type: 'copies'; batch: number; copies: number[] }
  | { type: 'copies-end'; copies: number }
  | { type: 'switch'; entries: SwitchEntry[]; dropped: number[]; detached: number }
  | { type: 'connections'; batch: number; entries: ConnectionEntry[] }
  /** standbyMs: how long we stand by from now on (the new version declares us gone well after it). */
  | { type: 'done'; connections: number; batches: number; standbyMs?: number }
  | { type: 'commit' }
  | { type: 'abort'; reason: string }
  | { type: 'release' }
  | { type: 'refuse'; reason: string };

export type UpgradeMessage = FromNew | FromOld;

export interface Decoded<M> {
  message: M;
  /** For 'connections': the bytes after the header (each entry's unread, then unsent). */
  bytes: Buffer;
}

/** At most this many fds in one batch: one sendmsg (SCM_MAX_FD). */
export const BATCH_FDS = 253;
/** A batch closes early once its bytes pass this, so no one message grows huge. */
export const BATCH_BYTES = 1024 * 1024;
/** Largest message accepted on the upgrade socket: a full batch plus one connection's large backlog. */
export const MAX_UPGRADE_MESSAGE = 64 * 1024 * 1024;
/**
 * The most one connection's state (its session as JSON, its unread and unsent
 * bytes) may take to travel: a message holds it plus what shares it, each
 * bounded below (the batch's other connections: under BATCH_BYTES; headers:
 * about 100 bytes an entry, at most 1,024 entries), within 4 MiB. A larger
 * one is held back (hand-off.ts): before this, 77 MB queued to one client
 * that did not read made the successor refuse the message (ERR_CHANNEL_OVERSIZED)
 * and every upgrade rolled back.
 */
export const MAX_CONNECTION_BYTES = MAX_UPGRADE_MESSAGE - 4 * 1024 * 1024;
/** The switch's header grows with the connections (about 100 bytes each): as large as a message may be. */
const MAX_HEADER = MAX_UPGRADE_MESSAGE;
const MAX_TEXT = 1024;
/** A day: the longest standby the protocol carries. */
export const MAX_STANDBY_MS = 86_400_000;

export function encode(message: UpgradeMessage, bytes?: Buffer): Buffer {
  const header = Buffer.from(JSON.stringify(message));
  const size = 4 + header.length + (bytes?.length ?? 0);
  // Said here, by the sender, rather than by a receiver that drops the channel (and the upgrade) on it.
  if (size > MAX_UPGRADE_MESSAGE) {
    throw new FdlabError('ERR_UPGRADE_MESSAGE_TOO_LARGE', `an upgrade message '${message.type}' of ${size} bytes, more than the ${MAX_UPGRADE_MESSAGE} the other version accepts`);
  }
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(header.length, 0);
  return bytes && bytes.length > 0 ? Buffer.concat([prefix, header, bytes]) : Buffer.concat([prefix, header]);
}

/** The one way to say the other side broke the protocol. */
export const garbled = (what: string): FdlabError => new FdlabError('ERR_UPGRADE_GARBLED', `upgrade socket: ${what}`);

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_TEXT;
const WRITE_ENDS: readonly WriteEnd[] = ['open', 'ending', 'ended'];

type Check = (m: Record<string, unknown>) => string | null;

/** Per type: which side may send it, how many fds it carries, and what its fields must be. */
const RULES: Record<string, { from: 'old' | 'new' | 'both'; fds: (m: Record<string, unknown>) => number; check: Check }> = {
  hello: { from: 'new', fds: () => 0, check: (m) => (isCount(m.pid) && isText(m.version) && isText(m.token) ? null : 'hello needs pid, version and token') },
  ack: { from: 'new', fds: () => 0, check: (m) => (isCount(m.pid) && isCount(m.connections) ? null : 'ack needs pid and connections') },
  alive: {
    from: 'new',
    fds: () => 0,
    check: (m) => {
      if (!Array.isArray(m.closed) || !m.closed.every(isCount)) return 'alive needs a list of closed connection numbers';
      if (m.states === undefined) return null;
      if (!Array.isArray(m.states)) return 'alive.states must be a list';
      const bad = m.states.findIndex((e: Partial<ReportedState>) =>
        !e || typeof e !== 'object' || !isCount(e.index) || !isCount(e.unread) || !isCount(e.consumed) || !isCount(e.written));
      return bad >= 0 ? `alive state ${bad} is malformed` : null;
    },
  },
  alone: { from: 'new', fds: () => 0, check: (m) => (isText(m.reason) ? null : 'alone needs a reason') },
  ready: { from: 'new', fds: () => 0, check: (m) => (isCount(m.copies) ? null : 'ready needs copies') },
  switched: { from: 'new', fds: () => 0, check: (m) => (isCount(m.connections) ? null : 'switched needs connections') },
  serving: { from: 'new', fds: () => 0, check: () => null },
  listener: { from: 'old', fds: () => 1, check: (m) => (isCount(m.remainingMs) && isCount(m.connections) ? null : 'listener needs remainingMs and connections') },
  connections: {
    from: 'old',
    fds: (m) => (m.entries as unknown[]).length,
    check: (m) => {
      if (!isCount(m.batch) || !Array.isArray(m.entries)) return 'connections needs batch and entries';
      if (m.entries.length === 0 || m.entries.length > BATCH_FDS) return `a batch of ${m.entries.length} connections (1 to ${BATCH_FDS})`;
      const bad = m.entries.findIndex((e: Partial<ConnectionEntry>) =>
        !e || typeof e !== 'object' || !isCount(e.unread) || !isCount(e.unsent) || typeof e.peerEnded !== 'boolean' || !WRITE_ENDS.includes(e.writeEnd as WriteEnd) ||
        (e.copy !== undefined && !isCount(e.copy)));
      return bad >= 0 ? `connection entry ${bad} is malformed` : null;
    },
  },
  copies: {
    from: 'old',
    fds: (m) => (m.copies as number[]).length,
    check: (m) => (isCount(m.batch) && Array.isArray(m.copies) && m.copies.length >= 1 && m.copies.length <= BATCH_FDS && m.copies.every(isCount)
      ? null
      : `copies needs batch and 1 to ${BATCH_FDS} copy numbers`),
  },
  'copies-end': { from: 'old', fds: () => 0, check: (m) => (isCount(m.copies) ? null : 'copies-end needs copies') },
  switch: {
    from: 'old',
    fds: () => 0,
    check: (m) => {
      if (!Array.isArray(m.entries) || !Array.isArray(m.dropped) || !m.dropped.every(isCount) || !isCount(m.detached)) return 'switch needs entries, dropped and detached';
      const bad = m.entries.findIndex((e: Partial<SwitchEntry>) => !e || typeof e !== 'object' || !isCount(e.copy) || !isCount(e.unread));
      return bad >= 0 ? `switch entry ${bad} is malformed` : null;
    },
  },
  done: {
    from: 'old',
    fds: () => 0,
    // standbyMs bounded: a setTimeout past 2^31 - 1 ms fires at once (the new version would declare us gone).
    check: (m) => (isCount(m.connections) && isCount(m.batches) && (m.standbyMs === undefined || (isCount(m.standbyMs) && m.standbyMs <= MAX_STANDBY_MS))
      ? null
      : `done needs connections and batches (and standbyMs up to ${MAX_STANDBY_MS})`),
  },
  commit: { from: 'old', fds: () => 0, check: () => null },
  abort: { from: 'old', fds: () => 0, check: (m) => (isText(m.reason) ? null : 'abort needs a reason') },
  release: { from: 'old', fds: () => 0, check: () => null },
  refuse: { from: 'both', fds: () => 0, check: (m) => (isText(m.reason) ? null : 'refuse needs a reason') },
};

/**
 * Parses and checks one message from `from`'s side: its framing, its type,
 * its fields, and that it came with exactly the fds it needs.
 */
export function decode<S extends 'old' | 'new'>(data: Buffer, fdCount: number, from: S): Decoded<S extends 'old' ? FromOld : FromNew> {
  if (data.length < 4) throw garbled(`a message of ${data.length} bytes (too short for its header length)`);
  const headerLength = data.readUInt32BE(0);
  if (headerLength > MAX_HEADER || 4 + headerLength > data.length) throw garbled(`a header length of ${headerLength} in a message of ${data.length} bytes`);
  let message: Record<string, unknown>;
  try {
    message = JSON.parse(data.toString('utf8', 4, 4 + headerLength)) as Record<string, unknown>;
  } catch {
    throw garbled(`a header that is not JSON (${data.subarray(4, 40).toString('hex')}...)`);
  }
  if (!message || typeof message !== 'object' || Array.isArray(message)) throw garbled('a header that is not an object');
  const rule = typeof message.type === 'string' && Object.hasOwn(RULES, message.type) ? RULES[message.type] : undefined;
  if (!rule) throw garbled(`unknown message type ${JSON.stringify(message.type)?.slice(0, 40)}`);
  if (rule.from !== 'both' && rule.from !== from) throw garbled(`'${message.type}' may only come from the ${rule.from} version`);
  const problem = rule.check(message);
  if (problem) throw garbled(problem);
  const expected = rule.fds(message);
  if (expected !== fdCount) throw garbled(`'${message.type}' came with ${fdCount} fds, expected ${expected}`);
  const bytes = data.subarray(4 + headerLength);
  const declared = message.type === 'connections'
    ? (message.entries as ConnectionEntry[]).reduce((sum, e) => sum + e.unread + e.unsent, 0)
    : message.type === 'switch'
      ? (message.entries as SwitchEntry[]).reduce((sum, e) => sum + e.unread, 0)
      : message.type === 'alive' && message.states
        ? (message.states as ReportedState[]).reduce((sum, e) => sum + e.unread, 0)
        : 0;
  if (bytes.length !== declared) throw garbled(`'${message.type}' declares ${declared} bytes of connection data, ${bytes.length} came`);
  return { message: message as unknown as S extends 'old' ? FromOld : FromNew, bytes };
}
