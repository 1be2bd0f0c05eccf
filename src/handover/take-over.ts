// The new version's side of an upgrade: connect to the old one, say ready,
// receive the listener and every connection with its state, acknowledge, and
// only then start serving them. Before the acknowledgement the old version
// still owns everything, so a crash here loses nothing.
import * as net from 'node:net';
import { FdChannel } from '../channel';
import { FdlabError } from '../errors';
import { closeQuietly } from '../fd/fds';
import { adoptServer, adoptSocket } from '../socket/adopt';
import { encode, MAX_UPGRADE_MESSAGE } from './messages';
import { expectMessage, nextMessage } from './peer';
import type { Log } from './types';

export interface TakeOverOptions<S> {
  upgradeSocket: string;
  version: string;
  timeoutMs: number;
  log: Log;
  newServer: () => net.Server;
  serve: (socket: net.Socket, session?: S, pending?: Buffer) => void;
  /** Fault injection for the labs: die after the first batch, before the acknowledgement. */
  crashMidHandover?: boolean;
}

interface Incoming<S> {
  fd: number;
  session: S;
  pending: Buffer;
}

export async function takeOver<S>(options: TakeOverOptions<S>): Promise<{ server: net.Server; connections: number; oldPid: number }> {
  const { log } = options;
  const deadline = Date.now() + options.timeoutMs;
  const channel = await FdChannel.connect(options.upgradeSocket, { waitMs: options.timeoutMs, maxMessageBytes: MAX_UPGRADE_MESSAGE });
  const oldPid = channel.peer().pid;
  const held: number[] = [];
  try {
    await channel.send({ data: encode({ type: 'ready', pid: process.pid, version: options.version }) });
    const listener = await expectMessage(channel, 'listener', deadline);
    held.push(...listener.fds);
    const incoming: Incoming<S>[] = [];
    for (;;) {
      const { message, fds } = await nextMessage(channel, deadline);
      held.push(...fds);
      if (message.type === 'done') {
        if (message.connections !== incoming.length) {
          throw new FdlabError('ERR_UPGRADE_GARBLED', `'done' says ${message.connections} connections, ${incoming.length} arrived`);
        }
        break;
      }
      if (message.type !== 'connections') throw new FdlabError('ERR_UPGRADE_GARBLED', `unexpected '${message.type}' during the handover`);
      message.sessions.forEach((entry, i) => incoming.push({ fd: fds[i], session: entry.session as S, pending: Buffer.from(entry.pending, 'base64') }));
      log(`received batch ${message.batch}: ${message.sessions.length} connections`);
      if (options.crashMidHandover) {
        log('fault injection (crash-new): dying in the middle of the handover, before the acknowledgement');
        process.kill(process.pid, 'SIGKILL');
      }
    }
    await channel.send({ data: encode({ type: 'ack', pid: process.pid }) });
    // Ours now. The listener was never closed, so connections kept queueing.
    const server = await adoptServer(listener.fds[0], options.newServer());
    for (const { fd, session, pending } of incoming) options.serve(adoptSocket(fd), session, pending);
    channel.close();
    const from = oldPid === 0 ? 'the old version (in another pid namespace: SO_PEERCRED says pid 0)' : `pid ${oldPid}`;
    log(`took over the listener and ${incoming.length} connections from ${from}`);
    return { server, connections: incoming.length, oldPid };
  } catch (error) {
    closeQuietly(held);
    channel.close();
    throw error;
  }
}
