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
import { unsentLength } from '../socket/write-tracker';
import { isBusy, whenIdle } from './busy';
import { preferOldForOom } from './oom-score';
import { holdGroup, nameOf, refuseLateWrites, tellApp, type DetachedConnection, type Held, type HeldGroup } from './held';
import { acceptSuccessor, deadlineError, isHangUp, nextMessage } from './peer';
import { QUIET_BEFORE_DONE_MS } from './predecessor';
import { BATCH_BYTES, BATCH_FDS, encode, garbled, MAX_CONNECTION_BYTES, type FromNew } from './protocol';
import { Standby } from './standby';
import { mib, sizeOf, TOO_LARGE, tooLarge } from './too-large';
import { listenUpgradeSocket, upgradeSocketPath } from './state-dir';
import type { OldState, StateMachine } from './states';
import { successorExited, type StartSuccessor, type Successor } from './successor';

/** A successor that exited: how long its channel may take to give up what it sent before, its reason for failing first. */
const REFUSAL_READ_MS = 200;
import type { Log, ServedConnection } from './types';

/** What the Upgrader serves when the upgrade starts: read here, never written. */
export interface Serving<S> {
  /** Closed here once the first group stops (we accept nothing from then on). */
  server: net.Server;
  connections: ReadonlySet<ServedConnection<S>>;
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

/**
 * How an upgrade ended, and what the Upgrader serves now: after 'upgraded'
 * none of `held` (all released); after a rollback that had stopped serving, or
 * a take-back, everything in `held` again (serveAgain).
 */
export type HandOffEnd<S> =
  | { outcome: 'upgraded'; successorPid: number; connections: number; timings: Timings; held: Held<S> }
  | { outcome: 'rolled-back'; reason: string; code: string; held: Held<S> | null; successorExited?: Promise<unknown> }
  | { outcome: 'taken-back'; reason: string; successorPid: number; held: Held<S>; successorDead: boolean };

export type HandOffResult =
  | { outcome: 'upgraded'; successorPid: number; connections: number; timings: Timings }
  | { outcome: 'rolled-back'; reason: string; code: string }
  | { outcome: 'taken-back'; reason: string; successorPid: number; connections: number };

/** Why a step failed, in words that say what to do. */
function explain(error: unknown): { reason: string; code: string } {
  const code = (error as { code?: string }).code ?? 'ERR_UPGRADE';
  const message = (error as Error).message ?? String(error);
  if (isHangUp(error)) {
    return { code, reason: `the successor hung up before the commit (did it crash? see its log) [${code}]` };
  }
  if (code === 'EMFILE' || code === 'ENFILE') {
    return { code, reason: `out of file descriptors (${message}); raise the limit (ulimit -n) and upgrade again` };
  }
  if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR') {
    return { code, reason: `the upgrade socket could not be created: ${message}; check stateDir (fdlab serve: --state-dir)` };
  }
  return { code, reason: message };
}

function batches<S>(connections: DetachedConnection<S>[]): DetachedConnection<S>[][] {
  const out: DetachedConnection<S>[][] = [];
  let current: DetachedConnection<S>[] = [];
  let bytes = 0;
  for (const c of connections) {
    current.push(c);
    bytes += c.sessionBytes + c.unread.length + c.unsent.length; // so a batch stays within a message (MAX_CONNECTION_BYTES)
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

/** How the copies differ from what we served at the signal ("handing over the listener and N"), if they do. */
function sinceSignal<S>(atSignal: ReadonlySet<ServedConnection<S>>, copies: readonly ServedConnection<S>[]): string {
  const copied = new Set(copies);
  const closed = [...atSignal].filter((c) => !copied.has(c)).length;
  const accepted = copies.filter((c) => !atSignal.has(c)).length;
  if (closed === 0 && accepted === 0) return '';
  return `; since the signal ${closed} connection(s) closed and ${accepted} arrived`;
}

/** One stopped group: its detached connections with their fds and bytes, then the switch with each still one's state. */
async function sendGroup<S>(channel: FdChannel, group: HeldGroup<S>): Promise<void> {
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
  await Promise.all(sent);
}

/** 'ready' or 'ack' (and nothing else) from the successor. */
function expect<T extends FromNew['type']>(message: FromNew, type: T): Extract<FromNew, { type: T }> {
  // The successor's own failure (an app that threw, a pid file it cannot write): its reason, not the protocol's.
  if (message.type === 'refuse') throw new FdlabError('ERR_SUCCESSOR_REFUSED', `the new version could not take over: ${message.reason}`);
  if (message.type !== type) throw garbled(`expected '${type}', got '${message.type}'`);
  return message as Extract<FromNew, { type: T }>;
}

/**
 * Copy numbers in groups: GROUP at a time for the first SMALL_GROUPS_UP_TO,
 * LARGE_GROUP after that. Each group is stopped and switched on its own.
 */
export function groupsOf(count: number): number[][] {
  const groups: number[][] = [];
  for (let start = 0; start < count;) {
    const size = Math.min(start < SMALL_GROUPS_UP_TO ? GROUP : LARGE_GROUP, count - start);
    groups.push(Array.from({ length: size }, (_, i) => start + i));
    start += size;
  }
  return groups.length > 0 ? groups : [[]];
}

/**
 * How many connections stop at a time. The first group is switched before the
 * commit (a failure rolls back); the others after it, each served by the new
 * version as soon as it arrives. A connection waits only for its own group.
 */
const GROUP = 256;
/**
 * Past this many, groups of LARGE_GROUP: each group is a round trip between
 * the versions, and 40 of them at 10,000 connections were most of the switch
 * (716 ms). A group of 1,024 stops its connections for about 4 times as long
 * as one of 256 (the new version serves a connection in ~25 us); servers of up
 * to 2,048 connections see no change.
 */
const SMALL_GROUPS_UP_TO = 2048;
const LARGE_GROUP = 1024;

/** Said in the log when busy connections are switched at the deadline (errors.ts). */
const BUSY_AT_DEADLINE = 'ERR_BUSY_AT_DEADLINE';

/**
 * How often a connection held back for its size is looked at again: Node says
 * nothing as the kernel takes part of a queue ('drain' comes once it is empty).
 */
const FITS_POLL_MS = 50;

/**
 * While connections are held back, an empty group this often: the new
 * version declares an old one quiet for QUIET_BEFORE_DONE_MS (2 s) before
 * 'done' stopped, kills it and serves the rest fresh. Measured: a connection
 * held back past 2 s after the commit (a deadline of 8 s) got the old version
 * killed and that connection served without its state and queue. An empty
 * switch is what any new version already takes (it answers 'switched').
 */
const HELD_BACK_KEEPALIVE_MS = QUIET_BEFORE_DONE_MS / 4;

/** SIGKILL takes effect within milliseconds; a process in uninterruptible sleep (D) may take longer. */
const SUCCESSOR_EXIT_WAIT_MS = 2000;

/** Hands everything the Upgrader serves to a new version. Always settles, never throws on the new version's account. */
export function handOff<S>(serving: Serving<S>, options: HandOffOptions<S>): Promise<HandOffEnd<S>> {
  return new HandingOff(serving, options).run();
}

/** One upgrade, old side: its steps, each a state of OLD_STATES. */
class HandingOff<S> {
  private readonly started = Date.now();
  private readonly deadline: number;
  private readonly socketPath: string;
  private upgradeSocket: Awaited<ReturnType<typeof listenUpgradeSocket>> | undefined;
  private successor: Successor | undefined;
  private channel: FdChannel | undefined;
  private held: Held<S> | undefined;
  /** Whether we stopped accepting and reading (a rollback then has to serve again). */
  private stopped = false;
  private copies: ServedConnection<S>[] = [];
  /** What we served at the signal: the log says how the copies differ from it. */
  private readonly atSignal: ReadonlySet<ServedConnection<S>>;
  private groups: number[][] = [];
  /** Groups sent so far (the regular ones, then those of busy connections turned idle). */
  private sentGroups = 1;
  /** Connections the app said were busy when their group was held: switched once idle (busy.ts). */
  private busy: { copies: number[]; extra: ServedConnection<S>[] } = { copies: [], extra: [] };
  /**
   * Of those, the ones held back because their state is larger than a message
   * carries (too-large.ts): what of it is not in Node's buffers (session, the
   * app's pending bytes), so that the queue's shrinking can be watched.
   */
  private readonly large = new Map<ServedConnection<S>, { fixed: number; name: string }>();
  /** When we last sent the new version a group (or an empty one): it declares us gone after 2 s of quiet before 'done'. */
  private lastSent = 0;
  /** The deadline passed while waiting for held-back connections. */
  private pastDeadline = false;
  /** When each step ended (the timings). */
  private readonly at = { hello: 0, copied: 0, held: 0, sent: 0, committed: 0 };
  private successorPid = 0;
  // One deadline and one "the successor died" for every wait before the commit; both are
  // observed here so that neither can become an unhandled rejection.
  private timer: NodeJS.Timeout | undefined;
  private readonly expired: Promise<never>;
  private died: Promise<never> | undefined;

  constructor(private readonly serving: Serving<S>, private readonly options: HandOffOptions<S>) {
    this.deadline = this.started + options.timeoutMs;
    this.atSignal = new Set(serving.connections);
    this.socketPath = upgradeSocketPath(options.stateDir);
    this.expired = new Promise<never>((_, reject) => {
      this.timer = setTimeout(() => reject(deadlineError(`(${options.timeoutMs} ms: timeoutMs, fdlab serve --upgrade-timeout) in state '${options.machine.state}'`)), options.timeoutMs);
    });
    this.expired.catch(() => {});
  }

  async run(): Promise<HandOffEnd<S>> {
    this.options.machine.to('starting-successor');
    try {
      await this.meetSuccessor();
      await this.sendCopies();
      await this.switchFirstGroup();
      await this.commit();
    } catch (error) {
      return this.rollBack(error);
    }
    return this.standBy();
  }

  /** A wait before the commit: bounded by the deadline, cut short if the successor dies. */
  private race<T>(work: Promise<T>): Promise<T> {
    return Promise.race(this.died ? [work, this.expired, this.died] : [work, this.expired]);
  }

  /** Resolves once the successor's channel is closed (everything it sent read), or after `ms`; at once if there is none. */
  private hangUpOrAfter(ms: number): Promise<void> {
    const channel = this.channel;
    if (!channel || channel.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      channel.once('close', () => {
        clearTimeout(timer);
        setImmediate(resolve); // after the message it sent last has gone through its reader's awaits
      });
    });
  }

  /** starting-successor: the upgrade socket, the successor, its hello (uid, pid, token checked). */
  private async meetSuccessor(): Promise<void> {
    const { options, socketPath } = this;
    const upgradeSocket = (this.upgradeSocket = await this.race(listenUpgradeSocket(options.stateDir)));
    upgradeSocket.server.on('error', (error: Error) => options.log(`upgrade socket: ${error.message}`));
    options.log(`upgrade: listening on ${socketPath} (mode 0600, in a 0700 dir)`);
    const token = randomBytes(16).toString('hex');
    const successor = (this.successor = options.startSuccessor({ socketPath, stateDir: options.stateDir, token, log: options.log }));
    this.died = successor.exited?.then(async (exit) => {
      // What it said before it exited comes first: a 'refuse' (why it could not take over, ERR_SUCCESSOR_REFUSED)
      // is read before its hang-up. Without this wait an app that exits on start()'s rejection was reported as
      // only "exited (code 1)": the exit can be seen before the message is read.
      await this.hangUpOrAfter(REFUSAL_READ_MS);
      throw successorExited(exit);
    });
    this.died?.catch(() => {});
    // Read at the hello: a supervisor tells a successor's pid after startSuccessor returns.
    const expected = { uid: options.expectedPeerUid, get pid() { return successor.pid; }, token };
    const accepted = await this.race(acceptSuccessor(upgradeSocket.server, expected, this.deadline, options.log, this.died));
    this.channel = accepted.channel;
    await upgradeSocket.close(); // nobody else can connect now
    this.upgradeSocket = undefined;
    this.at.hello = Date.now();
    options.log(`successor pid ${accepted.hello.pid} (${accepted.hello.version}) said hello after ${this.at.hello - this.started} ms; handing over`);
  }

  /** sending-copies: while we still serve, so nothing is lost if anything fails here; then 'ready'. */
  private async sendCopies(): Promise<void> {
    const { options, serving } = this;
    const channel = this.channel!;
    options.machine.to('sending-copies');
    this.copies = [...serving.connections].filter((c) => !c.socket.destroyed);
    const listenerFd = fdOf(serving.server);
    this.held = { listenerFd: dup(listenerFd), connections: [] };
    const batches = await this.race(sendCopies(channel, this.held.listenerFd, this.copies, Math.max(0, this.deadline - Date.now())));
    // Both numbers: strace shows the dup's (fd 120) while /proc shows the listener's own (fd 19).
    options.log(
      `sent the listener and copies of ${this.copies.length} connections in ${batches} batch(es) while serving ` +
        `(each a dup: the listener, our fd ${listenerFd}, went as fd ${this.held.listenerFd}${sinceSignal(this.atSignal, this.copies)})`,
    );
    // Sent is not taken: wait (still serving) until the new version has wrapped every copy.
    const { message } = await this.race(nextMessage(channel, 'new', this.deadline, 'while the successor took the copies'));
    expect(message, 'ready');
    this.at.copied = Date.now();
  }

  /**
   * Why the copies sent ("copies of 101 connections") and the connections switched (100) differ:
   * one closed meanwhile (lab 5: the client's probe, a connection every 100 ms), or arrived after the copies.
   */
  private notSwitched(held: Held<S>): string {
    const switched = new Set(held.connections.map((c) => c.connection));
    const closed = this.copies.filter((c) => !switched.has(c)).length;
    const late = held.connections.length - (this.copies.length - closed);
    return [
      closed ? `; ${closed} of the ${this.copies.length} copied closed before being switched` : '',
      late > 0 ? `; ${late} arrived after the copies, sent with their group` : '',
    ].join('');
  }

  /** Connections accepted while the copies went out: the new version has no copy of them. */
  private extra(): ServedConnection<S>[] {
    const copied = new Set(this.copies);
    return [...this.serving.connections].filter((c) => !copied.has(c));
  }

  /** transferring: from here on we accept nothing; the first group reads nothing until the new version serves it. */
  private async switchFirstGroup(): Promise<void> {
    this.options.machine.to('transferring');
    this.serving.server.close();
    this.stopped = true;
    this.groups = groupsOf(this.copies.length);
    const idle = this.idleOf(this.groups[0], this.groups.length === 1 ? this.extra() : []);
    const first = holdGroup(this.copies, idle.copies, idle.extra, this.serving.connections, this.held!);
    if (first.failed) throw first.failed;
    this.holdBack(first);
    this.at.held = Date.now();
    await this.race(sendGroup(this.channel!, first));
    this.at.sent = Date.now();
  }

  /** awaiting-ack: the ack of the first group, then the commit, whatever the clock says by then. */
  private async commit(): Promise<void> {
    const { options } = this;
    const channel = this.channel!;
    const held = this.held!;
    options.machine.to('awaiting-ack');
    const { message } = await this.race(nextMessage(channel, 'new', this.deadline, 'while waiting for the ack'));
    const ack = expect(message, 'ack');
    if (ack.connections !== held.connections.length) throw garbled(`the successor acknowledged ${ack.connections} connections, we sent ${held.connections.length}`);
    // The commit point: once the ack is in, we commit whatever the clock says.
    clearTimeout(this.timer);
    await channel.send({ data: encode({ type: 'commit' }) });
    this.lastSent = Date.now();
    refuseLateWrites(held); // the new version serves the first group now: the old app's writes to it send nothing
    this.at.committed = Date.now();
    this.successorPid = ack.pid;
    const t = this.timings();
    options.log(`committed: pid ${ack.pid} serves the first ${held.connections.length} connections (gap ${t.gapMs} ms: hold ${t.holdMs}, send ${t.sendMs}, ack ${t.ackMs}; copies sent in ${t.copyMs} ms while serving)`);
    // The first group's busy ones wait for the rest: the app may finish what would never end on its own (heldBack, types.ts).
    for (const copy of this.busy.copies) tellApp(this.copies[copy], 'heldBack');
    for (const connection of this.busy.extra) tellApp(connection, 'heldBack');
  }

  private timings(restMs = 0): Timings {
    const { started, at } = this;
    return {
      startMs: at.hello - started,
      copyMs: at.copied - at.hello,
      gapMs: at.committed - at.copied,
      holdMs: at.held - at.copied,
      sendMs: at.sent - at.held,
      ackMs: at.committed - at.sent,
      restMs,
    };
  }

  /** Before the commit: abort, make sure a successor we started is gone, and give back what we stopped. */
  private async rollBack(error: unknown): Promise<HandOffEnd<S>> {
    const { options, channel, held } = this;
    clearTimeout(this.timer);
    const { reason, code } = explain(error);
    options.log(`upgrade failed in state '${options.machine.state}': ${reason}; rolling back`);
    // Abort first (an external successor reads it), then make sure a successor we started is gone.
    if (channel && !channel.closed) channel.send({ data: encode({ type: 'abort', reason }) }).catch(() => {});
    this.successor?.kill();
    channel?.close();
    await this.upgradeSocket?.close().catch(() => {});
    options.machine.to('rolled-back');
    if (held && !this.stopped) closeQuietly([held.listenerFd]); // we never stopped: our copy of the listener is all there is to undo
    // Settles once the successor we killed is gone (what it left behind can go then: its prepared pid file).
    const successorExited = this.successor?.exited?.then(() => {}, () => {});
    return { outcome: 'rolled-back', reason, code, held: this.stopped ? held! : null, successorExited };
  }

  /** standby: the other groups, 'done', the grace period; released (upgraded) or everything taken back. */
  private async standBy(): Promise<HandOffEnd<S>> {
    const { options } = this;
    const held = this.held!;
    options.machine.to('standby');
    const standby = new Standby({ channel: this.channel!, held, successor: this.successor!, graceMs: options.standbyMs, heartbeatTimeoutMs: options.heartbeatTimeoutMs, log: options.log });
    standby.noteSwitched(held.connections.length); // the first group: acknowledged before the commit
    const restStarted = Date.now();
    await this.switchRest(standby);
    const handed = held.connections.length;
    const timings = this.timings();
    if (!standby.isOver()) {
      await this.channel!.send({ data: encode({ type: 'done', connections: handed, batches: this.sentGroups, standbyMs: options.standbyMs }) }).catch(() => {});
      timings.restMs = Date.now() - restStarted;
      options.log(`switched all ${handed} connections in ${this.sentGroups} group(s) (${timings.restMs} ms after the commit${this.notSwitched(held)})`);
      preferOldForOom(this.successor?.pid, options.log);
      standby.beginGrace();
    }
    const outcome = await standby.settled;
    if (outcome.released) {
      options.machine.to('handed-over');
      return { outcome: 'upgraded', successorPid: this.successorPid, connections: handed, timings, held };
    }
    const successorDead = await this.successorGone();
    options.machine.to('taken-back');
    return { outcome: 'taken-back', reason: outcome.reason, successorPid: this.successorPid, held, successorDead };
  }

  /**
   * A take-back reads the kernel's counts of each connection's use to know
   * whose state is right (held.ts, judge): only once the new version can no
   * longer read or write. It was sent SIGKILL; wait for its exit (bounded).
   * A successor someone else started cannot be waited for: said.
   */
  private async successorGone(): Promise<boolean> {
    const exited = this.successor?.exited;
    if (!exited) {
      this.options.log('take-back: the new version was started by someone else; if it still runs, stop it (it may still hold and use the connections)');
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), SUCCESSOR_EXIT_WAIT_MS)));
    const outcome = await Promise.race([exited.then(() => 'exited' as const, () => 'exited' as const), late]);
    clearTimeout(timer);
    if (outcome === 'late') this.options.log(`take-back: the new version had not exited ${SUCCESSOR_EXIT_WAIT_MS} ms after SIGKILL; going on, trusting none of its reports`);
    return outcome === 'exited';
  }

  /**
   * After the commit, the groups after the first, one in flight: each is held
   * once the new version serves the one before, so a connection waits for its
   * own group only. Then the busy ones held back, as they turn idle. Nothing
   * rolls back any more: a failure takes everything back.
   */
  private async switchRest(standby: Standby<S>): Promise<void> {
    const held = this.held!;
    const { groups } = this;
    let switchedBefore = held.connections.length; // what the new version serves once the last group sent is in
    for (let g = 1; !standby.isOver(); g++) {
      const regular = g < groups.length;
      if (!regular && this.busy.copies.length + this.busy.extra.length === 0) return;
      if (!(await this.progress(standby, standby.whenSwitched(switchedBefore), `took no group after group ${g}`))) return;
      const picked = regular ? this.idleOf(groups[g], g === groups.length - 1 ? this.extra() : []) : await this.busyTurnedIdle(standby);
      if (standby.isOver()) return;
      const group = holdGroup(this.copies, picked.copies, picked.extra, this.serving.connections, held, { closeTooLarge: this.pastDeadline || Date.now() >= this.deadline });
      if (group.failed) return standby.takeBack(`could not be given group ${g + 1} (${explain(group.failed).reason})`);
      this.holdBack(group);
      if (group.still.length + group.detached.length + group.dropped.length === 0) continue; // all held back again: nothing to send
      refuseLateWrites(held, [...group.still, ...group.detached]); // sent at once: the new version's from here
      switchedBefore = held.connections.length;
      this.sentGroups = g + 1;
      this.lastSent = Date.now();
      const sending = sendGroup(this.channel!, group);
      // The channel closed: the standby sees why. A message we would not send (ERR_UPGRADE_MESSAGE_TOO_LARGE): nobody else would see it.
      sending.catch((error) => {
        if (!this.channel!.closed) standby.takeBack(`could not send group ${g + 1} (${explain(error).reason})`);
      });
      if (!(await this.progress(standby, sending, `read no group ${g + 1}`))) return;
    }
  }

  /**
   * The idle part of a group; the busy ones (markBusy: a request in flight)
   * are held back for busyTurnedIdle, and keep being served here meanwhile.
   * Switching one mid-request leaves no right answer: the new version cannot
   * finish a response it never started, and the old one may not write any more.
   */
  private idleOf(copies: readonly number[], extra: readonly ServedConnection<S>[]): { copies: number[]; extra: ServedConnection<S>[] } {
    const idle = { copies: [] as number[], extra: [] as ServedConnection<S>[] };
    const heldBack: ServedConnection<S>[] = [];
    for (const copy of copies) {
      if (!isBusy(this.copies[copy].socket)) idle.copies.push(copy);
      else {
        this.busy.copies.push(copy);
        heldBack.push(this.copies[copy]);
      }
    }
    for (const connection of extra) {
      if (!isBusy(connection.socket)) idle.extra.push(connection);
      else {
        this.busy.extra.push(connection);
        heldBack.push(connection);
      }
    }
    // After the sorting (what heldBack() does must not change this group), and only once committed: a rollback keeps them here.
    if (this.at.committed) for (const connection of heldBack) tellApp(connection, 'heldBack');
    return idle;
  }

  /**
   * Connections a group did not carry (held.ts, notCarried): held back to a
   * later group, like a busy one; said once for one too large to carry. And
   * the ones closed at the deadline because they still were, said.
   */
  private holdBack(group: HeldGroup<S>): void {
    const { options } = this;
    for (const c of group.closed) {
      this.large.delete(c.connection);
      options.log(`connection ${c.name}: still ${sizeOf(c.bytes, c.queued)} at the upgrade deadline (${options.timeoutMs} ms): closed (reset); the others move [${TOO_LARGE}]`);
    }
    for (const c of [...group.still, ...group.detached]) {
      const large = this.large.get(c.connection);
      if (!large) continue;
      this.large.delete(c.connection);
      const carried = c.kind === 'detached' ? c.sessionBytes + c.unread.length + c.unsent.length : 0;
      options.log(`connection ${large.name}: small enough to carry now (${c.kind === 'detached' ? `${mib(carried)} with it` : 'its queue sent'}), switched`);
    }
    const heldBack: ServedConnection<S>[] = [];
    for (const c of group.notCarried) {
      if (c.copy !== undefined) this.busy.copies.push(c.copy);
      else this.busy.extra.push(c.connection);
      if (!tooLarge(c.bytes)) continue; // only this group's switch was full: the next group takes it
      if (!this.large.has(c.connection)) {
        heldBack.push(c.connection);
        options.log(
          `connection ${c.name}: ${sizeOf(c.bytes, c.queued)}: held back, served here until it is small enough to move; ` +
            `closed (reset) if it still is at the upgrade deadline (${options.timeoutMs} ms); the other connections move now [${TOO_LARGE}]`,
        );
      }
      this.large.set(c.connection, { fixed: c.bytes - c.inNode, name: c.name });
    }
    // Only once committed, as for busy ones (idleOf): before that, commit() tells every one held back.
    if (this.at.committed) for (const connection of heldBack) tellApp(connection, 'heldBack');
  }

  /** Whether a connection held back may be switched now: closed, or idle and (if it was too large) small enough by Node's counts. */
  private ready(connection: ServedConnection<S>): boolean {
    const { socket } = connection;
    if (socket.destroyed) return true;
    if (isBusy(socket)) return false;
    const fixed = this.large.get(connection)?.fixed;
    return fixed === undefined || fixed + socket.readableLength + unsentLength(socket) <= MAX_CONNECTION_BYTES;
  }

  /**
   * The connections held back (busy, or too large) that may be switched now:
   * resolves as soon as there is one, with every one ready by then. At the
   * upgrade's deadline, all that are left: the busy ones are switched anyway
   * (said, ERR_BUSY_AT_DEADLINE), with what their snapshot() says then; the
   * old app's writes to them are refused from then on, like any late write;
   * the ones still too large are closed (holdGroup, closeTooLarge).
   */
  private async busyTurnedIdle(standby: Standby<S>): Promise<{ copies: number[]; extra: ServedConnection<S>[] }> {
    const { busy } = this;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, this.deadline - Date.now()))));
    const over = standby.settled.then(() => 'over' as const);
    try {
      for (;;) {
        const waiting = [...busy.copies.map((copy) => this.copies[copy]), ...busy.extra];
        if (waiting.some((c) => this.ready(c))) {
          const idle = { copies: busy.copies.filter((copy) => this.ready(this.copies[copy])), extra: busy.extra.filter((c) => this.ready(c)) };
          busy.copies = busy.copies.filter((copy) => !idle.copies.includes(copy));
          busy.extra = busy.extra.filter((c) => !idle.extra.includes(c));
          return idle;
        }
        const sockets = waiting.map((c) => c.socket);
        const busySockets = sockets.filter(isBusy);
        const waits: Promise<'idle' | 'late' | 'over' | 'poll' | 'keepalive'>[] = [late, over];
        if (busySockets.length > 0) waits.push(Promise.any(busySockets.map(whenIdle)).then(() => 'idle' as const));
        let poll: NodeJS.Timeout | undefined;
        if (busySockets.length < sockets.length) waits.push(new Promise<'poll'>((resolve) => (poll = setTimeout(() => resolve('poll'), FITS_POLL_MS))));
        let keepalive: NodeJS.Timeout | undefined;
        waits.push(new Promise<'keepalive'>((resolve) => (keepalive = setTimeout(() => resolve('keepalive'), Math.max(0, this.lastSent + HELD_BACK_KEEPALIVE_MS - Date.now())))));
        const outcome = await Promise.race(waits);
        clearTimeout(poll);
        clearTimeout(keepalive);
        if (outcome === 'keepalive') this.sendEmptyGroup();
        if (outcome === 'over') return { copies: [], extra: [] };
        if (outcome === 'late') {
          this.pastDeadline = true;
          const left = sockets.filter(isBusy);
          if (left.length > 0) {
            this.options.log(`${left.length} connection(s) still busy at the upgrade deadline (${this.options.timeoutMs} ms): switched anyway, as their snapshot() says (${left.slice(0, 5).map(nameOf).join(', ')}${left.length > 5 ? ', ...' : ''}) [${BUSY_AT_DEADLINE}]`);
          }
          return { copies: busy.copies.splice(0), extra: busy.extra.splice(0) };
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** An empty group: the new version hears from us while connections are held back (HELD_BACK_KEEPALIVE_MS). */
  private sendEmptyGroup(): void {
    this.lastSent = Date.now();
    this.channel!.send({ data: encode({ type: 'switch', entries: [], dropped: [], detached: 0 }) }).catch(() => {}); // a closed channel: the standby sees it
  }

  /** A new version that heartbeats but takes no group would hold the rest up forever: each wait is bounded. */
  private async progress(standby: Standby<S>, work: Promise<unknown>, what: string): Promise<boolean> {
    const { heartbeatTimeoutMs } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), heartbeatTimeoutMs)));
    const outcome = await Promise.race([work.then(() => 'done' as const, () => 'done' as const), stalled]);
    clearTimeout(timer);
    if (outcome === 'stalled' && !standby.isOver()) standby.takeBack(`${what} within ${heartbeatTimeoutMs} ms`);
    return !standby.isOver();
  }
}
