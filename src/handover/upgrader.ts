// The life cycle of an upgradable server:
//   start()   listen fresh, or (FDLAB_UPGRADE_SOCKET set) take over from the old version
//   SIGUSR2   hand everything to a new version; roll back if it fails
//   SIGUSR1   log the app's stats line
// One upgrade at a time: a second SIGUSR2 during an upgrade is ignored, with a log line.
import * as fs from 'node:fs';
import { FdlabError } from '../errors';
import * as net from 'node:net';
import { handOff, type HandOffResult } from './hand-off';
import { writePidFile } from './pid-file';
import { spawnSuccessor, UPGRADE_SOCKET_ENV, type StartSuccessor } from './successor';
import { takeOver } from './take-over';
import type { HandoverApp, Log, ServedConnection } from './types';

export interface UpgraderOptions<S> {
  app: HandoverApp<S>;
  port: number;
  host?: string;
  /** Where the upgrade socket lives (mode 0600 socket in it). */
  stateDir: string;
  pidFile?: string;
  version?: string;
  /** Default: run the same command again, detached (process mode). */
  startSuccessor?: StartSuccessor;
  /** How long an upgrade may take before it rolls back (default 10 s). */
  timeoutMs?: number;
  /** Who may connect to the upgrade socket (default: our own uid). */
  expectedPeerUid?: number;
  log?: Log;
  /** Lab fault injection: the new version dies mid-handover. */
  crashMidHandover?: boolean;
  /** Called once the new version has acknowledged everything (typically: exit). */
  onHandedOver?: () => void;
}

type State = 'serving' | 'upgrading' | 'handed-over';

export class Upgrader<S> {
  /** Listens (or takes over), writes the pid file, and handles SIGUSR2 / SIGUSR1. */
  static async start<S>(options: UpgraderOptions<S>): Promise<Upgrader<S>> {
    const upgrader = new Upgrader(options);
    await upgrader.begin();
    return upgrader;
  }

  server!: net.Server;
  readonly connections = new Set<ServedConnection<S>>();
  private state: State = 'serving';
  private readonly log: Log;
  private readonly onUsr2 = () => void this.upgrade();
  private readonly onUsr1 = () => this.log(this.stats());

  private constructor(private readonly options: UpgraderOptions<S>) {
    this.log = options.log ?? ((line) => console.log(line));
    fs.mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  }

  /** 'serving' until handed over; 'upgrading' in between. */
  get status(): State {
    return this.state;
  }

  stats(): string {
    const described = this.options.app.describe?.([...this.connections]) ?? '';
    return `stats: pid ${process.pid}, ${this.connections.size} connections${described ? `, ${described}` : ''}`;
  }

  /** Hands everything to a new version. Resolves once it took over, or after a rollback. */
  async upgrade(): Promise<HandOffResult | { outcome: 'ignored' }> {
    if (this.state !== 'serving') {
      this.log(`SIGUSR2 ignored: an upgrade is already in progress (${this.state})`);
      return { outcome: 'ignored' };
    }
    this.state = 'upgrading';
    this.log(`SIGUSR2: upgrading ${this.connections.size} connections`);
    const result = await handOff(this, {
      app: this.options.app,
      stateDir: this.options.stateDir,
      startSuccessor: this.options.startSuccessor ?? spawnSuccessor,
      expectedPeerUid: this.options.expectedPeerUid ?? process.getuid!(),
      timeoutMs: this.options.timeoutMs ?? 10_000,
      log: this.log,
      newServer: () => this.newServer(),
      serve: (socket, session, pending) => this.serve(socket, session, pending),
    });
    if (result.outcome === 'upgraded') {
      this.state = 'handed-over';
      this.stopSignals();
      this.options.onHandedOver?.();
    } else {
      this.state = 'serving';
    }
    return result;
  }

  /** Stops listening and serving (tests, shutdown); connections are closed. */
  async close(): Promise<void> {
    this.stopSignals();
    for (const connection of this.connections) connection.socket.destroy();
    await new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
  }

  private async begin(): Promise<void> {
    const upgradeSocket = process.env[UPGRADE_SOCKET_ENV];
    if (upgradeSocket) {
      delete process.env[UPGRADE_SOCKET_ENV]; // our own successor must get its own
      const { server } = await takeOver<S>({
        upgradeSocket,
        version: this.options.version ?? 'unknown',
        timeoutMs: this.options.timeoutMs ?? 10_000,
        log: this.log,
        newServer: () => this.newServer(),
        serve: (socket, session, pending) => this.serve(socket, session, pending),
        crashMidHandover: this.options.crashMidHandover,
      });
      this.server = server;
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
    if (this.options.pidFile) {
      try {
        writePidFile(this.options.pidFile);
      } catch (error) {
        // Serving with no pid file would leave nobody able to upgrade or stop us by it.
        this.server.close();
        for (const connection of this.connections) connection.socket.destroy();
        throw new FdlabError('ERR_PID_FILE', `cannot write the pid file ${this.options.pidFile}: ${(error as Error).message}; stopped serving`, { cause: error });
      }
    }
    process.on('SIGUSR2', this.onUsr2);
    process.on('SIGUSR1', this.onUsr1);
    this.log(`serving on ${this.options.host ?? '127.0.0.1'}:${this.options.port} as pid ${process.pid} (${this.options.version ?? 'unknown'}); ${this.stats()}`);
  }

  private newServer(): net.Server {
    const server = net.createServer((socket) => this.serve(socket));
    // A listen() failure is reported by whoever called listen; later errors only get logged.
    server.on('error', (error) => server.listening && this.log(`listener: ${error.message}`));
    return server;
  }

  private serve(socket: net.Socket, session?: S, pending?: Buffer): void {
    const connection = this.options.app.serve(socket, session, pending);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  private stopSignals(): void {
    process.off('SIGUSR2', this.onUsr2);
    process.off('SIGUSR1', this.onUsr1);
  }
}
