// The life cycle of an upgradable server:
//   start()     listen fresh, or (options.takeOver) take over from the old version
//   upgrade()   hand everything to a new version: rolled back before the commit,
//               taken back if the new version dies during the standby; always settles
//   handleSignals()  opt in: SIGUSR2 calls upgrade()
// The library never exits the process: the app listens for 'upgraded' and decides.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { FdlabError, type FdlabErrorCode } from '../errors';
import { adoptServer } from '../socket/adopt';
import { resolveBacklog } from '../socket/backlog';
import { holdSocket, readIfListening } from '../socket/hold';
import { beforeFdClose, checkNodeInternals, handleOf, onHandleUse } from '../socket/internals';
import { shutdownBoth, tcpUseOf, type TcpUse } from '../socket/tcp-use';
import { trackWrites } from '../socket/write-tracker';
import { closeQuietly } from '../fd/fds';
import { spawnSuccessor, withServiceManager, type TakeOver } from '../environment';
import type { Arrivals, Incoming } from './arrivals';
import { handOff, type HandOffEnd, type HandOffResult } from './hand-off';
import { serveAgain, type Held } from './held';
import { restoreOwnOomScore } from './oom-score';
import { MAX_STANDBY_MS } from './protocol';
import { preparePidFile, removeStaleTemporaries, writePidFile, type PreparedPidFile } from './pid-file';
import { PidFileWatch } from './pid-watch';
import { HEARTBEAT_MS, Predecessor } from './predecessor';
import { AdoptedReports } from './reports';
import { releaseUpgradeSignalGuard, restoreUpgradeSignalGuard } from './signal-guard';
import { NEW_STATES, OLD_STATES, StateMachine, statusOf, type NewState, type OldState, type OnState, type Status } from './states';
import { ensureStateDir } from './state-dir';
import { StopRequests } from './stop-requests';
import { lockStateDir, type StateDirLock } from './state-dir-lock';
import type { StartSuccessor } from './successor';
import { takeOver } from './take-over';
import type { HandoverApp, Log, ServedConnection } from './types';

export { HEARTBEAT_MS } from './predecessor';

export interface UpgraderOptions<S> {
  app: HandoverApp<S>;
  /** TCP port; 0 picks a free one (see `port` after start). */
  port: number;
  host?: string;
  /**
   * The accept queue's length: how many connections may wait to be accepted.
   * Default: the largest the kernel allows (net.core.somaxconn), not Node's
   * 511, which drops SYNs in a reconnect storm. A larger one is capped, and
   * the log says so. Kept by every version: each sets it again.
   */
  backlog?: number;
  /** Where the upgrade socket lives: created 0700, or refused unless ours and 0700. */
  stateDir: string;
  pidFile?: string;
  version?: string;
  /** Default: run the same command again, detached (process mode). */
  startSuccessor?: StartSuccessor;
  /** One deadline for the whole upgrade, sends included (default 10 s). */
  timeoutMs?: number;
  /** How long the old version keeps its copies and can take everything back (default 5 s; 0: off). */
  standbyMs?: number;
  /** During the standby, silence longer than this counts as a stalled new version (default 1.5 s). */
  heartbeatTimeoutMs?: number;
  /** Who may be on the other end of the upgrade socket (default: our own uid). */
  expectedPeerUid?: number;
  /** Handle SIGUSR2 from start() on (ignored with a log line until serving). Default false. */
  signals?: boolean;
  /**
   * SIGINT, SIGHUP and SIGTERM stop the service, each at the right moment of
   * an upgrade (stop-requests.ts; docs/handover.md, "Operator signals"): the
   * listener and every connection closed, the pid file removed, then
   * `exit(0)`. Handled from start() on. Default false: the app handles them.
   */
  stopSignals?: boolean;
  /** With stopSignals: what ends the process once stopped (the library never exits it): `(code) => process.exit(code)`. */
  exit?: (code: number) => void;
  /**
   * Take over from a running old version instead of listening: where its
   * upgrade socket is (and the token, if we were given one). A process
   * started by spawnSuccessor gets this from fromEnvironment().
   */
  takeOver?: TakeOver;
  /** Called on every change of state of either side of an upgrade (tests inject faults with it; metrics). */
  onState?: OnState;
  /**
   * Run directly by systemd (Type=notify, no supervisor): where READY=1,
   * RELOADING=1, MAINPID= (each new version's, at the commit) and STOPPING=1
   * go. Default: NOTIFY_SOCKET (notifySocketFromEnvironment()); false: none.
   * Under a supervisor (`fdlab run`) the supervisor notifies instead.
   */
  notifySocket?: string | false;
  /** Where the engine's log lines go (one line per step of an upgrade). Default: nowhere. */
  log?: Log;
}

export type UpgradeResult = HandOffResult | { outcome: 'ignored'; reason: string } | { outcome: 'failed'; reason: string; code: string };

const MIN_HEARTBEAT_TIMEOUT_MS = 3 * HEARTBEAT_MS;

/** After a successor was killed by a signal while it started: SIGUSR2 is ignored this long (the rest of a burst). */
export const SIGNAL_BACK_OFF_MS = 1000;

export interface Upgrader<S> {
  on(event: 'upgraded', listener: (result: Extract<HandOffResult, { outcome: 'upgraded' }>) => void): this;
  on(event: 'rolled-back' | 'taken-back', listener: (result: HandOffResult) => void): this;
  on(event: 'released', listener: () => void): this;
  once(event: 'upgraded', listener: (result: Extract<HandOffResult, { outcome: 'upgraded' }>) => void): this;
  once(event: 'rolled-back' | 'taken-back', listener: (result: HandOffResult) => void): this;
  once(event: 'released', listener: () => void): this;
}

export class Upgrader<S> extends EventEmitter {
  /**
   * Listens (or takes over) and writes the pid file. Throws (coded) on what
   * can be refused at start, ERR_NODE_INTERNALS first: a Node whose socket
   * internals differ could never upgrade.
   */
  static async start<S>(options: UpgraderOptions<S>): Promise<Upgrader<S>> {
    checkNodeInternals();
    const upgrader = new Upgrader(options);
    try {
      await upgrader.begin();
    } catch (error) {
      upgrader.stopRequests?.detach();
      throw error;
    }
    upgrader.stopRequests?.attach(upgrader);
    return upgrader;
  }

  private listener!: net.Server;
  private readonly served = new Set<ServedConnection<S>>();
  private readonly log: Log;
  private readonly backlog: number;
  /** This server's life (OLD_STATES): status is read from it. */
  private readonly machine: StateMachine<OldState>;
  /** Only when started with takeOver: the taking over (NEW_STATES). */
  private taking: StateMachine<NewState> | null = null;
  /** While the old version stands by (taking: 'serving-standby'). */
  private predecessor: Predecessor<S> | null = null;
  /** The upgrade under way, if any: close() lets it settle first. */
  private inFlight: Promise<UpgradeResult> | null = null;
  /** Set first thing in close(): no upgrade starts from then on. */
  private closing = false;
  /** The port we served on last: still known once the listener is handed over or closed. */
  private lastPort = 0;
  /** Whether handleSignals() released the guard (guardUpgradeSignal): a failed start puts it back. */
  private releasedGuard = false;
  /** Until start() resolves: a 'released' then waits until the caller can listen for it. */
  private beginning = true;
  private releasedEarly = false;
  /** Orphaned, the pid file could not be written: the watch writes it as soon as it can. */
  private pidUnwritten = false;
  /** Taking over: the pid file written before our ack, renamed at the commit. */
  private preparedPid: PreparedPidFile | null = null;
  /** Rewrites the pid file if it disappears while it should name us. */
  private pidWatch: PidFileWatch | null = null;
  /** Our share of the state dir's ownership (state-dir-lock.ts): from start() until closed or handed over. */
  private stateLock: StateDirLock | null = null;
  /** Until when SIGUSR2 is ignored: a successor was just killed by a signal while it started (a burst). */
  private signalBackOffUntil = 0;
  private readonly onUsr2 = () => {
    const left = this.signalBackOffUntil - Date.now();
    if (left > 0) {
      this.log(`SIGUSR2 ignored for ${left} ms more: the last successor was killed by a signal while it started (pkill -f?); send SIGUSR2 to the pid in the pid file only`);
      return;
    }
    void this.upgrade();
  };
  /** options.onState, and each state told to a supervisor, or to systemd as sd_notify messages (environment.ts). */
  private readonly onState: OnState | undefined;
  /** With options.stopSignals: SIGINT, SIGHUP and SIGTERM stop the service at the right moment. */
  private stopRequests: StopRequests | null = null;
  /**
   * Taking over, from the commit until the old version let go (or is gone):
   * it still holds a copy of every connection, so closing ours sends no FIN;
   * connections the app closes are shut down first (closingAdopted).
   */
  private oldHoldsCopies = false;
  /** Set when we give everything back after the commit: those closes must not reach clients. */
  private handingBack = false;
  /** Adopted connections closed before the link to the old version existed: its first heartbeat says them. */
  private closedEarly: number[] = [];
  /** The state of each adopted connection, reported to the old version while it can take them back. */
  private readonly reports = new AdoptedReports<S>(() => this.predecessor, (line) => this.log(line));

  private constructor(private readonly options: UpgraderOptions<S>) {
    super();
    this.log = options.log ?? (() => {});
    if (options.stopSignals && typeof options.exit !== 'function') {
      throw new FdlabError('ERR_INVALID_ARG_VALUE', 'stopSignals needs exit: the function that ends the process once stopped, e.g. exit: (code) => process.exit(code)');
    }
    // A stop request's view of the take-over first: a fault hook in the app's onState may stop the process there.
    const onState: OnState | undefined = options.stopSignals
      ? (side, state) => {
          this.stopRequests?.onState(side, state);
          return options.onState?.(side, state);
        }
      : options.onState;
    this.onState = withServiceManager(onState, options.notifySocket, this.log);
    this.machine = new StateMachine<OldState>('old', OLD_STATES, 'starting', this.log, this.onState);
    if ((options.heartbeatTimeoutMs ?? 1500) < MIN_HEARTBEAT_TIMEOUT_MS) {
      throw new FdlabError('ERR_INVALID_ARG_VALUE', `heartbeatTimeoutMs must be at least ${MIN_HEARTBEAT_TIMEOUT_MS} (the heartbeat comes every ${HEARTBEAT_MS} ms)`);
    }
    const standbyMs = options.standbyMs ?? 5000;
    if (!Number.isSafeInteger(standbyMs) || standbyMs < 0 || standbyMs > MAX_STANDBY_MS) {
      throw new FdlabError('ERR_INVALID_ARG_VALUE', `standbyMs must be a whole number of milliseconds from 0 to ${MAX_STANDBY_MS} (a day); got ${standbyMs}`);
    }
    const { backlog, capped } = resolveBacklog(options.backlog);
    this.backlog = backlog;
    if (capped) this.log(capped);
    ensureStateDir(options.stateDir); // refused at start: a foreign or open state dir, a path too long
    if (options.signals) this.handleSignals();
    // Last: nothing after it throws, so no handler stays behind a refused start.
    if (options.stopSignals) {
      this.stopRequests = new StopRequests({ exit: options.exit!, log: this.log, pidFile: options.pidFile, takingOver: options.takeOver !== undefined, abandon: () => this.preparedPid?.abandon() });
    }
  }

  /** Where this server stands, read from its state machines (docs/handover.md). */
  get status(): Status {
    return statusOf(this.machine.state, this.taking?.state);
  }

  /** The listener we serve on (a new one after a rollback or a take-back). */
  get server(): net.Server {
    return this.listener;
  }

  /** The connections the app serves here. */
  get connections(): ReadonlySet<ServedConnection<S>> {
    return this.served;
  }

  /** The port we serve on (useful with port 0); after 'upgraded' or close(), the one we served on. */
  get port(): number {
    this.rememberPort();
    return this.lastPort;
  }

  private rememberPort(): void {
    const address = this.listener?.address();
    if (address !== null && typeof address === 'object') this.lastPort = address.port;
  }

  /** Never throws: an app's describe() that throws (one reading a snapshot() that throws, say) is said in the line. */
  stats(): string {
    let described: string;
    try {
      described = this.options.app.describe?.([...this.served]) ?? '';
    } catch (error) {
      // Measured: a rolled-back listener logging stats() crashed the old version (every connection dropped).
      described = `the app's describe() threw: ${(error as Error)?.message ?? String(error)}`;
    }
    return `stats: pid ${process.pid}, ${this.served.size} connections${described ? `, ${described}` : ''}`;
  }

  /** SIGUSR2 calls upgrade(). The app still decides what to do with the result. */
  handleSignals(): this {
    if (!process.listeners('SIGUSR2').includes(this.onUsr2)) {
      process.on('SIGUSR2', this.onUsr2);
      if (releaseUpgradeSignalGuard()) this.releasedGuard = true;
    }
    return this;
  }

  stopHandlingSignals(): this {
    process.off('SIGUSR2', this.onUsr2);
    return this;
  }

  /**
   * Hands everything to a new version. Always settles, never rejects:
   * 'upgraded' (the new version serves; the standby is over), 'rolled-back'
   * (it failed before the commit; we serve everything again), 'taken-back'
   * (the new version died or stalled in the standby; we serve again),
   * 'ignored' (not now: starting, an upgrade in progress, or closing).
   */
  upgrade(): Promise<UpgradeResult> {
    if (this.closing) {
      this.log('upgrade ignored: closing');
      return Promise.resolve({ outcome: 'ignored', reason: 'closing' });
    }
    if (this.machine.state !== 'serving') {
      const reason = this.status === 'predecessor-standing-by'
        ? 'the previous version still stands by; upgrade again once it has released us'
        : `not serving (${this.status})`;
      this.log(`SIGUSR2 ignored: ${reason}`);
      return Promise.resolve({ outcome: 'ignored', reason });
    }
    const upgrading: Promise<UpgradeResult> = this.handOver().finally(() => {
      if (this.inFlight === upgrading) this.inFlight = null; // not one started since (from a 'rolled-back' listener)
    });
    this.inFlight = upgrading;
    return upgrading;
  }

  /**
   * Stops listening and serving (tests, shutdown); connections are closed.
   * From the first line on, upgrade() is ignored ('closing'); an upgrade under
   * way settles first (and any started before close() from its listeners).
   * The listener is closed, then every connection, whatever failed before;
   * a failure is thrown once everything is closed. Status ends 'closed'.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.stopHandlingSignals();
    while (this.inFlight) await this.inFlight.catch(() => {});
    this.pidWatch?.stop();
    const failures: unknown[] = [];
    try {
      this.predecessor?.end(true);
      if (this.machine.can('closed')) this.machine.to('closed');
    } catch (error) {
      failures.push(error);
    } finally {
      const listenerClosed = this.closeListener();
      for (const connection of [...this.served]) {
        try {
          connection.socket.destroy();
        } catch (error) {
          this.log(`close: destroying a connection failed: ${(error as Error)?.message ?? error}`);
          failures.push(error);
        }
      }
      this.served.clear();
      await listenerClosed;
      this.stateLock?.release();
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `close: ${failures.length} failures (the listener and every connection are closed)`);
  }

  private closeListener(): Promise<void> {
    const listener = this.listener;
    if (!listener?.listening) return Promise.resolve();
    this.rememberPort(); // the port stays readable once closed
    return new Promise<void>((resolve) => listener.close(() => resolve()));
  }

  private async handOver(): Promise<UpgradeResult> {
    const started = Date.now();
    // "the listener and N": a learner read "101 connections" as 101 sockets of clients (issue 22, item 6).
    this.log(`upgrade: handing over the listener and ${this.served.size} connections`);
    let end: HandOffEnd<S>;
    try {
      end = await handOff({ server: this.listener, connections: this.served }, {
        stateDir: this.options.stateDir,
        startSuccessor: this.options.startSuccessor ?? spawnSuccessor,
        expectedPeerUid: this.options.expectedPeerUid ?? process.getuid!(),
        timeoutMs: this.options.timeoutMs ?? 10_000,
        standbyMs: this.options.standbyMs ?? 5000,
        heartbeatTimeoutMs: this.options.heartbeatTimeoutMs ?? 1500,
        log: this.log,
        machine: this.machine,
      });
    } catch (error) {
      return this.internalError(error);
    }
    const result = await this.apply(end, started);
    if (result.outcome === 'rolled-back' && result.code === 'ERR_SUCCESSOR_SIGNALLED') {
      // A burst (pkill -USR2 -f, 20 signals in 0.6 s) started and killed 10 successors in a row before this back-off.
      this.signalBackOffUntil = Date.now() + SIGNAL_BACK_OFF_MS;
      this.log(`SIGUSR2 ignored for ${SIGNAL_BACK_OFF_MS} ms: a signal killed the successor while it started`);
    }
    if (result.outcome !== 'failed') this.emit(result.outcome, result);
    return result;
  }

  /** What an upgrade's end means here: nothing more to serve, or everything held served again. */
  private async apply(end: HandOffEnd<S>, started: number): Promise<UpgradeResult> {
    end.held?.late?.settle(this.log); // the old app's late writes, refused: said once
    if (end.outcome === 'upgraded') {
      const { held, ...result } = end;
      for (const c of held.connections) this.served.delete(c.connection);
      this.stopHandlingSignals();
      this.pidWatch?.stop(); // it names the new version now
      this.stateLock?.release(); // the new version holds its own share
      const t = result.timings;
      this.log(`upgraded ${result.connections} connections: gap ${t.gapMs} ms (hold ${t.holdMs}, send ${t.sendMs}, ack ${t.ackMs}), copies ${t.copyMs} ms while serving, handover ${Date.now() - started} ms; successor pid ${result.successorPid}`);
      return result;
    }
    // The successor's prepared pid file, if it died (or was stopped) before renaming it: now, and once a
    // successor we just killed is gone (under load it was still there, stopped, when the rollback came).
    const pidFile = this.options.pidFile;
    if (pidFile) {
      removeStaleTemporaries(pidFile);
      if (end.outcome === 'rolled-back') void end.successorExited?.then(() => removeStaleTemporaries(pidFile));
    }
    if (end.held) {
      const failed = await this.serveAgain(end.held, end.outcome === 'taken-back' ? { successorDead: end.successorDead } : undefined);
      if (failed) return failed;
    }
    if (end.outcome === 'rolled-back') {
      this.log(`rolled back: serving ${this.served.size} connections again [${end.code}]`);
      this.machine.to('serving');
      return { outcome: 'rolled-back', reason: end.reason, code: end.code };
    }
    this.log(`took everything back: serving ${this.served.size} connections again (${end.reason})`);
    restoreOwnOomScore(this.log); // raised once every group was switched (oom-score.ts)
    this.machine.to('serving');
    // Never thrown: the pid file's directory may be what made the new version give up. The watch retries.
    this.pidWatch?.check('after taking everything back', end.successorPid);
    return { outcome: 'taken-back', reason: end.reason, successorPid: end.successorPid, connections: this.served.size };
  }

  /** The listener and every held connection, here again; if even that fails, we are closed. */
  private async serveAgain(held: Held<S>, takenBack?: { successorDead: boolean }): Promise<UpgradeResult | null> {
    try {
      const serve = (socket: net.Socket, session?: S, pending?: Buffer) => void this.serve(socket, session, pending);
      const { server, gone } = await serveAgain(held, (fd) => this.listenOn(fd), serve, takenBack ? { log: this.log, successorDead: takenBack.successorDead } : undefined);
      this.listener = server;
      for (const connection of gone) this.served.delete(connection);
      return null;
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'ERR_UPGRADE';
      this.log(`cannot serve again after the upgrade failed: ${(error as Error).message}; closing`);
      this.machine.to('closed');
      for (const connection of this.served) connection.socket.destroy();
      return { outcome: 'failed', reason: `cannot serve again: ${(error as Error).message}`, code };
    }
  }

  /** Only a bug gets here (handOff settles its own failures): say so, and keep whatever still serves. */
  private internalError(error: unknown): UpgradeResult {
    const code = (error as { code?: string }).code ?? 'ERR_UPGRADE_INTERNAL';
    this.log(`upgrade: internal error in state '${this.machine.state}': ${(error as Error).stack ?? error}`);
    if (this.listener.listening && this.machine.can('rolled-back')) {
      this.machine.to('rolled-back'); // nothing was stopped yet: we still serve
      this.machine.to('serving');
    }
    return { outcome: 'failed', reason: (error as Error).message, code };
  }

  private async begin(): Promise<void> {
    try {
      // One state dir, one owner: a second server is refused here, before it listens; a successor shares it.
      this.stateLock = await lockStateDir(this.options.stateDir, this.options.takeOver !== undefined);
      if (this.options.takeOver) await this.takeOverFrom(this.options.takeOver);
      else await this.listen();
    } catch (error) {
      // Nothing serves: no SIGUSR2 handler of ours stays, and the guard it replaced is back.
      this.stopHandlingSignals();
      this.preparedPid?.abandon();
      this.stateLock?.release();
      if (this.releasedGuard) restoreUpgradeSignalGuard();
      this.releasedGuard = false;
      this.beginning = false;
      this.machine.to('closed');
      throw error;
    }
    // Taking over with the old version standing by: serving alone only once it released us.
    if (this.machine.state === 'starting' && this.taking?.state !== 'serving-standby') this.machine.to('serving');
    this.log(`serving on ${this.options.host ?? '127.0.0.1'}:${this.port} as pid ${process.pid} (${this.options.version ?? 'unknown'}); ${this.stats()}`);
    if (this.options.pidFile) {
      // Named by the pid file while serving, or serving with the old version standing by; not during an upgrade.
      this.pidWatch = new PidFileWatch(this.options.pidFile, () => this.status === 'serving' || this.status === 'predecessor-standing-by', this.log);
      if (this.pidUnwritten) this.pidWatch.check('the old version was gone before the commit');
    }
    this.beginning = false;
    // Released (or the old version gone) before start() resolved: said once the caller can listen.
    if (this.releasedEarly) setImmediate(() => this.emit('released'));
  }

  private async listen(): Promise<void> {
    const server = (this.listener = this.newServer());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host ?? '127.0.0.1', this.backlog, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.writePidFileOrStop();
  }

  /** NEW_STATES, from connecting to the commit (or orphaned); then we serve what arrived. */
  private async takeOverFrom(from: TakeOver): Promise<void> {
    const taking = (this.taking = new StateMachine<NewState>('new', NEW_STATES, 'connecting', this.log, this.onState));
    const taken = await takeOver<S>({
      upgradeSocket: from.socket,
      token: from.token,
      version: this.options.version ?? 'unknown',
      timeoutMs: this.options.timeoutMs ?? 10_000,
      expectedPeerUid: this.options.expectedPeerUid ?? process.getuid!(),
      log: this.log,
      machine: taking,
      // Before our ack we prove we can serve: the pid file is written now (its temporary file),
      // so a directory that is deleted, read-only or full refuses the upgrade, and the old version
      // rolls back; only the rename is left for the commit (it needs no space).
      prepare: (incoming) => {
        if (this.options.pidFile) this.preparedPid = preparePidFile(this.options.pidFile);
        this.prepare(incoming, 0);
      },
    });
    if (!taken.channel) return this.servingOrphaned(taken, taking);
    // At the commit, before anything of ours reads or accepts: what can still fail is done first,
    // and a failure hands everything back to the old version, which stands by with its copies.
    try {
      this.commitPidFile();
      this.listener = await this.listenOn(taken.listenerFd);
    } catch (error) {
      throw this.handBack(taken.arrivals, taken.listenerFd, taken.channel, taken.oldPid, error);
    }
    // What we hold reads; the old version streams the other groups, and keeps its copies until it releases us.
    this.oldHoldsCopies = true;
    this.startServing(taken.arrivals.taken, 0);
    let over = false;
    const predecessor = new Predecessor<S>({
      channel: taken.channel,
      arrivals: taken.arrivals,
      oldPid: taken.oldPid,
      start: (incoming, first) => this.startServing(incoming, first),
      ended: (closedHere, holdsCopies) => {
        over = true;
        this.servingAlone(closedHere, holdsCopies);
      },
      closed: this.closedEarly.splice(0),
      report: () => this.reports.report(),
      deadlineMs: this.options.timeoutMs ?? 10_000,
      log: this.log,
    });
    // Its channel may have closed already (the old version died at the commit): then it ended in its constructor.
    if (!over) this.predecessor = predecessor;
  }

  /**
   * The old version died before the commit: nobody stands by to hand back
   * to, so we serve everything we hold, even if the pid file cannot be
   * written (then the watch keeps trying, and says so): better than dropping
   * every connection.
   */
  private async servingOrphaned(taken: { listenerFd: number; arrivals: Arrivals<S> }, taking: StateMachine<NewState>): Promise<void> {
    this.listener = await this.listenOn(taken.listenerFd);
    this.startServing(taken.arrivals.taken, 0);
    try {
      this.commitPidFile();
    } catch (error) {
      this.pidUnwritten = true;
      this.log(`${(error as Error).message} [${(error as { code?: string }).code}]; serving anyway: the old version is gone and nobody else holds these connections`);
    }
    taking.to('serving');
  }

  /** The pid file written before the ack, renamed now (or written now, orphaned before the ack). */
  private commitPidFile(): void {
    const prepared = this.preparedPid ?? (this.options.pidFile ? preparePidFile(this.options.pidFile) : null);
    this.preparedPid = null;
    prepared?.commit();
  }

  /**
   * Something failed at the commit: we serve nothing (no listener, no
   * connection: all of them are the old version's copies too), and close the
   * channel, so the old version, standing by, takes everything back and
   * kills us. Returns the error Upgrader.start rejects with.
   */
  private handBack(arrivals: Arrivals<S>, listenerFd: number, channel: { close(): void }, oldPid: number, error: unknown): FdlabError {
    const raw = (error as { code?: string }).code;
    const code = (raw?.startsWith('ERR_') ? raw : 'ERR_UPGRADE') as FdlabErrorCode;
    const coded = new FdlabError(code, `${(error as Error).message}; serving nothing: handed everything back to the old version (pid ${oldPid}), which stands by`, { cause: error });
    this.log(`${coded.message} [${code}]`);
    this.handingBack = true; // our closes must not reach the clients: the old version serves them
    if (this.listener?.listening) this.listener.close();
    else closeQuietly([listenerFd]);
    arrivals.dropAll();
    for (const connection of [...this.served]) connection.socket.destroy();
    this.served.clear();
    channel.close();
    return coded;
  }

  /**
   * The old version released us, is gone, or did not release us in time
   * (`holdsCopies`: it may still hold them): NEW_STATES' serving, and this
   * server's own life goes on ('released'). Or we close (`closedHere`): no
   * 'released', close() ends our life.
   */
  private servingAlone(closedHere: boolean, holdsCopies = false): void {
    this.predecessor = null;
    this.oldHoldsCopies = holdsCopies; // serving alone from a stopped old version: it lets go when it runs again
    this.reports.clear(); // reports were for a take-back; nobody can take anything back now
    this.taking!.to('serving');
    if (closedHere) return;
    if (this.machine.state === 'starting') this.machine.to('serving');
    if (this.beginning) this.releasedEarly = true;
    else this.emit('released');
  }

  /**
   * Before our ack: the app serves every connection already, but each is held
   * still (not reading, writes corked), so the work is done before the commit
   * and nothing reaches or leaves a socket until it. If the upgrade fails the
   * sockets are destroyed: our copies only, the old version has its own.
   * `first`: the number both sides give the first of them (alive.closed).
   * `hold` false (a group that is ours already): served as they are, each
   * connection once.
   */
  private prepare(incoming: Incoming<S>[], first: number, hold = true): void {
    let refused = 0;
    const fresh: [number, ServedConnection<S>, TcpUse | null][] = [];
    // The kernel's counts before anything here reads or writes (unsent bytes, a write in serve()):
    // the use a report starts from. Taken after serve() they missed those writes when a group
    // is served without a hold, and a take-back found a use that no report explained.
    const fds = new Map<number, number>(); // index in incoming -> fd
    incoming.forEach((c, i) => {
      const fd = c.hold || c.served ? undefined : handleOf(c.socket)?.fd;
      if (typeof fd === 'number' && fd >= 0) fds.set(i, fd);
    });
    const counted = tcpUseOf([...fds.values()]);
    const uses = new Map([...fds.keys()].map((i, k) => [i, counted[k]]));
    incoming.forEach((c, i) => {
      if (c.hold || c.served) return;
      c.served = true;
      const index = first + i;
      if (hold) {
        const held = holdSocket(c.socket);
        if (held) c.hold = held; // a fresh wrap can always be held; if not, it reads as soon as it is served
      }
      if (c.unsent.length > 0) c.socket.write(c.unsent);
      c.socket.once('close', () => this.adoptedClosed(index));
      beforeFdClose(c.socket, (fd) => this.closingAdopted(fd));
      onHandleUse(c.socket, () => this.adoptedUsed(index));
      const served = this.serve(c.socket, c.session, c.pending);
      if (!served) refused++;
      else fresh.push([index, served, uses.get(i) ?? null]);
    });
    if (refused > 0) this.log(`the app's serve() returned no usable connection for ${refused} of ${incoming.length} adopted connections: closed them`);
    this.reports.adopt(fresh);
  }

  /** An adopted connection closed here: the old version closes its copy too (at the next heartbeat). */
  private adoptedClosed(index: number): void {
    this.reports.closed(index);
    if (this.predecessor) this.predecessor.noteClosed(index);
    else if (this.taking?.state !== 'serving') this.closedEarly.push(index);
  }

  /** While the old version can take everything back, a connection used is reported (reports.ts). */
  private adoptedUsed(index: number): void {
    // From the commit on (the first group's writes at the commit too): before the link exists its first heartbeat reports them.
    if (this.oldHoldsCopies && this.taking?.state === 'serving-standby') this.reports.use(index);
  }

  /**
   * While the old version holds copies, a close alone sends no FIN: shut it
   * down so the client sees it now. Only a close by the app: during an
   * upgrade of our own the engine lets go of its sockets (the next version
   * serves them), and giving everything back must not end them either.
   */
  private closingAdopted(fd: number): void {
    if (this.oldHoldsCopies && !this.handingBack && this.inFlight === null) shutdownBoth(fd);
  }

  /** Serves a group that is ours (committed): it reads, its corked writes go out, a pending end() is done. */
  private startServing(incoming: Incoming<S>[], first: number): void {
    // Orphaned mid-transfer, or a group switched after the commit: ours already, so served
    // without a hold (holding and resuming at once cost 22 us a connection: 220 ms at 10,000).
    this.prepare(incoming, first, false);
    for (const c of incoming) {
      if (c.hold) c.hold.resume();
      else readIfListening(c.socket);
      if (c.writeEnd !== 'open') c.socket.end();
    }
  }

  /** Serving with no pid file would leave nobody able to upgrade or stop us by it. */
  private writePidFileOrStop(): void {
    try {
      this.writePidFile();
    } catch (error) {
      this.listener.close();
      for (const connection of this.served) connection.socket.destroy();
      throw new FdlabError('ERR_PID_FILE', `${(error as Error).message}; stopped serving`, { cause: error });
    }
  }

  private writePidFile(): void {
    if (this.options.pidFile) writePidFile(this.options.pidFile);
  }

  /** Serves on the listener handed to us (or back to us), with our backlog: Node's listen({ fd }) resets it to 511. */
  private listenOn(fd: number): Promise<net.Server> {
    return adoptServer(fd, this.newServer(), this.backlog);
  }

  private newServer(): net.Server {
    const server = net.createServer((socket) => this.serve(socket));
    // A listen() failure is reported by whoever called listen; later errors only get logged.
    server.on('error', (error) => server.listening && this.log(`listener: ${error.message}`));
    return server;
  }

  /**
   * The app serves a socket. What it returns is checked before it is kept: a
   * connection that is not { socket, snapshot() } for this socket could never
   * be closed or handed over, so the socket is destroyed and said (false).
   */
  private serve(socket: net.Socket, session?: S, pending?: Buffer): ServedConnection<S> | null {
    trackWrites(socket);
    const connection: unknown = this.options.app.serve(socket, session, pending);
    const wrong = wrongConnection(connection, socket);
    if (wrong) {
      this.log(`the app's serve() ${wrong}; it must return { socket, snapshot() } for the socket it was given: closed that connection`);
      socket.destroy();
      return null;
    }
    const served = connection as ServedConnection<S>;
    this.served.add(served);
    socket.once('close', () => this.served.delete(served));
    return served;
  }
}

/** What is wrong with what the app's serve() returned for `socket`, or null. */
function wrongConnection(connection: unknown, socket: net.Socket): string | null {
  if (connection === null || typeof connection !== 'object') return `returned ${connection === null ? 'null' : typeof connection}`;
  const { socket: its, snapshot } = connection as Partial<ServedConnection<unknown>>;
  if (its !== socket) return its === undefined ? 'returned an object without socket' : 'returned a connection for another socket';
  if (typeof snapshot !== 'function') return 'returned a connection without snapshot()';
  return null;
}
