// The new version's link to the old one after the commit (NEW_STATES
// 'serving-standby'): the other groups arrive on it, 'done', then 'release' at
// the end of the old version's standby; we send 'serving', then 'alive' every
// HEARTBEAT_MS with the connections we closed. The link ends on 'release' or
// when the old version is gone; then we serve alone.
import type { FdChannel } from '../channel';
import { closeQuietly } from '../fd/fds';
import type { Arrivals, Incoming } from './arrivals';
import { certainlyDead } from './peer';
import { decode, encode } from './protocol';
import type { Log } from './types';

/** How often the new version tells a standing-by old version it is alive. */
export const HEARTBEAT_MS = 200;

export interface PredecessorOptions<S> {
  channel: FdChannel;
  arrivals: Arrivals<S>;
  oldPid: number;
  /** Serves a group that is ours now; `first` is the number both sides give its first connection. */
  start: (incoming: Incoming<S>[], first: number) => void;
  /** The link is over: released, or the old version is gone (false), or we closed (true). Called once. */
  ended: (closedHere: boolean) => void;
  log: Log;
}

export class Predecessor<S> {
  /** Which of the adopted connections we closed since the last heartbeat. */
  private closed: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private over = false;

  constructor(private readonly options: PredecessorOptions<S>) {
    const { channel } = options;
    this.timer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    // Listen first: what it sent before it went (the other groups, done, release) still counts.
    // The channel closes only once those are read, so 'close' is the one sign that it is gone;
    // a failed send is not (the channel keeps reading what is queued).
    channel.on('message', (message: { data: Buffer; fds: number[] }) => this.heard(message));
    channel.once('close', () => void this.gone('is gone'));
    // It may have died before we listened: the channel saw its hang-up already.
    if (channel.closed) void this.gone('is gone');
    channel.send({ data: encode({ type: 'serving' }) }).catch(() => {});
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
    this.options.channel.close();
    this.options.ended(closedHere);
  }

  /** After the commit: the other groups, 'done', then 'release' at the end of its standby. */
  private heard({ data, fds }: { data: Buffer; fds: number[] }): void {
    if (this.over) return closeQuietly(fds);
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
        arrivals.checkDone(message.connections);
        log(`took over all ${arrivals.taken.length} connections`);
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
    const closed = this.closed.splice(0);
    this.options.channel.send({ data: encode({ type: 'alive', closed }) }).catch(() => {}); // 'close' says when it is gone
  }
}
