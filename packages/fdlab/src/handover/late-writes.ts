// The old app's writes and end()s on connections the new version serves:
// refused (socket/gate.ts), counted here, and logged once per upgrade, when
// the upgrade settles (or at the first one after it, if none came before).
import type { Refused } from '../socket/gate';
import type { Log } from './types';

export class LateWrites {
  writes = 0;
  ends = 0;
  bytes = 0;
  private log: Log | null = null;
  private told = false;

  /** Counts one refused write or end (the gate's callback). */
  readonly note: Refused = (what, bytes) => {
    if (what === 'write') this.writes += 1;
    else this.ends += 1;
    this.bytes += bytes;
    if (this.log) this.tell(this.log);
  };

  /** The upgrade settled: says what was refused so far, and (once) the first one after this. */
  settle(log: Log): void {
    this.log = log;
    if (this.writes + this.ends > 0) this.tell(log);
  }

  private tell(log: Log): void {
    if (this.told) return;
    this.told = true;
    log(
      `late writes: the app wrote ${this.writes} time(s) (${this.bytes} bytes) and called end() ${this.ends} time(s) on connections the new version serves; ` +
        'nothing was sent, each callback got ERR_CONNECTION_HANDED_OVER (stop writing to a connection once the upgrade took it)',
    );
  }
}
