// A supervisor that stays the main process for the whole life of a service
// (`fdlab run -- <command>`): what pm2, systemd and a container runtime
// watch. Without it, an upgrade's old version exits and its successor runs on
// detached: pm2 restarts the app (measured: 78 restarts looping on
// EADDRINUSE), systemd kills the cgroup, a container ends with its PID 1.
//   - starts the first worker (with an IPC channel: worker.ts);
//   - SIGUSR2 (or upgrade()) is passed to the worker, whose engine asks us to
//     start its successor: our child, told where the old version waits;
//   - SIGTERM/SIGINT/SIGHUP (or stop()) go to every worker: fdlab serve's
//     rules then stop the service whatever step an upgrade is at;
//   - reaps every child, orphans of its workers too (it is a subreaper, or
//     PID 1), and ends with the status of the last worker to exit: a worker
//     that crashes outside an upgrade ends the supervisor (the manager
//     restarts it as it would any server); restarting is not ours.
// The library never exits the process: `exited` resolves, the caller exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as os from 'node:os';
import { environmentForWorkers, GENERATION_ENV, SUPERVISOR_ENV, UPGRADE_SOCKET_ENV, UPGRADE_TOKEN_ENV, withPreloadGuard } from '../environment';
import { FdlabError } from '../errors';
import { SUPERVISOR_PID_FILE_ALTERNATIVE } from '../handover/file-errors';
import { removePidFile, writePidFile } from '../handover/pid-file';
import { PidFileWatch } from '../handover/pid-watch';
import type { Log } from '../handover/types';
import { releaseUpgradeSignalGuard } from '../handover/signal-guard';
import { binding } from '../native/binding';
import { isFromWorker, type FromWorker, type StartSuccessorMessage, type SuccessorMessage } from './messages';
import { monotonicUsec, notifier, type Notify } from './notify';

export interface SuperviseOptions {
  /** The worker's command, run again for every upgrade (so a new build at the same path is the new version). */
  command: string;
  args?: readonly string[];
  /** The first worker's environment (default: ours). A successor gets its predecessor's, as spawnSuccessor gives it. */
  env?: NodeJS.ProcessEnv;
  /** Written with the supervisor's pid (so `kill -USR2 $(cat f)` upgrades), removed at the end. */
  pidFile?: string;
  /** systemd's NOTIFY_SOCKET (notifySocketFromEnvironment()): READY=1, RELOADING=1, STOPPING=1, STATUS=. */
  notifySocket?: string;
  /** Handle SIGUSR2, SIGTERM, SIGINT, SIGHUP and SIGCHLD in this process (default true). */
  signals?: boolean;
  /** Become a child subreaper so orphans of the workers are reaped here (default true; PID 1 reaps them anyway). */
  subreaper?: boolean;
  log?: Log;
}

interface Worker {
  child: ChildProcess;
  pid: number;
  generation: number;
  /** The worker that asked for this one, and its request id: told when this one exits. */
  requestedBy?: { worker: Worker; id: number };
  /** It said it serves (its engine handles SIGUSR2 from then on): until then SIGUSR2 is not passed on. */
  serving: boolean;
}

/** The states after which a worker's engine serves, and so handles SIGUSR2 itself. */
const SERVES = new Set(['old:serving', 'new:serving-standby', 'new:serving', 'new:orphaned']);

const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

export interface Supervisor {
  on(event: 'state', listener: (pid: number, side: 'old' | 'new', state: string) => void): this;
  on(event: 'worker', listener: (pid: number) => void): this;
}

export class Supervisor extends EventEmitter {
  /** Starts the first worker at once. Throws (coded) only on bad options; a worker that cannot start ends `exited` with 127. */
  static start(options: SuperviseOptions): Supervisor {
    if (typeof options.command !== 'string' || options.command === '') {
      throw new FdlabError('ERR_INVALID_ARG_VALUE', 'supervise: give the worker\'s command (fdlab run -- <command> [args...])');
    }
    const supervisor = new Supervisor(options);
    supervisor.begin();
    return supervisor;
  }

  /** The status of the last worker to exit (128 + the signal's number if a signal ended it): the supervisor's own. */
  readonly exited: Promise<number>;
  private finish!: (status: number) => void;
  private readonly workers = new Map<number, Worker>();
  private readonly log: Log;
  private readonly notify: Notify;
  private stopping: StopSignal | null = null;
  private ready = false;
  /** The last "serving: ..." STATUS= and whose it is. */
  private serving = { pid: 0, status: '' };
  private done = false;
  private lastStatus = 0;
  private readonly handlers = new Map<string, () => void>();
  /** Rewrites our pid file if it goes (a tmp cleaner, `rm -rf /run/x`): before, `fdlab upgrade` then failed with ENOENT for good. */
  private pidWatch: PidFileWatch | null = null;

  private constructor(private readonly options: SuperviseOptions) {
    super();
    this.log = options.log ?? (() => {});
    this.notify = notifier(options.notifySocket, this.log);
    this.exited = new Promise((resolve) => (this.finish = resolve));
  }

  /** The pids of the workers alive now (two during an upgrade). */
  get pids(): number[] {
    return [...this.workers.keys()];
  }

  private begin(): void {
    if (this.options.subreaper ?? true) {
      try {
        binding.setChildSubreaper();
      } catch (error) {
        this.log(`not a subreaper (${(error as Error).message}): orphans of the workers go to PID 1`);
      }
    }
    if (this.options.signals ?? true) {
      this.handle('SIGUSR2', () => void this.upgrade());
      releaseUpgradeSignalGuard(); // ours now: the guard's 'not serving yet' is a worker's line
      for (const signal of STOP_SIGNALS) this.handle(signal, () => this.stop(signal));
      this.handle('SIGCHLD', () => this.reap());
    }
    if (this.options.pidFile) {
      writePidFile(this.options.pidFile, process.pid, SUPERVISOR_PID_FILE_ALTERNATIVE);
      this.pidWatch = new PidFileWatch(this.options.pidFile, () => !this.done, this.log, SUPERVISOR_PID_FILE_ALTERNATIVE);
    }
    const env = { ...(this.options.env ?? environmentForWorkers()) };
    this.spawnWorker(env, 1);
  }

  private handle(signal: NodeJS.Signals, handler: () => void): void {
    this.handlers.set(signal, handler);
    process.on(signal, handler);
  }

  /**
   * Asks the worker to upgrade (SIGUSR2 to it): its engine asks us for the
   * successor. Ignored (false, with a log line) unless exactly one worker
   * runs (during an upgrade, the engine would ignore it too) and it has said
   * it serves: before its first handler, SIGUSR2 kills a starting worker
   * (measured: a reload 10 ms after `fdlab run` started ended the supervisor
   * with 140, the whole service down).
   */
  upgrade(): boolean {
    if (this.stopping || this.done) {
      this.log(`SIGUSR2 ignored: stopping`);
      return false;
    }
    if (this.workers.size !== 1) {
      this.log(`SIGUSR2 ignored: an upgrade is under way (workers ${this.pids.join(', ')})`);
      return false;
    }
    const [worker] = this.workers.values();
    if (!worker.serving) {
      this.log(`SIGUSR2 ignored: worker pid ${worker.pid} has not said it serves yet (starting; or not an fdlab worker, which cannot upgrade)`);
      return false;
    }
    this.log(`SIGUSR2: upgrading worker pid ${worker.pid}`);
    worker.child.kill('SIGUSR2');
    return true;
  }

  /** Passes the stop to every worker; no successor is started from now on. `exited` resolves once they are all gone. */
  stop(signal: StopSignal = 'SIGTERM'): void {
    if (this.done) return;
    if (!this.stopping) {
      this.stopping = signal;
      this.notify({ STOPPING: '1', STATUS: `stopping (${signal})` });
    }
    this.log(`${signal}: passing it to worker${this.workers.size === 1 ? '' : 's'} ${this.pids.join(', ')}`);
    for (const worker of this.workers.values()) worker.child.kill(signal);
  }

  private spawnWorker(env: NodeJS.ProcessEnv, generation: number, requestedBy?: Worker['requestedBy']): Worker | null {
    const child = spawn(this.options.command, [...(this.options.args ?? [])], {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      env: { ...withPreloadGuard(env), [SUPERVISOR_ENV]: String(process.pid) },
    });
    if (child.pid === undefined) {
      // ENOENT, EACCES, EAGAIN: 'error' says which; no 'exit' follows.
      child.once('error', (error) => {
        this.log(`could not start ${this.options.command}: ${error.message}`);
        if (requestedBy) this.tell(requestedBy.worker, { fdlab: 'successor', id: requestedBy.id, event: 'failed', message: error.message });
        else if (this.workers.size === 0) this.end(127);
      });
      return null;
    }
    const worker: Worker = { child, pid: child.pid, generation, requestedBy, serving: false };
    this.workers.set(worker.pid, worker);
    child.on('error', (error) => this.log(`worker pid ${worker.pid}: ${error.message}`));
    child.on('message', (message: unknown) => {
      if (isFromWorker(message)) this.onMessage(worker, message);
    });
    child.once('exit', (code, signal) => this.onExit(worker, code, signal));
    this.log(`started worker pid ${worker.pid} (generation ${generation}): ${[this.options.command, ...(this.options.args ?? [])].join(' ')}`);
    this.emit('worker', worker.pid);
    return worker;
  }

  private onMessage(worker: Worker, message: FromWorker): void {
    if (message.fdlab === 'start-successor') this.startSuccessor(worker, message);
    else if (message.fdlab === 'kill-successor') {
      for (const other of this.workers.values()) {
        if (other.requestedBy?.worker === worker && other.requestedBy.id === message.id) {
          this.log(`worker pid ${worker.pid} ends its successor pid ${other.pid}`);
          other.child.kill('SIGKILL');
        }
      }
    } else this.onState(worker, message.side, message.state);
  }

  private startSuccessor(worker: Worker, request: StartSuccessorMessage): void {
    if (this.stopping) {
      this.tell(worker, { fdlab: 'successor', id: request.id, event: 'failed', message: `the supervisor is stopping (${this.stopping})` });
      return;
    }
    const env: NodeJS.ProcessEnv = { ...request.env };
    // Node's own channel variables are the old worker's: spawn sets the successor's.
    for (const key of Object.keys(env)) if (key.startsWith('NODE_CHANNEL_') || key === 'NODE_UNIQUE_ID') delete env[key];
    env[UPGRADE_SOCKET_ENV] = request.socketPath;
    env[UPGRADE_TOKEN_ENV] = request.token;
    env[GENERATION_ENV] = String(request.generation);
    const successor = this.spawnWorker(env, request.generation, { worker, id: request.id });
    if (successor) this.tell(worker, { fdlab: 'successor', id: request.id, event: 'started', pid: successor.pid });
  }

  private onState(worker: Worker, side: 'old' | 'new', state: string): void {
    this.emit('state', worker.pid, side, state);
    if (SERVES.has(`${side}:${state}`)) worker.serving = true;
    if (side !== 'old') return;
    if (state === 'serving') {
      const status = worker.generation === 1 && !this.ready ? `serving: pid ${worker.pid}` : `serving: pid ${worker.pid} (generation ${worker.generation})`;
      if (!this.ready && !this.stopping) this.notify({ READY: '1', STATUS: status });
      else this.notify({ STATUS: status });
      this.ready = true;
      this.serving = { pid: worker.pid, status };
    } else if (state === 'starting-successor') {
      this.ready = false;
      this.notify({ RELOADING: '1', MONOTONIC_USEC: monotonicUsec(), STATUS: `upgrading: pid ${worker.pid} is starting its successor` });
    } else if (state === 'handed-over' && this.serving.pid !== worker.pid && this.serving.pid !== 0) {
      // It comes after the successor's 'serving' (at the end of the standby): systemd keeps the last
      // STATUS= (`systemctl status`), so it must still name the version serving, not the one gone.
      this.notify({ STATUS: `${this.serving.status}; pid ${worker.pid} handed over` });
    } else if (state === 'rolled-back' || state === 'taken-back' || state === 'handed-over') {
      this.notify({ STATUS: `pid ${worker.pid}: ${state}` });
    }
  }

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.pid);
    const status = code ?? 128 + (signal ? os.constants.signals[signal] ?? 0 : 0);
    this.lastStatus = status;
    this.log(`worker pid ${worker.pid} exited (${signal ?? `code ${code}`}); ${this.workers.size === 0 ? 'none left' : `serving: ${this.pids.join(', ')}`}`);
    const asker = worker.requestedBy;
    if (asker && this.workers.has(asker.worker.pid)) this.tell(asker.worker, { fdlab: 'successor', id: asker.id, event: 'exited', code: status, signal });
    this.reap();
    if (this.workers.size === 0) this.end(this.lastStatus);
  }

  /** Orphans of the workers re-parented to us (subreaper, PID 1): reaped; our workers are Node's to reap. */
  private reap(): void {
    try {
      const reaped = binding.reapOthers(Int32Array.from(this.workers.keys()));
      if (reaped.length > 0) this.log(`reaped orphan${reaped.length === 1 ? '' : 's'} ${reaped.join(', ')}`);
    } catch (error) {
      this.log(`reaping failed: ${(error as Error).message}`);
    }
  }

  private tell(worker: Worker, message: SuccessorMessage): void {
    if (!worker.child.connected) return;
    try {
      worker.child.send(message);
    } catch {
      // Its channel closed as it exits: nothing to tell.
    }
  }

  private end(status: number): void {
    if (this.done) return;
    this.done = true;
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.pidWatch?.stop();
    if (this.options.pidFile) removePidFile(this.options.pidFile);
    this.log(`exiting with status ${status} (the last worker's)`);
    this.finish(status);
  }
}

/** Starts a supervisor (Supervisor.start): `await supervise(o).exited` is the status to exit with. */
export function supervise(options: SuperviseOptions): Supervisor {
  return Supervisor.start(options);
}
