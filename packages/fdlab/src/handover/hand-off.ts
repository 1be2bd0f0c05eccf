// The old version's side of an upgrade (docs/handover.md, "old side"):
// start the successor and keep serving until it says hello; then stop, send
// the listener and every connection with its bytes, wait for the ack, commit,
// and stand by. Anything that goes wrong before the commit rolls back; one
// deadline bounds all of it, sends included.
import { randomBytes } from 'node:crypto';
import type * as net from 'node:net';
import type { FdChannel } from '../channel';
import { FdlabError } from '../errors';
import { closeQuietly, dup } from '../fd/fds';
import { fdOf } from '../socket/detach';
import { holdGroup, serveAgain, type DetachedConnection, type Held, type HeldGroup } from './held';
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
  /** ms from the hello until every copy was sent (we still served). */
  copyMs: number;
  /** ms from the last copy until the commit: nothing was read or accepted then. */
  gapMs: number;
  /** Within the gap: stopping the first group, sending its states, the ack. */
  holdMs: number;
  sendMs: number;
  ackMs: number;
  /** ms from the commit until every other group was switched (each waits only for itself). */
  restMs: number;
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

function batches<S>(connections: DetachedConnection<S>[]): DetachedConnection<S>[][] {
  const out: DetachedConnection<S>[][] = [];
  let current: DetachedConnection<S>[] = [];
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

/**
 * While we still serve: the listener and a copy of every connection's fd, so
 * the new version can wrap them (its slow part) before anyone waits. One
 * batch at a time, each fd dup'ed just before its batch goes out: a socket
 * closed meanwhile is skipped (its copy number with it), and we never hold
 * more than one batch of extra fds.
 */
async function sendCopies<S>(channel: FdChannel, listenerFd: number, copies: readonly ServedConnection<S>[], remainingMs: number): Promise<number> {
  await channel.send({ data: encode({ type: 'listener', remainingMs, connections: copies.length }), fds: [listenerFd] });
  let batch = 0;
  let sent = 0;
  for (let start = 0; start < copies.length; start += BATCH_FDS) {
    const numbers: number[] = [];
    const fds: number[] = [];
    try {
      for (let copy = start; copy < Math.min(copies.length, start + BATCH_FDS); copy++) {
        const { socket } = copies[copy];
        if (socket.destroyed) continue;
        fds.push(dup(fdOf(socket)));
        numbers.push(copy);
      }
      if (fds.length > 0) await channel.send({ data: encode({ type: 'copies', batch: ++batch, copies: numbers }), fds });
      sent += numbers.length;
    } finally {
      closeQuietly(fds); // the new version has its own now (or never will)
    }
  }
  await channel.send({ data: encode({ type: 'copies-end', copies: sent }) });
  return batch;
}

/** One stopped group: its detached connections with their fds and bytes, then the switch with each still one's state. */
function sendGroup<S>(channel: FdChannel, group: HeldGroup<S>): Promise<void> {
  const sent: Promise<void>[] = [];
  // Queued all at once: FdChannel writes them in order as the socket drains.
  batches(group.detached).forEach((batch, i) => {
    const data = Buffer.concat(batch.flatMap((c) => [c.unread, c.unsent]));
    const described = batch.map((c) => ({ copy: c.copy, session: c.session, unread: c.unread.length, unsent: c.unsent.length, peerEnded: c.peerEnded, writeEnd: c.writeEnd }));
    sent.push(channel.send({ data: encode({ type: 'connections', batch: i + 1, entries: described }, data), fds: batch.map((c) => c.fd) }));
  });
  const entries = group.still.map((c) => ({ copy: c.copy, session: c.session, unread: c.pending.length }));
  const bytes = Buffer.concat(group.still.map((c) => c.pending));
  sent.push(channel.send({ data: encode({ type: 'switch', entries, dropped: group.dropped, detached: group.detached.length }, bytes) }));
  return Promise.all(sent).then(() => {});
}

/** Copy numbers in groups of GROUP: each group is stopped and switched on its own. */
function groupsOf(count: number): number[][] {
  const groups: number[][] = [];
  for (let start = 0; start < count; start += GROUP) groups.push(Array.from({ length: Math.min(GROUP, count - start) }, (_, i) => start + i));
  return groups.length > 0 ? groups : [[]];
}

/**
 * How many connections stop at a time. The first group is switched before the
 * commit (a failure rolls back); the others after it, each served by the new
 * version as soon as it arrives. A connection waits only for its own group.
 */
const GROUP = 256;

export async function handOff<S>(state: HandOffState<S>, options: HandOffOptions<S>): Promise<HandOffResult> {
  const { log, machine } = options;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const socketPath = upgradeSocketPath(options.stateDir);
  let upgradeSocket: Awaited<ReturnType<typeof listenUpgradeSocket>> | undefined;
  let successor: Successor | undefined;
  let channel: FdChannel | undefined;
  let held: Held<S> | undefined;
  /** Whether we stopped accepting and reading (a rollback then has to serve again). */
  let stopped = false;
  let committed: { successorPid: number; timings: Timings } | undefined;
  let copies: ServedConnection<S>[] = [];
  let groups: number[][] = [];

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

    // Copies first, while we still serve; nothing is lost if anything fails here.
    machine.to('sending-copies');
    copies = [...state.connections].filter((c) => !c.socket.destroyed);
    held = { listenerFd: dup(fdOf(state.server)), connections: [] };
    const copyBatches = await race(sendCopies(channel, held.listenerFd, copies, Math.max(0, deadline - Date.now())));
    log(`sent the listener and copies of ${copies.length} connections in ${copyBatches} batch(es) while serving`);
    // Sent is not taken: wait (still serving) until the new version has wrapped every copy.
    const { message: ready } = await race(nextMessage(channel, 'new', deadline, 'while the successor took the copies'));
    if (ready.type !== 'ready') throw new FdlabError('ERR_UPGRADE_GARBLED', `expected 'ready', got '${ready.type}'${ready.type === 'refuse' ? `: ${ready.reason}` : ''}`);
    const copiedAt = Date.now();

    // From here on we accept nothing; each group reads nothing from its stop until the new version serves it.
    machine.to('transferring');
    state.server.close();
    stopped = true;
    const copied = new Set(copies);
    const extra = () => [...state.connections].filter((c) => !copied.has(c)); // accepted while the copies went out
    groups = groupsOf(copies.length);
    const first = holdGroup(copies, groups[0], groups.length === 1 ? extra() : [], state.connections, held);
    if (first.failed) throw first.failed;
    const heldAt = Date.now();
    await race(sendGroup(channel, first));
    const sentAt = Date.now();

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
      copyMs: copiedAt - helloAt,
      gapMs: committedAt - copiedAt,
      holdMs: heldAt - copiedAt,
      sendMs: sentAt - heldAt,
      ackMs: committedAt - sentAt,
      restMs: 0,
    };
    log(`committed: pid ${ack.pid} serves the first ${held.connections.length} connections (gap ${timings.gapMs} ms: hold ${timings.holdMs}, send ${timings.sendMs}, ack ${timings.ackMs}; copies sent in ${timings.copyMs} ms while serving)`);
    committed = { successorPid: ack.pid, timings };
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
    if (held && stopped) state.server = await serveAgain(held, options.newServer, options.serve, state.connections);
    else if (held) closeQuietly([held.listenerFd]); // we never stopped: our copy of the listener is all there is to undo
    log(`rolled back: serving ${state.connections.size} connections again`);
    return { outcome: 'rolled-back', reason, code };
  }

  // Committed: the successor serves. Nothing below can roll back any more:
  // whatever fails from here on, we take everything back (we hold it all).
  const { successorPid, timings } = committed!;
  machine.to('standby');
  const standby = new Standby({ channel: channel!, held: held!, successor: successor!, graceMs: options.standbyMs, heartbeatTimeoutMs: options.heartbeatTimeoutMs, log });
  const watching = standby.run();
  standby.noteSwitched(held!.connections.length); // the first group: acknowledged before the commit
  const restStarted = Date.now();
  const copied = new Set(copies);
  const heldAfter: number[] = [held!.connections.length]; // connections held through each group
  // A new version that heartbeats but takes no group would hold the rest up forever: each wait is bounded.
  const progress = async <T>(work: Promise<T>, what: string): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), options.heartbeatTimeoutMs)));
    const outcome = await Promise.race([work.then(() => 'done' as const, () => 'done' as const), stalled]);
    clearTimeout(timer);
    if (outcome === 'stalled' && !standby.over) standby.takeBack(`${what} within ${options.heartbeatTimeoutMs} ms`);
    return !standby.over;
  };
  for (let g = 1; g < groups.length && !standby.over; g++) {
    // One group in flight: hold this one once the new version serves the last one, so that a
    // connection waits for its own group only, never behind another in a queue.
    if (!(await progress(standby.whenSwitched(heldAfter[g - 1]), `took no group after group ${g}`))) break;
    const extra = g === groups.length - 1 ? [...state.connections].filter((c) => !copied.has(c)) : [];
    const group = holdGroup(copies, groups[g], extra, state.connections, held!);
    if (group.failed) {
      standby.takeBack(`could not be given group ${g + 1} (${explain(group.failed).reason})`);
      break;
    }
    heldAfter.push(held!.connections.length);
    const sending = sendGroup(channel!, group);
    sending.catch(() => {}); // the channel closed: the standby sees why
    if (!(await progress(sending, `read no group ${g + 1}`))) break;
  }
  const handed = held!.connections.length;
  if (!standby.over) {
    await channel!.send({ data: encode({ type: 'done', connections: held!.connections.length, batches: groups.length }) }).catch(() => {});
    timings.restMs = Date.now() - restStarted;
    log(`switched all ${held!.connections.length} connections in ${groups.length} group(s) (${timings.restMs} ms after the commit)`);
    standby.beginGrace();
  }
  const outcome: StandbyOutcome = await watching;
  if (outcome.released) {
    machine.to('handed-over');
    return { outcome: 'upgraded', successorPid, connections: handed, timings };
  }
  machine.to('taken-back');
  state.server = await serveAgain(held!, options.newServer, options.serve, state.connections);
  log(`took everything back: serving ${state.connections.size} connections again (${outcome.reason})`);
  return { outcome: 'taken-back', reason: outcome.reason, successorPid, connections: state.connections.size };
}
