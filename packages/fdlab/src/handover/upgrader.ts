// The life cycle of an upgradable server:
//   start()     listen fresh, or (options.takeOver) take over from the old version
//   upgrade()   hand everything to a new version: rolled back before the commit,
//               taken back if the new version dies during the standby; always settles
//   handleSignals()  opt in: SIGUSR2 calls upgrade()
// The library never exits the process: the app listens for 'upgraded' and decides.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { FdChannel } from '../channel';
import { FdlabError } from '../errors';
import { closeQuietly } from '../fd/fds';
import { adoptServer } from '../socket/adopt';
import { trackWrites } from '../socket/write-tracker';
import { handOff, type HandOffResult } from './hand-off';
import { writePidFile } from './pid-file';
import { decode, encode } from './protocol';
import { releaseUpgradeSignalGuard } from './signal-guard';
import { NEW_STATES, OLD_STATES, StateMachine, type NewState, type OldState, type OnState } from './states';
import { ensureStateDir } from './state-dir';
import { spawnSuccessor, type TakeOver } from '../environment';
import type { StartSuccessor } from './successor';
import { holdSocket } from '../socket/hold';
import type { Arrivals } from './arrivals';
import { certainlyDead, takeOver, type Incoming, type TakenOver } from './take-over';
import type { HandoverApp, Log, ServedConnection } from './types';

export interface UpgraderOptions<S> {
  app: HandoverApp<S>;
  /** TCP port; 0 picks a free one (see `port` after start). */
  port: number;
  host?: string;
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
   * Take over from a running old version instead of listening: where its
   * upgrade socket is (and the token, if we were given one). A process
   * started by spawnSuccessor gets this from fromEnvironment().
   */
  takeOver?: TakeOver;
  /** Called on every change of state of either side of an upgrade (tests inject faults with it; metrics). */
  onState?: OnState;
  /** Where the engine's log lines go (one line per step of an upgrade). Default: nowhere. */
  log?: Log;
}

export type UpgradeResult = HandOffResult | { outcome: 'ignored'; reason: string } | { outcome: 'failed'; reason: string; code: string };

/** How often the new version tells a standing-by old version it is alive. */
export const HEARTBEAT_MS = 200;
const MIN_HEARTBEAT_TIMEOUT_MS = 3 * HEARTBEAT_MS;

type Status = 'starting' | 'serving' | 'upgrading' | 'predecessor-standing-by' | 'handed-over' | 'closed';

export interface Upgrader<S> {
  on(event: 'upgraded', listener: (result: Extract<HandOffResult, { outcome: 'upgraded' }>) => void): this;
  on(event: 'rolled-back' | 'taken-back', listener: (result: HandOffResult) => void): this;
  on(event: 'released', listener: () => void): this;
  once(event: 'upgraded', listener: (result: Extract<HandOffResult, { outcome: 'upgraded' }>) => void): this;
  once(event: 'rolled-back' | 'taken-back', listener: (result: HandOffResult) => void): this;
  once(event: 'released', listener: () => void): this;
}

export class Upgrader<S> extends EventEmitter {
  /** Listens (or takes over) and writes the pid file. Throws (coded) on what can be refused at start. */
  static async start<S>(options: UpgraderOptions<S>): Promise<Upgrader<S>> {
    const upgrader = new Upgrader(options);
    await upgrader.begin();
    return upgrader;
  }

  server!: net.Server;
  readonly connections = new Set<ServedConnection<S>>();
  private current: Status = 'starting';
  private readonly log: Log;
  private readonly oldMachine: StateMachine<OldState>;
  private signalsOn = false;
  private readonly onUsr2 = () => void this.upgrade();
  /** While the old version stands by: which of the adopted connections we closed since the last heartbeat. */
  private predecessor: { channel: FdChannel; timer: NodeJS.Timeout; closed: number[]; arrivals: Arrivals<S>; oldPid: number } | null = null;

  private constructor(private readonly options: UpgraderOptions<S>) {
    super();
    this.log = options.log ?? (() => {});
    this.oldMachine = new StateMachine<OldState>('old', OLD_STATES, 'serving', this.log, options.onState);
    if ((options.heartbeatTimeoutMs ?? 1500) < MIN_HEARTBEAT_TIMEOUT_MS) {
      throw new FdlabError('ERR_INVALID_ARG_VALUE', `heartbeatTimeoutMs must be at least ${MIN_HEARTBEAT_TIMEOUT_MS} (the heartbeat comes every ${HEARTBEAT_MS} ms)`);
    }
    ensureStateDir(options.stateDir); // refused at start: a foreign or open state dir, a path too long
    if (options.signals) this.handleSignals();
  }

  get status(): Status {
    return this.current;
  }

  /** The port we serve on (useful with port 0). */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  stats(): string {
    const described = this.options.app.describe?.([...this.connections]) ?? '';
    return `stats: pid ${process.pid}, ${this.connections.size} connections${described ? `, ${described}` : ''}`;
  }

  /** SIGUSR2 calls upgrade(). The app still decides what to do with the result. */
  handleSignals(): this {
    if (!this.signalsOn) {
      process.on('SIGUSR2', this.onUsr2);
      this.signalsOn = true;
      releaseUpgradeSignalGuard();
    }
    return this;
  }

  stopHandlingSignals(): this {
    if (this.signalsOn) process.off('SIGUSR2', this.onUsr2);
    this.signalsOn = false;
    return this;
  }

  /**
   * Hands everything to a new version. Always settles, never rejects:
   * 'upgraded' (the new version serves; the standby is over), 'rolled-back'
   * (it failed before the commit; we serve everything again), 'taken-back'
   * (the new version died or stalled in the standby; we serve again),
   * 'ignored' (not now: starting, or an upgrade in progress).
   */
  async upgrade(): Promise<UpgradeResult> {
    if (this.current !== 'serving') {
      const reason = this.current === 'predecessor-standing-by'
        ? 'the previous version still stands by; upgrade again once it has released us'
        : `not serving (${this.current})`;
      this.log(`SIGUSR2 ignored: ${reason}`);
      return { outcome: 'ignored', reason };
    }
    this.current = 'upgrading';
    const upgradeStarted = Date.now();
    this.log(`upgrade: handing over ${this.connections.size} connections`);
    let result: HandOffResult;
    try {
      result = await handOff(this, {
        stateDir: this.options.stateDir,
        startSuccessor: this.options.startSuccessor ?? spawnSuccessor,
        expectedPeerUid: this.options.expectedPeerUid ?? process.getuid!(),
        timeoutMs: this.options.timeoutMs ?? 10_000,
        standbyMs: this.options.standbyMs ?? 5000,
        heartbeatTimeoutMs: this.options.heartbeatTimeoutMs ?? 1500,
        log: this.log,
        machine: this.oldMachine,
        newServer: () => this.newServer(),
        serve: (socket, session, pending) => this.serve(socket, session, pending),
      });
    } catch (error) {
      // Only a bug gets here (handOff settles its own failures): say so, and keep whatever still serves.
      const code = (error as { code?: string }).code ?? 'ERR_UPGRADE_INTERNAL';
      this.log(`upgrade: internal error: ${(error as Error).stack ?? error}`);
      this.current = this.server?.listening ? 'serving' : 'closed';
      return { outcome: 'failed', reason: (error as Error).message, code };
    }
    if (result.outcome === 'upgraded') {
      this.current = 'handed-over';
      this.stopHandlingSignals();
      const t = result.timings;
      this.log(`upgraded ${result.connections} connections: gap ${t.gapMs} ms (hold ${t.holdMs}, send ${t.sendMs}, ack ${t.ackMs}), copies ${t.copyMs} ms while serving, handover ${Date.now() - upgradeStarted} ms; successor pid ${result.successorPid}`);
    } else {
      this.current = 'serving';
      this.oldMachine.to('serving');
      if (result.outcome === 'taken-back') this.writePidFile();
    }
    this.emit(result.outcome, result);
    return result;
  }

  /** Stops listening and serving (tests, shutdown); connections are closed. */
  async close(): Promise<void> {
    this.stopHandlingSignals();
    this.endPredecessorLink();
    this.current = 'closed';
    for (const connection of this.connections) connection.socket.destroy();
    await new Promise<void>((resolve) => (this.server?.listening ? this.server.close(() => resolve()) : resolve()));
  }

  private async begin(): Promise<void> {
    const from = this.options.takeOver;
    if (from) {
      const machine = new StateMachine<NewState>('new', NEW_STATES, 'connecting', this.log, this.options.onState);
      const taken = await takeOver<S>({
        upgradeSocket: from.socket,
        token: from.token,
        version: this.options.version ?? 'unknown',
        timeoutMs: this.options.timeoutMs ?? 10_000,
        expectedPeerUid: this.options.expectedPeerUid ?? process.getuid!(),
        log: this.log,
        machine,
        prepare: (incoming) => this.prepare(incoming as Incoming<S>[], 0),
      });
      await this.serveTaken(taken);
      machine.to('serving');
    } else {
      this.server = this.newServer();
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    }
    try {
      this.writePidFile();
    } catch (error) {
      // Serving with no pid file would leave nobody able to upgrade or stop us by it.
      this.server.close();
      for (const connection of this.connections) connection.socket.destroy();
      throw new FdlabError('ERR_PID_FILE', `cannot write the pid file ${this.options.pidFile}: ${(error as Error).message}; stopped serving`, { cause: error });
    }
    if (this.current === 'starting') this.current = 'serving';
    this.log(`serving on ${this.options.host ?? '127.0.0.1'}:${this.port} as pid ${process.pid} (${this.options.version ?? 'unknown'}); ${this.stats()}`);
  }

  /**
   * Before our ack: the app serves every connection already, but each is held
   * still (not reading, writes corked), so the work is done before the commit
   * and nothing reaches or leaves a socket until it. If the upgrade fails the
   * sockets are destroyed: our copies only, the old version has its own.
   * `first`: the number both sides give the first of them (alive.closed).
   */
  private prepare(incoming: Incoming<S>[], first = 0): void {
    incoming.forEach((c, i) => {
      if (c.hold) return;
      const hold = holdSocket(c.socket);
      if (hold) c.hold = hold; // a fresh wrap can always be held; if not, it reads as soon as it is served
      if (c.unsent.length > 0) c.socket.write(c.unsent);
      this.serve(c.socket, c.session, c.pending);
      c.socket.once('close', () => this.predecessor?.closed.push(first + i));
    });
  }

  /** Serves a group that is ours (committed): it reads, its corked writes go out, a pending end() is done. */
  private start(incoming: Incoming<S>[], first: number): void {
    this.prepare(incoming, first); // orphaned mid-transfer, or a group switched after the commit
    for (const c of incoming) {
      c.hold?.resume();
      if (c.writeEnd !== 'open') c.socket.end();
    }
  }

  /** At the commit (or orphaned): what we hold reads; the old version streams the other groups. */
  private async serveTaken(taken: TakenOver<S>): Promise<void> {
    this.server = await adoptServer(taken.listenerFd, this.newServer());
    this.start(taken.arrivals.taken, 0);
    if (!taken.channel) return; // orphaned: nobody stands by
    const channel = taken.channel;
    this.current = 'predecessor-standing-by';
    this.predecessor = { channel, closed: [], arrivals: taken.arrivals, oldPid: taken.oldPid, timer: setInterval(() => this.heartbeat(), HEARTBEAT_MS) };
    // Listen first: what it sent before it went (the other groups, done, release) still counts.
    // The channel closes only once those are read, so 'close' is the one sign that it is gone;
    // a failed send is not (the channel keeps reading what is queued).
    channel.on('message', (message: { data: Buffer; fds: number[] }) => this.fromPredecessor(message));
    channel.once('close', () => void this.predecessorGone('is gone'));
    // It may have died before we listened: the channel saw its hang-up already.
    if (channel.closed) void this.predecessorGone('is gone');
    channel.send({ data: encode({ type: 'serving' }) }).catch(() => {});
  }

  /** After the commit: the other groups, 'done', then 'release' at the end of its standby. */
  private fromPredecessor({ data, fds }: { data: Buffer; fds: number[] }): void {
    const link = this.predecessor;
    if (!link) return closeQuietly(fds);
    try {
      const { message, bytes } = decode(data, fds.length, 'old');
      if (message.type === 'connections') {
        link.arrivals.takeDetached(message.entries, fds, bytes);
      } else if (message.type === 'switch') {
        const first = link.arrivals.taken.length;
        this.start(link.arrivals.applySwitch(message, bytes), first);
        // The old version paces its groups by this: a group waits only for itself, not in a queue.
        link.channel.send({ data: encode({ type: 'switched', connections: link.arrivals.taken.length }) }).catch(() => {});
      } else if (message.type === 'done') {
        link.arrivals.checkDone(message.connections);
        this.log(`took over all ${link.arrivals.taken.length} connections`);
      } else if (message.type === 'release') {
        this.log('the old version released its copies: serving alone');
        this.endPredecessorLink();
        // A release before every copy was switched breaks the protocol: those stay the old version's.
        if (link.arrivals.unswitchedCount > 0) this.log(`letting go of our copies of ${link.arrivals.dropUnswitched()} connections it released unswitched`);
      } else {
        closeQuietly(fds);
        void this.predecessorGone(`sent '${message.type}' after the commit`);
      }
    } catch (error) {
      closeQuietly(fds);
      void this.predecessorGone(`sent something wrong after the commit (${(error as Error).message})`);
    }
  }

  /**
   * The link to the old version ended before 'release'. Groups it never
   * switched: if it certainly died, they are ours (served as fresh
   * connections: their state died with it); if it lives, it took them back,
   * and we let go of our copies.
   */
  private async predecessorGone(why: string): Promise<void> {
    const link = this.predecessor;
    if (!link) return;
    this.log(`the old version ${why}: serving alone`);
    this.endPredecessorLink();
    if (link.arrivals.unswitchedCount === 0) return;
    if (await certainlyDead(link.oldPid)) {
      const first = link.arrivals.taken.length;
      const fresh = link.arrivals.unswitched();
      this.start(fresh, first);
      this.log(`serving the ${fresh.length} connections it had not switched yet (their sessions died with it)`);
    } else {
      this.log(`letting go of our copies of ${link.arrivals.dropUnswitched()} connections it never switched: it still has them`);
    }
  }

  private heartbeat(): void {
    const link = this.predecessor;
    if (!link) return;
    const closed = link.closed.splice(0);
    link.channel.send({ data: encode({ type: 'alive', closed }) }).catch(() => {}); // 'close' says when it is gone
  }

  private endPredecessorLink(): void {
    const link = this.predecessor;
    if (!link) return;
    this.predecessor = null;
    clearInterval(link.timer);
    link.channel.close();
    if (this.current === 'predecessor-standing-by') this.current = 'serving';
    this.emit('released');
  }

  private writePidFile(): void {
    if (this.options.pidFile) writePidFile(this.options.pidFile);
  }

  private newServer(): net.Server {
    const server = net.createServer((socket) => this.serve(socket));
    // A listen() failure is reported by whoever called listen; later errors only get logged.
    server.on('error', (error) => server.listening && this.log(`listener: ${error.message}`));
    return server;
  }

  private serve(socket: net.Socket, session?: S, pending?: Buffer): void {
    trackWrites(socket);
    const connection = this.options.app.serve(socket, session, pending);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }
}
