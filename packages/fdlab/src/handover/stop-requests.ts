// SIGINT (Ctrl-C), SIGHUP (a reload-style signal, a closed terminal) and
// SIGTERM (systemd, Docker, Kubernetes; pm2 sends SIGINT) all mean one thing
// to a server started with Upgrader's `stopSignals`: stop. Serving: close the
// listener and every connection, remove the pid file, exit(0). Their default
// action killed a version mid-upgrade, and with it every connection it held
// (measured: 1,000 of 1,000 dropped). So, by where this version stands:
// - the old side of an upgrade: the stop waits until it settles (close()
//   lets it): upgraded, we exit and the new version serves; rolled back or
//   taken back, we stop then;
// - taking over, before the commit: we refuse the take-over and exit; the
//   old version still owns every connection (we only held copies, still)
//   and rolls back (or takes back, if it read our ack), serving on;
// - taking over, after the commit (the old version stands by): the stop
//   waits until it has released us (or is gone), then we stop as when
//   serving. Handing back instead would restore the old version's older
//   sessions, and the service a stop was sent to would serve on.
// The library never exits the process: it calls the app's exit(code).
import { removePidFile } from './pid-file';
import type { NewState, OnState, Status } from './states';
import type { Log } from './types';

export type StopSignal = 'SIGINT' | 'SIGHUP' | 'SIGTERM';
export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGHUP', 'SIGTERM'];

/** What a stop needs of the Upgrader (upgrader.ts), once start() has resolved. */
export interface Stoppable {
  readonly status: Status;
  stats(): string;
  close(): Promise<void>;
  on(event: 'upgraded' | 'rolled-back' | 'taken-back' | 'released', listener: () => void): unknown;
}

export interface StopRequestOptions {
  exit: (code: number) => void;
  log: Log;
  pidFile?: string;
  /** Started with takeOver: a new version, from 'connecting' until the commit. */
  takingOver: boolean;
  /** Before exiting in the middle of a take-over: remove what it prepared (its pid file's temporary file). */
  abandon?: () => void;
}

/** From this state of a take-over on, the connections are ours (the commit, or the old version gone). */
function committed(state: NewState): boolean {
  return state === 'serving-standby' || state === 'serving' || state === 'orphaned';
}

export class StopRequests {
  /** The signal that asked first, once one has. */
  private stopping: StopSignal | null = null;
  /** Where our take-over stands, for a stop that comes before start() resolves. */
  private taking: NewState | null;
  private upgrader: Stoppable | null = null;
  /** closing and exiting (or exited): a later request only logs. */
  private exiting = false;
  private exitCalled = false;
  private readonly handlers = new Map<StopSignal, () => void>();
  private readonly ignoreUsr2 = () => this.options.log(`SIGUSR2 ignored: stopping (${this.stopping})`);

  constructor(private readonly options: StopRequestOptions) {
    this.taking = options.takingOver ? 'connecting' : null;
    for (const signal of STOP_SIGNALS) {
      const handler = () => this.request(signal);
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  /** Chained before the app's onState: recorded before a fault hook can stop the process there. */
  readonly onState: OnState = (side, state) => {
    if (side === 'new') this.taking = state as NewState;
  };

  /** start() resolved: from now on a stop goes through the upgrader's status and events. */
  attach(upgrader: Stoppable): void {
    this.upgrader = upgrader;
    upgrader.on('upgraded', () => {
      if (!this.stopping) return;
      this.options.log(`${this.stopping} during the upgrade: it went through; exiting, the new version serves`);
      // After the app's own 'upgraded' listeners (which usually exit first).
      setImmediate(() => this.exitOnce(0));
    });
    upgrader.on('rolled-back', () => {
      if (this.stopping) this.options.log(`the upgrade rolled back: stopping now (${this.stopping})`);
    });
    upgrader.on('taken-back', () => {
      if (this.stopping) this.options.log(`took everything back: stopping now (${this.stopping})`);
    });
    upgrader.on('released', () => {
      if (!this.stopping || this.exiting) return;
      this.options.log(`${this.stopping}: the previous version released us: stopping now; ${upgrader.stats()}`);
      this.closeAndExit();
    });
    // A stop request that came while we took over, after the commit.
    if (this.stopping) this.settle();
  }

  /** start() failed: the handlers go (the app's catch decides what happens next). */
  detach(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    process.off('SIGUSR2', this.ignoreUsr2);
  }

  private request(signal: StopSignal): void {
    const { log } = this.options;
    if (this.stopping) {
      const status = this.upgrader?.status;
      const when = status === 'upgrading' ? ', once the upgrade settles' : !this.upgrader || status === 'predecessor-standing-by' ? ', once the previous version has released us' : '';
      log(`${signal}: already stopping (${this.stopping})${when}`);
      return;
    }
    this.stopping = signal;
    // close() stops handling SIGUSR2: its default action must not kill us while an upgrade settles.
    process.on('SIGUSR2', this.ignoreUsr2);
    if (this.upgrader) return this.settle();
    if (this.taking === null) {
      log(`${signal} while starting: exiting before serving`);
      if (this.options.pidFile) removePidFile(this.options.pidFile);
      return this.exitOnce(0);
    }
    if (!committed(this.taking)) {
      // Exiting closes our copies only; the old version's own hold everything.
      log(`${signal} while taking over ('${this.taking}', before the commit): refusing the take-over; the old version serves on`);
      this.options.abandon?.();
      return this.exitOnce(0);
    }
    log(`${signal} while taking over ('${this.taking}', after the commit): stopping once the previous version has released us`);
  }

  /** A stop request with the upgrader there: now, or once the upgrade (either side of it) has settled. */
  private settle(): void {
    const upgrader = this.upgrader!;
    if (upgrader.status === 'predecessor-standing-by') {
      this.options.log(`${this.stopping} while the previous version stands by: stopping once it has released us`);
      return; // 'released'
    }
    if (upgrader.status === 'upgrading') this.options.log(`${this.stopping} during the upgrade: stopping once it settles`);
    else this.options.log(`${this.stopping}: stopping; ${upgrader.stats()}`);
    this.closeAndExit();
  }

  /** Closes everything (after an upgrade under way settles: close() lets it), removes the pid file unless a successor rewrote it, exits. */
  private closeAndExit(): void {
    if (this.exiting) return;
    this.exiting = true;
    void this.upgrader!.close().then(
      () => 0,
      (error: Error) => {
        this.options.log(`stopping (${this.stopping}): ${error.message}`);
        return 1;
      },
    ).then((code) => {
      if (this.options.pidFile) removePidFile(this.options.pidFile);
      this.exitOnce(code);
    });
  }

  private exitOnce(code: number): void {
    this.exiting = true;
    if (this.exitCalled) return;
    this.exitCalled = true;
    this.options.exit(code);
  }
}
