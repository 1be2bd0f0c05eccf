// Messages on the upgrade socket. Each is one FdChannel message: JSON in the
// data, fds alongside. Anything else is refused as garbled.
import { FdlabError } from '../errors';

export type UpgradeMessage =
  | { type: 'ready'; pid: number; version: string }
  | { type: 'listener' }
  | { type: 'connections'; batch: number; sessions: Array<{ session: unknown; pending: string }> }
  | { type: 'done'; connections: number; batches: number }
  | { type: 'ack'; pid: number }
  | { type: 'refuse'; reason: string };

/** At most this many fds in one batch: one sendmsg (SCM_MAX_FD). */
export const BATCH_FDS = 253;
/** Largest message accepted on the upgrade socket. */
export const MAX_UPGRADE_MESSAGE = 4 * 1024 * 1024;

export function encode(message: UpgradeMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

const FDS_EXPECTED: Record<UpgradeMessage['type'], (m: UpgradeMessage) => number> = {
  ready: () => 0,
  listener: () => 1,
  connections: (m) => (m as Extract<UpgradeMessage, { type: 'connections' }>).sessions.length,
  done: () => 0,
  ack: () => 0,
  refuse: () => 0,
};

/** Parses and checks a message: its type, its shape, and that it came with the right number of fds. */
export function decode(data: Buffer, fdCount: number): UpgradeMessage {
  let message: UpgradeMessage;
  try {
    message = JSON.parse(data.toString()) as UpgradeMessage;
  } catch {
    throw new FdlabError('ERR_UPGRADE_GARBLED', `upgrade socket: a message that is not JSON (${data.subarray(0, 40).toString('hex')}...)`);
  }
  const expected = message && typeof message === 'object' ? FDS_EXPECTED[message.type] : undefined;
  if (!expected) throw new FdlabError('ERR_UPGRADE_GARBLED', `upgrade socket: unknown message ${JSON.stringify(message).slice(0, 80)}`);
  if (message.type === 'connections' && !Array.isArray(message.sessions)) {
    throw new FdlabError('ERR_UPGRADE_GARBLED', 'upgrade socket: a connections batch without sessions');
  }
  if (expected(message) !== fdCount) {
    throw new FdlabError('ERR_UPGRADE_GARBLED', `upgrade socket: '${message.type}' came with ${fdCount} fds, expected ${expected(message)}`);
  }
  return message;
}
