// Reading the upgrade socket: the next message of an expected type, a
// verified peer, all within the upgrade's deadline.
import { FdlabError } from '../errors';
import type { FdChannel, FdChannelServer } from '../channel';
import { closeQuietly } from '../fd/fds';
import { withDeadline } from '../util/deadline';
import { decode, type UpgradeMessage } from './messages';
import type { Log } from './types';

export interface Received<T extends UpgradeMessage['type']> {
  message: Extract<UpgradeMessage, { type: T }>;
  fds: number[];
}

/** The next message on the upgrade socket, checked, within the deadline. */
export async function nextMessage(channel: FdChannel, deadline: number): Promise<{ message: UpgradeMessage; fds: number[] }> {
  const left = Math.max(0, deadline - Date.now());
  const { data, fds } = await withDeadline(channel.receive(), left, () => new FdlabError('ERR_UPGRADE_TIMEOUT', 'the upgrade deadline passed'));
  try {
    const message = decode(data, fds.length);
    if (message.type === 'refuse') throw new FdlabError('ERR_UPGRADE_REFUSED', `the other side refused: ${message.reason}`);
    return { message, fds };
  } catch (error) {
    closeQuietly(fds);
    channel.close();
    throw error;
  }
}

/** The next message, which must be of `type`. */
export async function expectMessage<T extends UpgradeMessage['type']>(channel: FdChannel, type: T, deadline: number): Promise<Received<T>> {
  const { message, fds } = await nextMessage(channel, deadline);
  if (message.type !== type) {
    closeQuietly(fds);
    throw new FdlabError('ERR_UPGRADE_GARBLED', `expected '${type}', got '${message.type}'`);
  }
  return { message: message as Extract<UpgradeMessage, { type: T }>, fds };
}

/**
 * Accepts connections on the upgrade socket until one comes from the
 * expected uid and says 'ready'. Others (wrong uid, garbage, oversized
 * frames) are refused with a log line; the upgrade waits for the real one.
 */
export async function acceptSuccessor(
  server: FdChannelServer,
  expectedUid: number,
  deadline: number,
  log: Log,
): Promise<{ channel: FdChannel; ready: Received<'ready'>['message'] }> {
  for (;;) {
    const left = deadline - Date.now();
    const channel = await withDeadline(server.accept(), Math.max(0, left), () => new FdlabError('ERR_UPGRADE_TIMEOUT', 'no successor connected within the upgrade deadline'));
    const peer = channel.peer();
    if (peer.uid !== expectedUid) {
      log(`refused a connection on the upgrade socket from pid ${peer.pid} uid ${peer.uid}: expected uid ${expectedUid}`);
      channel.close();
      continue;
    }
    try {
      const { message } = await expectMessage(channel, 'ready', deadline);
      return { channel, ready: message };
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_UPGRADE_TIMEOUT') throw error;
      log(`refused a connection on the upgrade socket from pid ${peer.pid}: ${(error as Error).message}`);
      channel.close();
    }
  }
}
