// The new version's link to the old one after the commit (NEW_STATES
// 'serving-standby'): the other groups arrive on it, 'done', then 'release' at
// the end of the old version's standby; we send 'serving', then 'alive' every
// HEARTBEAT_MS with the connections we closed. The link ends on 'release' or
// when the old version is gone; then we serve alone.
import type { FdChannel } from '../channel';
import { closeQuietly } from '../fd/fds';
import type { Arrivals, Incoming } from './arrivals';
import { certainlyDead, isStopped, startTimeOf } from './peer';
import { decode, encode, type ReportedState } from './protocol';
import type { Log } from './types';

/** How often the new version tells a standing-by old version it is alive. */
export const HEARTBEAT_MS = 200;

export interface PredecessorOptions<S> {
  channel: FdChannel;
  arrivals: Arrivals<S>;
  oldPid: number;
  /** Serves a group that is ours now; `first` is the number both sides give its first connection. */
  start: (incoming: Incoming<S>[], first: number) => void;
  /**
   * The link is over: released, or the old version is gone (false), or we
   * closed (true). Called once. `holdsCopies`: we serve alone while it may
   * still hold copies of our connections (it did not release us in time).
   */
  ended: (closedHere: boolean, holdsCopies?: boolean) => void;
  /** Connections closed here before the link existed (they go in the first heartbeat). */
  closed?: number[];
  /** The state of each connection used since the last heartbeat, for a take-back (Upgrader.report). */
  report?: () => { states: ReportedState[]; bytes: Buffer[] };
  /** The upgrade's deadline (timeoutMs): how long a running old version may be quiet before 'done' (it waits for busy connections). */
  deadlineMs: number;
  log: Log;
}

/**
 * After 'done' the old version stands by for standbyMs, then releases us (a
 * heartbeat late at most, 400 ms). One stopped (SIGSTOP, a debugger) would
 * hold us in 'serving-standby' for as long: no upgrade, and its copies keep
 * every connection open. Past this much more, we serve alone.
 */
export const ALONE_AFTER_MS = 2000;

/**
 * Before 'done' the old version sends a group after each 'switched' of ours,
 * then 'done', but may wait for busy connections until its deadline. One
 * stopped in between (SIGSTOP as it entered its standby) held us in
 * 'serving-standby' without bound, since the bound above counts from 'done':
 * every upgrade refused (measured 8 s and on, with or without `fdlab run`).
 * This long without a message before 'done', while it is stopped (or the
 * deadline and ALONE_AFTER_MS, while it runs), and it is declared gone the same way.
 */
export const QUIET_BEFORE_DONE_MS = ALONE_AFTER_MS;

export class Predecessor<S> {
  /** Which of the adopted connections we closed since the last heartbeat. */
  private closed: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private aloneTimer: NodeJS.Timeout | undefined;
  /** Armed until 'done', pushed back by each message (QUIET_BEFORE_DONE_MS). */
  private quietTimer: NodeJS.Timeout | undefined;
  /** When the old version's last message came (or the link began). */
  private lastHeard = Date.now();
  /** The quiet of a running old version was logged (once). */
  private saidQuiet = false;
  private doneHeard = false;
  private over = false;
  /** The old version's identity (its start time), so a pid reused since is never signalled. */
  private readonly oldStarted: string | null;

  constructor(private readonly options: PredecessorOptions<S>) {
    const { channel } = options;
    this.oldStarted = startTimeOf(options.oldPid);
    this.closed.push(...(options.closed ?? []));
    this.timer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    // Listen first: what it sent before it went (the other groups, done, release) still counts.
    // The channel closes only once those are read, so 'close' is the one sign that it is gone;
    // a failed send is not (the channel keeps reading what is queued).
    channel.on('message', (message: { data: Buffer; fds: number[] }) => this.heard(message));
    channel.once('close', () => void this.gone('is gone'));
    // It may have died before we listened: the channel saw its hang-up already.
    if (channel.closed) void this.gone('is gone');
    channel.send({ data: encode({ type: 'serving' }) }).catch(() => {});
    // setImmediate: a message already in the socket (we were busy when the timer came due) is read first.
    this.armQuietTimer();
  }

  /**
   * Before 'done' the old version may be quiet for a long time while it runs: it waits for busy
   * connections (a request in flight, an upload) until its deadline. Measured when any 2 s of
   * quiet counted: a POST whose body took 4 s made us kill a healthy old version (400 for the
   * client). So 2 s of quiet is enough only if it is stopped (state T: SIGSTOP, a debugger); a
   * running one gets the deadline, and ALONE_AFTER_MS more, before it is declared stuck.
   */
  private armQuietTimer(): void {
    this.quietTimer = setTimeout(() => setImmediate(() => this.quietBeforeDone()), QUIET_BEFORE_DONE_MS);
  }

  private quietBeforeDone(): void {
    if (this.over || this.doneHeard) return;
    const quietMs = Date.now() - this.lastHeard;
    const { oldPid } = this.options;
    const visible = oldPid > 0 && oldPid !== process.pid && this.oldStarted !== null;
    if (visible && isStopped(oldPid)) return this.alone(`no message for ${quietMs} ms before 'done', and it is stopped`);
    if (quietMs >= this.options.deadlineMs + ALONE_AFTER_MS) return this.alone(`no message for ${quietMs} ms before 'done'`);
    if (!this.saidQuiet) {
      this.saidQuiet = true;
      this.options.log(`the old version has sent nothing for ${quietMs} ms before 'done' and is not stopped (busy connections wait until its deadline): waiting`);
    }
    this.armQuietTimer();
  }

  /** Connection `index` (in the agreed order) closed here: the next heartbeat says so. */
  noteClosed(index: number): void {
    if (!this.over) this.closed.push(index);
  }

  /** Ends the link (released, gone, or we close: `closedHere`): once. */
  end(closedHere = false): void {
    if (this.over) return;
    this.over = true;
    clearInterval(this.timer);
    clearTimeout(this.aloneTimer);
    clearTimeout(this.quietTimer);
    this.options.channel.close();
    this.options.ended(closedHere);
  }

  /**
   * No release long after the standby: the old version is declared gone. Its
   * standby is over, so all it had left to do was let go of its copies and
   * end: it is killed (SIGKILL, checked to be the same process), which lets
   * go of them at once. A take-back by it, once it runs again, could no
   * longer be told from a crash of ours: after a stop of 3 s it took back 31
   * connections that a third version served (its 'alone' message was still
   * queued behind our heartbeats when we exited). Where its pid is not ours to
   * see (another pid namespace) it cannot be killed: 'alone' is sent, and
   * connections we close are shut down so that its copies do not keep them open.
   */
  private alone(reason: string): void {
    if (this.over) return;
    const { channel, oldPid, log, arrivals } = this.options;
    // Never ourselves: fdlab/testing runs both versions in one process (SO_PEERCRED gives our own pid).
    const visible = oldPid > 0 && oldPid !== process.pid && this.oldStarted !== null;
    const same = visible && startTimeOf(oldPid) === this.oldStarted;
    let gone = visible && !same; // exited (or its pid reused): its copies went with it
    if (same) {
      try {
        process.kill(oldPid, 'SIGKILL');
        gone = true;
      } catch (error) {
        log(`could not kill the old version (pid ${oldPid}): ${(error as Error).message}`);
      }
    }
    if (gone && arrivals.unswitchedCount > 0) {
      // Stopped before 'done', with groups it never switched: it is dead now, so they are ours (gone() serves them fresh).
      void this.gone(`was stopped or stuck (${reason}): ${same ? 'killed it' : 'it is gone'}`);
      return;
    }
    this.over = true;
    clearInterval(this.timer);
    clearTimeout(this.quietTimer);
    const why = this.doneHeard ? '(its standby was over)' : "(before 'done': every group was switched)";
    log(same && gone
      ? `the old version (pid ${oldPid}) did not release us: ${reason} (stopped or stuck?); killed it ${why}, serving alone`
      : gone
        ? `the old version (pid ${oldPid}) is gone without a release: serving alone`
        : `the old version did not release us: ${reason} (stopped or stuck?); serving alone (it lets go of its copies when it runs again; until then connections we close are shut down, so their clients see it at once)`);
    channel.send({ data: encode({ type: 'alone', reason }) }).catch(() => {}).finally(() => channel.close());
    this.options.ended(false, !gone);
  }

  /** After the commit: the other groups, 'done', then 'release' at the end of its standby. */
  private heard({ data, fds }: { data: Buffer; fds: number[] }): void {
    if (this.over) return closeQuietly(fds);
    this.lastHeard = Date.now();
    const { arrivals, channel, log } = this.options;
    try {
      const { message, bytes } = decode(data, fds.length, 'old');
      if (message.type === 'connections') {
        arrivals.takeDetached(message.entries, fds, bytes);
      } else if (message.type === 'switch') {
        const first = arrivals.taken.length;
        this.options.start(arrivals.applySwitch(message, bytes), first);
        // The old version paces its groups by this: a group waits only for itself, not in a queue.
        channel.send({ data: encode({ type: 'switched', connections: arrivals.taken.length }) }).catch(() => {});
      } else if (message.type === 'done') {
        this.doneHeard = true;
        clearTimeout(this.quietTimer); // the bound from here is 'release' within standbyMs + ALONE_AFTER_MS
        arrivals.checkDone(message.connections);
        log(`took over all ${arrivals.taken.length} connections`);
        if (message.standbyMs !== undefined) {
          const afterMs = message.standbyMs + ALONE_AFTER_MS;
          // setImmediate: a 'release' already in the socket (we were busy when the timer came due) is read first.
          this.aloneTimer = setTimeout(() => setImmediate(() => this.alone(`no release ${afterMs} ms after 'done'`)), afterMs);
        }
      } else if (message.type === 'release') {
        this.released();
      } else {
        closeQuietly(fds);
        void this.gone(`sent '${message.type}' after the commit`);
      }
    } catch (error) {
      closeQuietly(fds);
      void this.gone(`sent something wrong after the commit (${(error as Error).message})`);
    }
  }

  private released(): void {
    const { arrivals, log } = this.options;
    log('the old version released its copies: serving alone');
    this.end();
    // A release before every copy was switched breaks the protocol: those stay the old version's.
    if (arrivals.unswitchedCount > 0) log(`letting go of our copies of ${arrivals.dropUnswitched()} connections it released unswitched`);
  }

  /**
   * The link ended before 'release'. Groups it never switched: if it
   * certainly died, they are ours (served as fresh connections: their state
   * died with it); if it lives, it took them back, and we let go of our copies.
   */
  private async gone(why: string): Promise<void> {
    if (this.over) return;
    const { arrivals, log } = this.options;
    log(`the old version ${why}: serving alone`);
    this.end();
    if (arrivals.unswitchedCount === 0) return;
    if (await certainlyDead(this.options.oldPid)) {
      const first = arrivals.taken.length;
      const fresh = arrivals.unswitched();
      this.options.start(fresh, first);
      log(`serving the ${fresh.length} connections it had not switched yet (their sessions died with it)`);
    } else {
      log(`letting go of our copies of ${arrivals.dropUnswitched()} connections it never switched: it still has them`);
    }
  }

  private heartbeat(): void {
    const backedUp = this.options.channel.queuedSends > 0;
    this.sendStates(backedUp ? undefined : this.options.report?.(), true);
  }

  /** Whether a report would go out now (nothing queued ahead of it). */
  canSend(): boolean {
    return !this.over && this.options.channel.queuedSends === 0;
  }

  /**
   * 'alive': the connections closed since the last one, and the states of the
   * ones used (if any). A report waits while the old version does not read
   * (a stopped one would make us queue without bound); a heartbeat does not.
   */
  sendStates(report?: { states: ReportedState[]; bytes: Buffer[] }, heartbeat = false): boolean {
    if (this.over) return false;
    if (!heartbeat && this.options.channel.queuedSends > 0) return false;
    const closed = this.closed.splice(0);
    const data = report && report.states.length > 0
      ? encode({ type: 'alive', closed, states: report.states }, Buffer.concat(report.bytes))
      : encode({ type: 'alive', closed });
    this.options.channel.send({ data }).catch(() => {}); // 'close' says when it is gone
    return true;
  }
}
