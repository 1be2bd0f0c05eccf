// The old version's side of an upgrade (docs/handover.md, "old side"):
// start the successor and keep serving until it says hello; then stop, send
// the listener and every connection with its bytes, wait for the ack, commit,
// and stand by. Anything that goes wrong before the commit rolls back; one
// deadline bounds all of it, sends included.
import { randomBytes } from 'node:crypto';
import type * as net from 'node:net';
import type { FdChannel } from '../channel';
import { FdlabError } from '../errors';
import { detachAll, release, serveAgain, type Held, type HeldConnection } from './held';
import { acceptSuccessor, deadlineError, nextMessage } from './peer';
import { BATCH_BYTES, BATCH_FDS, encode } from './protocol';
import { Standby, type StandbyOutcome } from './standby';
import { listenUpgradeSocket, upgradeSocketPath } from './state-dir';
import type { OldState, StateMachine } from './states';
import type { StartSuccessor, Successor } from './successor';
import type { Log, ServedConnection } from './types';

export interface HandOffState<S> {
  server: net.Server;
  connections: Set<ServedConnection<S>>;
}

export interface HandOffOptions<S> {
  stateDir: string;
  startSuccessor: StartSuccessor;
  expectedPeerUid: number;
  timeoutMs: number;
  standbyMs: number;
  heartbeatTimeoutMs: number;
  log: Log;
  machine: StateMachine<OldState>;
  /** Builds the net.Server to serve on again after a rollback. */
  newServer: () => net.Server;
  serve: (socket: net.Socket, session?: S, pending?: Buffer) => void;
}

export interface Timings {
  /** ms from the start of the upgrade to the successor's hello (we still served). */
  startMs: number;
  /** ms from the hello until the commit: nothing was read or accepted then. */
  gapMs: number;
  detachMs: number;
  sendMs: number;
  ackMs: number;
}

export type HandOffResult =
  | { outcome: 'upgraded'; successorPid: number; connections: number; timings: Timings }
  | { outcome: 'rolled-back'; reason: string; code: string }
  | { outcome: 'taken-back'; reason: string; successorPid: number; connections: number };

/** Why a step failed, in words that say what to do. */
function explain(error: unknown): { reason: string; code: string } {
  const code = (error as { code?: string }).code ?? 'ERR_UPGRADE';
  const message = (error as Error).message ?? String(error);
  if (['ERR_CHANNEL_CLOSED', 'EPIPE', 'ECONNRESET', 'ERR_CHANNEL_TRUNCATED'].includes(code)) {
    return { code, reason: `the successor hung up before the commit (did it crash? see its log) [${code}]` };
  }
  if (code === 'EMFILE' || code === 'ENFILE') {
    return { code, reason: `out of file descriptors (${message}); raise the limit (ulimit -n) and upgrade again` };
  }
  if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR') {
    return { code, reason: `the upgrade socket could not be created: ${message}; check the --state-dir` };
  }
  return { code, reason: message };
}

function batches<S>(connections: HeldConnection<S>[]): HeldConnection<S>[][] {
  const out: HeldConnection<S>[][] = [];
  let current: HeldConnection<S>[] = [];
  let bytes = 0;
  for (const c of connections) {
    current.push(c);
    bytes += c.unread.length + c.unsent.length;
    if (current.length === BATCH_FDS || bytes >= BATCH_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

function sendEverything<S>(channel: FdChannel, held: Held<S>, remainingMs: number): Promise<number> {
  const parts = batches(held.connections);
  // Queued all at once: FdChannel writes them in order as the socket drains.
  const sent = [channel.send({ data: encode({ type: 'listener', remainingMs, connections: held.connections.length }), fds: [held.listenerFd] })];
  parts.forEach((batch, i) => {
    const bytes = Buffer.concat(batch.flatMap((c) => [c.unread, c.unsent]));
    const entries = batch.map((c) => ({ session: c.session, unread: c.unread.length, unsent: c.unsent.length, peerEnded: c.peerEnded, writeEnd: c.writeEnd }));
    sent.push(channel.send({ data: encode({ type: 'connections', batch: i + 1, entries }, bytes), fds: batch.map((c) => c.fd) }));
  });
  sent.push(channel.send({ data: encode({ type: 'done', connections: held.connections.length, batches: parts.length }) }));
  return Promise.all(sent).then(() => parts.length);
}

export async function handOff<S>(state: HandOffState<S>, options: HandOffOptions<S>): Promise<HandOffResult> {
  const { log, machine } = options;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const socketPath = upgradeSocketPath(options.stateDir);
  let upgradeSocket: Awaited<ReturnType<typeof listenUpgradeSocket>> | undefined;
  let successor: Successor | undefined;
  let channel: FdChannel | undefined;
  let held: Held<S> | undefined;
  let committed: { successorPid: number; connections: number; timings: Timings } | undefined;

  // One deadline and one "the successor died" for every wait below; both are
  // observed here so that neither can become an unhandled rejection.
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(deadlineError(`(${options.timeoutMs} ms, --upgrade-timeout) in state '${machine.state}'`)), options.timeoutMs);
  });
  expired.catch(() => {});
  let died: Promise<never> | undefined;
  const race = <T>(work: Promise<T>) => Promise.race(died ? [work, expired, died] : [work, expired]);

  machine.to('starting-successor');
  try {
    upgradeSocket = await race(listenUpgradeSocket(options.stateDir));
    upgradeSocket.server.on('error', (error: Error) => log(`upgrade socket: ${error.message}`));
    log(`upgrade: listening on ${socketPath} (mode 0600, in a 0700 dir)`);
    const token = randomBytes(16).toString('hex');
    successor = options.startSuccessor({ socketPath, stateDir: options.stateDir, token, log });
    died = successor.exited?.then((code) => {
      throw new FdlabError('ERR_SUCCESSOR_EXITED', `the successor exited (code ${code}) before the commit; see its log`);
    });
    died?.catch(() => {});

    const accepted = await race(acceptSuccessor(upgradeSocket.server, { uid: options.expectedPeerUid, pid: successor.pid, token }, deadline, log, died));
    channel = accepted.channel;
    await upgradeSocket.close(); // nobody else can connect now
    upgradeSocket = undefined;
    const helloAt = Date.now();
    log(`successor pid ${accepted.hello.pid} (${accepted.hello.version}) said hello after ${helloAt - started} ms; handing over`);

    // From here on nothing is read or accepted until the successor has it all.
    machine.to('transferring');
    const detached = detachAll(state.server, state.connections);
    held = detached.held;
    if (detached.failed) throw detached.failed;
    const detachedAt = Date.now();
    const batchCount = await race(sendEverything(channel, held, Math.max(0, deadline - Date.now())));
    const sentAt = Date.now();
    log(`sent the listener and ${held.connections.length} connections in ${batchCount} batch(es)`);

    machine.to('awaiting-ack');
    const { message: ack } = await race(nextMessage(channel, 'new', deadline, 'while waiting for the ack'));
    if (ack.type !== 'ack') throw new FdlabError('ERR_UPGRADE_GARBLED', `expected 'ack', got '${ack.type}'${ack.type === 'refuse' ? `: ${ack.reason}` : ''}`);
    if (ack.connections !== held.connections.length) {
      throw new FdlabError('ERR_UPGRADE_GARBLED', `the successor acknowledged ${ack.connections} connections, we sent ${held.connections.length}`);
    }
    // The commit point: once the ack is in, we commit whatever the clock says.
    clearTimeout(timer);
    await channel.send({ data: encode({ type: 'commit' }) });
    const committedAt = Date.now();
    const timings: Timings = {
      startMs: helloAt - started,
      gapMs: committedAt - helloAt,
      detachMs: detachedAt - helloAt,
      sendMs: sentAt - detachedAt,
      ackMs: committedAt - sentAt,
    };
    const connections = held.connections.length;
    log(`committed: pid ${ack.pid} serves ${connections} connections (gap ${timings.gapMs} ms: detach ${timings.detachMs}, send ${timings.sendMs}, ack ${timings.ackMs})`);

    committed = { successorPid: ack.pid, connections, timings };
  } catch (error) {
    clearTimeout(timer);
    const { reason, code } = explain(error);
    log(`upgrade failed in state '${machine.state}': ${reason}; rolling back`);
    // Abort first (an external successor reads it), then make sure a successor we started is gone.
    if (channel && !channel.closed) channel.send({ data: encode({ type: 'abort', reason }) }).catch(() => {});
    successor?.kill();
    channel?.close();
    await upgradeSocket?.close().catch(() => {});
    machine.to('rolled-back');
    if (held) state.server = await serveAgain(held, options.newServer, options.serve);
    log(`rolled back: serving ${state.connections.size} connections again`);
    return { outcome: 'rolled-back', reason, code };
  }

  // Committed: the successor serves. Nothing below can roll back any more.
  const { successorPid, connections, timings } = committed!;
  if (options.standbyMs <= 0) {
    release(held!);
    channel!.close();
    machine.to('handed-over');
    return { outcome: 'upgraded', successorPid, connections, timings };
  }
  machine.to('standby');
  const standby = new Standby({ channel: channel!, held: held!, successor: successor!, graceMs: options.standbyMs, heartbeatTimeoutMs: options.heartbeatTimeoutMs, log });
  const outcome: StandbyOutcome = await standby.run();
  if (outcome.released) {
    machine.to('handed-over');
    return { outcome: 'upgraded', successorPid, connections, timings };
  }
  machine.to('taken-back');
  state.server = await serveAgain(held!, options.newServer, options.serve);
  log(`took everything back: serving ${state.connections.size} connections again (${outcome.reason})`);
  return { outcome: 'taken-back', reason: outcome.reason, successorPid, connections: state.connections.size };
}
