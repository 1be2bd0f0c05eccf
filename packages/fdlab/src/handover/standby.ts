// After the commit the old version stands by for a grace period: it keeps its
// duplicates of the listener and of every connection, reads nothing, and
// watches the new version. If the new version dies (its end of the channel
// closes, or the process exits) or stops answering (no message for
// heartbeatTimeoutMs), it is killed and everything is taken back. Only what
// the new version had read and not answered, and the connections it accepted
// itself, are lost then. When the grace period ends, we release our copies.
import type { FdChannel } from '../channel';
import { closeQuietly } from '../fd/fds';
import { decode, encode } from './protocol';
import { letGo, release, type Held } from './held';
import type { Successor } from './successor';
import type { Log } from './types';

export type StandbyOutcome = { released: true } | { released: false; reason: string };

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
  private finish: (outcome: StandbyOutcome) => void = () => {};
  private graceTimer?: NodeJS.Timeout;
  /** Settled: released or taken back. */
  over = false;
  /** How many connections the new version says it serves (its 'switched' after each group). */
  private switched = 0;
  private readonly switchWaiters: { count: number; resolve: () => void }[] = [];

  /** The new version serves this many (its ack of the first group says so). */
  noteSwitched(count: number): void {
    this.switched = Math.max(this.switched, count);
    this.wakeSwitchWaiters();
  }

  /** Resolves once the new version serves `count` connections, or the standby is over. */
  whenSwitched(count: number): Promise<void> {
    if (this.switched >= count || this.over) return Promise.resolve();
    return new Promise((resolve) => this.switchWaiters.push({ count, resolve }));
  }

  private wakeSwitchWaiters(): void {
    for (let i = this.switchWaiters.length - 1; i >= 0; i--) {
      const waiter = this.switchWaiters[i];
      if (this.over || this.switched >= waiter.count) {
        this.switchWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  constructor(private readonly options: StandbyOptions<S>) {}

  /** The rest has been sent: let go of everything once graceMs pass without trouble (0: now). */
  beginGrace(): void {
    if (this.over) return;
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

  /** Watches the new version from the commit on; settles on release or take-back. */
  run(): Promise<StandbyOutcome> {
    const { channel, held, successor, graceMs, heartbeatTimeoutMs, log } = this.options;
    return new Promise<StandbyOutcome>((resolve) => {
      let done = false;
      const timers: NodeJS.Timeout[] = [];
      const finish = (this.finish = (outcome: StandbyOutcome) => {
        if (done) return;
        done = true;
        this.over = true;
        this.wakeSwitchWaiters();
        timers.forEach(clearTimeout);
        clearTimeout(this.graceTimer);
        channel.removeAllListeners('message');
        if (outcome.released) {
          channel.send({ data: encode({ type: 'release' }) }).catch(() => {}).finally(() => channel.close());
          const count = held.connections.length;
          release(held);
          log(graceMs > 0 ? `standby over: released our copies of ${count} connections after ${graceMs} ms` : `released our copies of ${count} connections (no standby)`);
        } else {
          log(`the new version ${outcome.reason}: killing it and taking everything back`);
          successor.kill();
          channel.close();
        }
        resolve(outcome);
      });

      channel.on('message', ({ data, fds }) => {
        closeQuietly(fds); // the new version has no fds to send us
        let message;
        try {
          message = decode(data, fds.length, 'new').message;
        } catch (error) {
          finish({ released: false, reason: `sent garbage during the standby (${(error as Error).message})` });
          return;
        }
        this.lastHeard = Date.now();
        this.messages += 1;
        if (message.type === 'alive') {
          for (const index of message.closed) {
            const connection = held.connections[index];
            if (connection) letGo(connection); // so the client sees the close now, not at the end of the standby
          }
        } else if (message.type === 'serving') {
          log('the new version serves');
        } else if (message.type === 'switched') {
          this.switched = message.connections;
          this.wakeSwitchWaiters();
        } else {
          finish({ released: false, reason: `sent '${message.type}' during the standby` });
        }
      });
      channel.once('close', () => finish({ released: false, reason: 'closed the upgrade channel (it died)' }));
      successor.exited?.then((code) => finish({ released: false, reason: `exited (code ${code})` }));

      const watch = () => {
        if (done) return;
        if (Date.now() - this.lastHeard <= heartbeatTimeoutMs) {
          timers.push(setTimeout(watch, heartbeatTimeoutMs / 4));
          return;
        }
        timers.push(setTimeout(() => {
          if (Date.now() - this.lastHeard > heartbeatTimeoutMs) {
            finish({ released: false, reason: `stopped answering (nothing for ${Date.now() - this.lastHeard} ms)` });
          } else {
            watch();
          }
        }, RECHECK_MS));
      };
      timers.push(setTimeout(watch, heartbeatTimeoutMs / 4));
    });
  }
}
