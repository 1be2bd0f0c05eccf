// The new version's reports, during the standby: the state of each adopted
// connection once the app is done with what it read or wrote, so that a
// take-back restores it exactly (held.ts, judge). One owner: the Upgrader
// says what was adopted, used or closed; this file decides what is sent.
import { handleOf, readEnded, writeQueueSize } from '../socket/internals';
import { sameUse, tcpUseOf, type TcpUse } from '../socket/tcp-use';
import { isBusy } from './busy';
import { nameOf, snapshotOf } from './held';
import { BATCH_BYTES, MAX_CONNECTION_BYTES, type ReportedState } from './protocol';
import { mib, sessionBytes, TOO_LARGE, tooLarge } from './too-large';
import type { Log, ServedConnection } from './types';

/** At most this many states in one message (each with its session): the rest waits for the next one. */
const REPORT_MAX_STATES = 1000;

export interface Report {
  states: ReportedState[];
  bytes: Buffer[];
}

/** Where reports go: the link to the old version (predecessor.ts), while there is one. */
export interface ReportSink {
  canSend(): boolean;
  sendStates(report: Report): void;
}

interface Adopted<S> {
  served: ServedConnection<S>;
  reported: TcpUse | null;
  /** Its state was too large to report at this use (not snapshotted again until it is used again). */
  tooLargeAt?: TcpUse;
  /** Said once in the log. */
  toldTooLarge?: boolean;
}

export class AdoptedReports<S> {
  /** The adopted connections we serve, by the number both sides give them, with the use last reported. */
  private readonly adopted = new Map<number, Adopted<S>>();
  /** Adopted connections read or written since their last report. */
  private readonly used = new Set<number>();
  private due = false;

  constructor(private readonly sink: () => ReportSink | null, private readonly log: Log = () => {}) {}

  /**
   * Connections the app serves now, each with its counts taken before
   * anything here read or wrote it: nobody had used it since the old version
   * held it, so that is the use both sides start from.
   */
  adopt(fresh: [index: number, served: ServedConnection<S>, use: TcpUse | null][]): void {
    for (const [index, served, use] of fresh) this.adopted.set(index, { served, reported: use });
  }

  closed(index: number): void {
    this.adopted.delete(index);
  }

  /**
   * A connection was read or written: reported in a microtask, which runs
   * right after the callback that used it (the app's 'data' handler, its
   * timer), before libuv hands us the next read; so only a connection in the
   * middle of that callback when the new version dies has no exact state.
   * Reporting once per event-loop tick instead closed 217 of 300 busy
   * connections at a take-back (a ping every 20 ms each).
   */
  use(index: number): void {
    this.used.add(index);
    if (!this.sink() || this.due) return;
    this.due = true;
    queueMicrotask(() => {
      this.due = false;
      const sink = this.sink();
      // Backed up (the old version reads slowly or is stopped): the heartbeat reports them later.
      if (sink && sink.canSend()) sink.sendStates(this.report([...this.used]));
    });
  }

  /** Nobody can take anything back any more: forget it all. */
  clear(): void {
    this.adopted.clear();
    this.used.clear();
  }

  /**
   * The state of each adopted connection used since its last report (the
   * kernel's counts moved): `indices`, or (each heartbeat) every adopted one:
   * an http.Server reads through its parser, never through onread, so only
   * the counts show it (30,000 syscalls a heartbeat at 10,000 connections).
   * Left for later: one with bytes inside Node (read and not consumed,
   * written and not sent), half-closed, or whose snapshot() fails.
   */
  report(indices?: number[]): Report {
    const states: ReportedState[] = [];
    const bytes: Buffer[] = [];
    let size = 0;
    const entries: [number, Adopted<S>][] = [];
    for (const index of indices ?? [...this.adopted.keys()]) {
      const a = this.adopted.get(index);
      if (a?.reported && !a.served.socket.destroyed && handleOf(a.served.socket)) entries.push([index, a]);
      else this.used.delete(index); // closed, or not TCP: nothing to report
    }
    const uses = tcpUseOf(entries.map(([, a]) => handleOf(a.served.socket)!.fd));
    for (const [i, [index, a]] of entries.entries()) {
      // One message stays far below the channel's limit (64 MiB): the rest waits for the next one.
      if (states.length >= REPORT_MAX_STATES || size >= BATCH_BYTES) break;
      const use = uses[i];
      const { socket } = a.served;
      if (!use || sameUse(use, a.reported)) {
        this.used.delete(index);
        continue;
      }
      // Busy (markBusy: a request in flight, a message in zlib): its state is in flux; reported once idle.
      if (isBusy(socket) || socket.readableLength > 0 || socket.writableLength > 0 || writeQueueSize(socket) > 0 || socket.writableEnded || readEnded(socket)) continue;
      this.used.delete(index); // before snapshot(): a write inside it marks the connection again
      if (a.tooLargeAt && sameUse(use, a.tooLargeAt)) continue; // not used since it was too large: no new snapshot (70 MB of JSON each heartbeat)
      let snapshot: { session: S; pending: Buffer };
      try {
        snapshot = snapshotOf(a.served);
      } catch {
        continue;
      }
      const stateBytes = sessionBytes(snapshot.session) + snapshot.pending.length;
      if (tooLarge(stateBytes)) {
        // In one message it would make the old version drop the link, and take everything back: left out, it loses only this one on a take-back.
        a.tooLargeAt = use;
        if (!a.toldTooLarge) {
          a.toldTooLarge = true;
          this.log(`connection ${nameOf(socket)}: its state is ${mib(stateBytes)} (session and pending bytes), more than one upgrade message holds (${mib(MAX_CONNECTION_BYTES)}): ` +
            `not reported to the old version, which would close it if it took everything back [${TOO_LARGE}]`);
        }
        continue;
      }
      states.push({ index, session: snapshot.session, unread: snapshot.pending.length, consumed: use.consumed, written: use.written });
      bytes.push(snapshot.pending);
      size += stateBytes; // the session too: it is in the message's header
      a.reported = use;
    }
    return { states, bytes };
  }
}
