// After the commit the old version stands by for a grace period: it keeps its
// duplicates of the listener and of every connection, reads nothing, and
// watches the new version. If the new version dies (its end of the channel
// closes, or the process exits) or stops answering (no message for
// heartbeatTimeoutMs), it is killed and everything is taken back. Only what
// the new version had read and not answered, and the connections it accepted
// itself, are lost then. When the grace period ends, we release our copies.
import type { FdChannel } from '../channel';
import { closeQuietly } from '../fd/fds';
import { decode, encode, type ReportedState } from './protocol';
import { letGo, release, type Held } from './held';
import { describeExit, type Successor } from './successor';
import type { Log } from './types';

/** Released at the end of the grace period, or told by the new version that it serves alone (`alone`: why). */
export type StandbyOutcome = { released: true; alone?: string } | { released: false; reason: string };

export interface StandbyOptions<S> {
  channel: FdChannel;
  held: Held<S>;
  successor: Successor;
  graceMs: number;
  heartbeatTimeoutMs: number;
  log: Log;
}

/**
 * When a silence looks too long, look again this much later: a process that
 * was itself stopped (SIGSTOP) wakes up with its timers due before it has read
 * the heartbeats waiting in its socket.
 */
const RECHECK_MS = 100;

/** A heartbeat is due within this of any moment (one interval of 200 ms, and some slack). */
const LAST_WORD_MS = 300;

export class Standby<S> {
  private lastHeard = Date.now();
  /** Messages heard from the new version so far. */
  private messages = 0;
  private graceTimer?: NodeJS.Timeout;
  /** 'done' went out: from then on (only) the new version may say it serves alone. */
  private graceBegun = false;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Set once, when the standby settles: released or taken back. */
  private outcome: StandbyOutcome | null = null;
  private settle: (outcome: StandbyOutcome) => void = () => {};
  /** Settles once: released (the grace period passed with the new version answering) or taken back. */
  readonly settled: Promise<StandbyOutcome>;
  /** How many connections the new version says it serves (its 'switched' after each group). */
  private switched = 0;
  private readonly switchWaiters: { count: number; resolve: () => void }[] = [];

  /** Starts watching the new version at once (the commit was sent). */
  constructor(private readonly options: StandbyOptions<S>) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
    this.listen();
    this.timers.push(setTimeout(() => this.watch(), options.heartbeatTimeoutMs / 4));
  }

  /** Whether the standby has settled (released or taken back). */
  isOver(): boolean {
    return this.outcome !== null;
  }

  /** The new version serves this many (its ack of the first group says so). */
  noteSwitched(count: number): void {
    this.switched = Math.max(this.switched, count);
    this.wakeSwitchWaiters();
  }

  /** Resolves once the new version serves `count` connections, or the standby is over. */
  whenSwitched(count: number): Promise<void> {
    if (this.switched >= count || this.isOver()) return Promise.resolve();
    return new Promise((resolve) => this.switchWaiters.push({ count, resolve }));
  }

  private wakeSwitchWaiters(): void {
    for (let i = this.switchWaiters.length - 1; i >= 0; i--) {
      const waiter = this.switchWaiters[i];
      if (this.isOver() || this.switched >= waiter.count) {
        this.switchWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** The rest has been sent: let go of everything once graceMs pass without trouble (0: now). */
  beginGrace(): void {
    if (this.isOver()) return;
    this.graceBegun = true;
    const { graceMs, held, log } = this.options;
    if (graceMs === 0) {
      this.finish({ released: true }); // no standby asked for: nothing to watch
      return;
    }
    log(`standing by for ${graceMs} ms with our copies of ${held.connections.length} connections`);
    const graceStarted = Date.now();
    const heardBefore = this.messages;
    this.graceTimer = setTimeout(() => this.releaseIfAnswering(graceStarted, heardBefore), graceMs);
  }

  /**
   * The grace period is over: release, but only to a version that spoke
   * during it. A standby shorter than heartbeatTimeoutMs would otherwise hand
   * everything to a version that stopped. A short standby may hold no
   * heartbeat yet: wait for the next one due (LAST_WORD_MS after the grace
   * began), and a RECHECK_MS more, as in the watch (we may have been the one
   * stopped, with its heartbeats unread).
   */
  private releaseIfAnswering(graceStarted: number, heardBefore: number): void {
    const spoke = () => this.messages > heardBefore;
    if (spoke()) return this.finish({ released: true });
    const wait = Math.max(0, graceStarted + LAST_WORD_MS - Date.now()) + RECHECK_MS;
    this.graceTimer = setTimeout(() => {
      if (spoke()) this.finish({ released: true });
      else this.finish({ released: false, reason: `stopped answering (nothing for ${Date.now() - this.lastHeard} ms at the end of the standby)` });
    }, wait);
  }

  /** Something failed on our side while streaming the rest: everything comes back here. */
  takeBack(reason: string): void {
    this.finish({ released: false, reason });
  }

  /** The new version's messages, its hang-up, its exit. */
  private listen(): void {
    const { channel, successor } = this.options;
    channel.on('message', ({ data, fds }) => this.heard(data, fds));
    channel.once('close', () => this.finish({ released: false, reason: 'closed the upgrade channel (it died)' }));
    successor.exited?.then((exit) => this.finish({ released: false, reason: `exited (${describeExit(exit)})` }));
  }

  private heard(data: Buffer, fds: number[]): void {
    closeQuietly(fds); // the new version has no fds to send us
    let message;
    let bytes: Buffer;
    try {
      ({ message, bytes } = decode(data, fds.length, 'new'));
    } catch (error) {
      return this.finish({ released: false, reason: `sent garbage during the standby (${(error as Error).message})` });
    }
    this.lastHeard = Date.now();
    this.messages += 1;
    if (message.type === 'alive') {
      for (const index of message.closed) {
        const connection = this.options.held.connections[index];
        if (connection) letGo(connection); // so the client sees the close now, not at the end of the standby
      }
      this.noteReports(message.states ?? [], bytes);
    } else if (message.type === 'alone' && this.graceBegun) {
      this.finish({ released: true, alone: message.reason });
    } else if (message.type === 'serving') {
      this.options.log('the new version serves');
    } else if (message.type === 'switched') {
      this.noteSwitched(message.connections);
    } else {
      this.finish({ released: false, reason: `sent '${message.type}' during the standby` });
    }
  }

  /** The state of each connection the new version used since its last heartbeat: a take-back restores from the latest. */
  private noteReports(states: ReportedState[], bytes: Buffer): void {
    let offset = 0;
    for (const state of states) {
      const pending = Buffer.from(bytes.subarray(offset, offset + state.unread)); // a copy: the message is not kept
      offset += state.unread;
      const connection = this.options.held.connections[state.index];
      if (connection && !connection.closed) connection.report = { session: state.session as S, pending, use: { consumed: state.consumed, written: state.written } };
    }
  }

  /** Silence longer than heartbeatTimeoutMs, looked at twice (RECHECK_MS apart), takes everything back. */
  private watch(): void {
    if (this.isOver()) return;
    const { heartbeatTimeoutMs } = this.options;
    const silent = () => Date.now() - this.lastHeard > heartbeatTimeoutMs;
    if (!silent()) {
      this.timers.push(setTimeout(() => this.watch(), heartbeatTimeoutMs / 4));
      return;
    }
    this.timers.push(setTimeout(() => {
      if (silent()) this.finish({ released: false, reason: `stopped answering (nothing for ${Date.now() - this.lastHeard} ms)` });
      else this.watch();
    }, RECHECK_MS));
  }

  private finish(outcome: StandbyOutcome): void {
    if (this.outcome) return;
    this.outcome = outcome;
    const { channel, held, successor, graceMs, log } = this.options;
    this.wakeSwitchWaiters();
    this.timers.forEach(clearTimeout);
    clearTimeout(this.graceTimer);
    channel.removeAllListeners('message');
    if (outcome.released) {
      const count = held.connections.length;
      if (outcome.alone) {
        channel.close();
        release(held);
        log(`the new version serves alone (${outcome.alone}): released our copies of ${count} connections`);
      } else {
        channel.send({ data: encode({ type: 'release' }) }).catch(() => {}).finally(() => channel.close());
        release(held);
        log(graceMs > 0 ? `standby over: released our copies of ${count} connections after ${graceMs} ms` : `released our copies of ${count} connections (no standby)`);
      }
    } else {
      log(`the new version ${outcome.reason}: killing it and taking everything back`);
      successor.kill();
      channel.close();
    }
    this.settle(outcome);
  }
}
