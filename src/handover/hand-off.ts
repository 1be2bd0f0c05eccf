// The old version's side of an upgrade: hand the listener and every
// connection, with its state, to the new version; if anything goes wrong
// before the new version acknowledges, take everything back and serve on.
import * as net from 'node:net';
import * as path from 'node:path';
import { FdChannelServer, type FdChannel } from '../channel';
import { closeQuietly, dup } from '../fd/fds';
import { adoptServer, adoptSocket } from '../socket/adopt';
import { detachSocket, fdOf } from '../socket/detach';
import { BATCH_FDS, encode, MAX_UPGRADE_MESSAGE } from './messages';
import { acceptSuccessor, expectMessage } from './peer';
import type { StartSuccessor, Successor } from './successor';
import type { HandoverApp, Log, ServedConnection } from './types';

export interface HandOffState<S> {
  server: net.Server;
  connections: Set<ServedConnection<S>>;
}

export interface HandOffOptions<S> {
  app: HandoverApp<S>;
  stateDir: string;
  startSuccessor: StartSuccessor;
  expectedPeerUid: number;
  timeoutMs: number;
  log: Log;
  /** Builds the net.Server to serve on again after a rollback. */
  newServer: () => net.Server;
  serve: (socket: net.Socket, session?: S, pending?: Buffer) => void;
}

interface Detached<S> {
  fd: number;
  session: S;
  pending: Buffer;
}

export type HandOffResult = { outcome: 'upgraded'; successorPid: number; connections: number } | { outcome: 'rolled-back'; reason: string };

/** Stops reading every connection at the handle and collects fd, session and unprocessed bytes. */
async function detachAll<S>(connections: ServedConnection<S>[]): Promise<{ detached: Detached<S>[]; failed: Error | null }> {
  const results = await Promise.allSettled(
    connections.map(async (connection) => {
      const { session, pending } = connection.snapshot();
      const { fd, unread } = await detachSocket(connection.socket, { flushTimeoutMs: 2000 });
      // The app's half-processed bytes come first, then what Node had buffered.
      return { fd, session, pending: Buffer.concat([pending, unread]) };
    }),
  );
  const detached = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  return { detached, failed: failure ? (failure.reason as Error) : null };
}

async function sendEverything<S>(channel: FdChannel, listenerFd: number, detached: Detached<S>[], log: Log): Promise<number> {
  await channel.send({ data: encode({ type: 'listener' }), fds: [listenerFd] });
  let batches = 0;
  for (let i = 0; i < detached.length; i += BATCH_FDS) {
    const batch = detached.slice(i, i + BATCH_FDS);
    batches += 1;
    await channel.send({
      data: encode({ type: 'connections', batch: batches, sessions: batch.map((d) => ({ session: d.session, pending: d.pending.toString('base64') })) }),
      fds: batch.map((d) => d.fd),
    });
    log(`sent batch ${batches}: ${batch.length} connections`);
  }
  await channel.send({ data: encode({ type: 'done', connections: detached.length, batches }) });
  return batches;
}

export async function handOff<S>(state: HandOffState<S>, options: HandOffOptions<S>): Promise<HandOffResult> {
  const { log } = options;
  const deadline = Date.now() + options.timeoutMs;
  const socketPath = path.join(options.stateDir, 'upgrade.sock');
  const upgradeServer = await FdChannelServer.listen(socketPath, { mode: 0o600, maxMessageBytes: MAX_UPGRADE_MESSAGE });
  upgradeServer.on('error', (error: Error) => log(`upgrade socket: ${error.message}`));
  log(`upgrade: listening on ${socketPath} (mode 0600)`);

  let successor: Successor | undefined;
  let channel: FdChannel | undefined;
  let listenerFd = -1;
  let detached: Detached<S>[] = [];
  try {
    successor = options.startSuccessor(socketPath, log);
    const died = successor.exited?.then((code) => {
      throw new Error(`the successor exited (code ${code}) before acknowledging`);
    });
    died?.catch(() => {}); // observed through the race below
    const race = <T>(work: Promise<T>) => (died ? Promise.race([work, died]) : work);

    const accepted = await race(acceptSuccessor(upgradeServer, options.expectedPeerUid, deadline, log));
    channel = accepted.channel;
    log(`successor pid ${accepted.ready.pid} (${accepted.ready.version}) is ready`);

    // From here on nothing is read or accepted until the successor has it all.
    listenerFd = dup(fdOf(state.server));
    state.server.close();
    const connections = [...state.connections];
    state.connections.clear();
    const result = await detachAll(connections);
    detached = result.detached;
    if (result.failed) throw result.failed;
    log(`stopped reading ${detached.length} connections; sending them with their state`);

    const batches = await race(sendEverything(channel, listenerFd, detached, log));
    const { message: ack } = await race(expectMessage(channel, 'ack', deadline));
    log(`successor pid ${ack.pid} acknowledged the listener and ${detached.length} connections in ${batches} batch(es)`);
    closeQuietly([listenerFd, ...detached.map((d) => d.fd)]);
    channel.close();
    return { outcome: 'upgraded', successorPid: ack.pid, connections: detached.length };
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const reason = ['ERR_CHANNEL_CLOSED', 'EPIPE', 'ECONNRESET'].includes(code)
      ? `the successor hung up before acknowledging (did it crash?) [${code}]`
      : (error as Error).message;
    log(`upgrade failed: ${reason}; rolling back`);
    successor?.kill();
    channel?.close();
    await rollBack(state, options, listenerFd, detached);
    log(`rolled back: serving ${state.connections.size} connections again`);
    return { outcome: 'rolled-back', reason };
  } finally {
    await upgradeServer.close();
  }
}

/** We still hold every fd we sent: serve them again, with their state. */
async function rollBack<S>(state: HandOffState<S>, options: HandOffOptions<S>, listenerFd: number, detached: Detached<S>[]): Promise<void> {
  if (listenerFd >= 0) state.server = await adoptServer(listenerFd, options.newServer());
  for (const { fd, session, pending } of detached) options.serve(adoptSocket(fd), session, pending);
}
