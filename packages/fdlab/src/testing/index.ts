// fdlab/testing: test an app's hot upgrade without restarting a process
// (like tableflip's testing package). An old and a new version run as two
// Upgraders in this one process: the old one's "successor" is the next
// Upgrader, started with takeOver on the old one's upgrade socket, so the
// real protocol runs (fds, sessions, pending bytes, commit, standby) and an
// app author can check that snapshot() and serve(socket, session, pending)
// round-trip. Public API only; no test framework.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  FdlabError,
  Upgrader,
  type HandoverApp,
  type OnState,
  type SuccessorRequest,
  type Successor,
  type UpgradeResult,
} from '../index';

/** Makes the app of one version: 1 for the first, 2 for the one the first upgrade starts, and so on. */
export type AppFactory<S> = (generation: number) => HandoverApp<S>;

export interface UpgradePairOptions<S> {
  /** Called once per version, with its generation: give v2 another app to test a change of session format. */
  app: AppFactory<S>;
  /** How long each old version stands by after the commit (default 0: released at once). */
  standbyMs?: number;
  /** One deadline per upgrade (default 5000 ms). */
  timeoutMs?: number;
  /** See UpgraderOptions.heartbeatTimeoutMs (default the engine's). */
  heartbeatTimeoutMs?: number;
  /** Every change of state of either side of every upgrade. */
  onState?: OnState;
  /** Also gets every line of `logs` as it is written. */
  log?: (line: string) => void;
}

/** upgrade() did not end in 'upgraded': the old version serves on (unless the result says otherwise). */
export class UpgradeFailedError extends FdlabError {
  /** What the old version's upgrade() returned. */
  readonly result: UpgradeResult;

  constructor(message: string, result: UpgradeResult, cause?: unknown) {
    super('ERR_PAIR_UPGRADE_FAILED', message, cause === undefined ? undefined : { cause });
    this.name = 'UpgradeFailedError';
    this.result = result;
  }
}

const HOST = '127.0.0.1';

/** One start of a next version, as the old version's startSuccessor. */
interface Attempt<S> {
  generation: number;
  /** Settles once the next version serves (its Upgrader) or failed to start (undefined; `error` says why). */
  started: Promise<Upgrader<S> | undefined>;
  error?: unknown;
  /** Resolves once the next version serves alone: its predecessor released it. */
  released?: Promise<void>;
}

export class UpgradePair<S> {
  /** Every line of every version's log, as `v<generation>: <line>`, and the pair's own as `pair: <line>`. */
  readonly logs: string[] = [];
  /** The 0700 temp dir every version keeps its upgrade socket in (removed by close()). */
  readonly stateDir: string;
  /** Where the app listens: the same port for every version (the listener is handed over). */
  readonly host = HOST;
  private serving!: Upgrader<S>;
  private gen = 1;
  private firstPort = 0;
  /** Every Upgrader made, and those that handed over (nothing left to close). */
  private readonly made: Upgrader<S>[] = [];
  private readonly handedOver = new Set<Upgrader<S>>();
  private readonly closings: Promise<void>[] = [];
  private attempt: Attempt<S> | undefined;
  private inFlight: Promise<unknown> | undefined;
  private closing: Promise<void> | undefined;

  private constructor(private readonly options: Required<Pick<UpgradePairOptions<S>, 'app' | 'standbyMs' | 'timeoutMs'>> & UpgradePairOptions<S>) {
    this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-testing-'));
    fs.chmodSync(this.stateDir, 0o700); // mkdtemp makes it 0700; say so rather than trust the umask
  }

  /** @internal use startUpgradePair */
  static async start<S>(options: UpgradePairOptions<S>): Promise<UpgradePair<S>> {
    const pair = new UpgradePair<S>(checkOptions(options));
    try {
      pair.serving = await pair.startVersion(1);
      pair.firstPort = pair.serving.port;
      return pair;
    } catch (error) {
      await pair.close();
      throw error;
    }
  }

  /** The version serving now: the first, then whichever the last upgrade() started. */
  get current(): Upgrader<S> {
    return this.serving;
  }

  /** The generation of `current` (1 for the first). */
  get generation(): number {
    return this.gen;
  }

  get port(): number {
    return this.firstPort;
  }

  /**
   * Upgrades `current` to the next version, started here with takeOver.
   * Resolves with the next version's Upgrader once it serves and the old one
   * released it (so `current` is the one to upgrade next). Otherwise rejects
   * with an UpgradeFailedError (code ERR_PAIR_UPGRADE_FAILED) that carries the
   * old side's result and, if the next version failed to start, its error as
   * `cause`; whatever the result says serves on.
   */
  async upgrade(): Promise<Upgrader<S>> {
    if (this.closing) throw new FdlabError('ERR_PAIR_CLOSED', 'upgrade() after close(): start a new pair');
    // One at a time: a second call upgrades the version the first one started.
    const run = (this.inFlight ?? Promise.resolve()).catch(() => {}).then(() => this.runUpgrade());
    this.inFlight = run;
    try {
      return await run;
    } finally {
      if (this.inFlight === run) this.inFlight = undefined;
    }
  }

  /**
   * Closes every version still open and removes the state dir. Waits for an
   * upgrade in progress to settle first. Safe to call more than once, and
   * after a failure. Every version is closed even if one fails; then the
   * failure is thrown (the first one's own error, or an AggregateError of all).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.inFlight?.catch(() => {});
      const failures: unknown[] = [];
      const failed = (what: string) => (error: unknown) => {
        this.note(`${what} failed: ${(error as Error)?.message ?? error}`);
        failures.push(error);
      };
      for (const upgrader of [...this.made].reverse()) {
        if (!this.handedOver.has(upgrader)) await upgrader.close().catch(failed('closing a version'));
      }
      for (const closing of this.closings) await closing.catch(failed('closing a version the engine stopped'));
      fs.rmSync(this.stateDir, { recursive: true, force: true });
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `closing the pair: ${failures.length} failures (every version was closed; pair.logs has them)`);
    })();
    return this.closing;
  }

  private async runUpgrade(): Promise<Upgrader<S>> {
    if (this.closing) throw new FdlabError('ERR_PAIR_CLOSED', 'upgrade() after close(): start a new pair');
    const old = this.serving;
    const from = this.gen;
    this.attempt = undefined;
    const result = await old.upgrade();
    const attempt = this.attempt as Attempt<S> | undefined;
    this.attempt = undefined;
    const next = await attempt?.started;
    if (result.outcome === 'upgraded' && next) {
      await attempt!.released;
      this.handedOver.add(old);
      this.serving = next;
      this.gen = attempt!.generation;
      this.note(`v${from} handed over to v${this.gen}`);
      return next;
    }
    if (next && result.outcome !== 'rolled-back' && result.outcome !== 'taken-back') this.closings.push(next.close()); // the engine killed it otherwise
    const reason = 'reason' in result ? result.reason : '';
    const code = 'code' in result ? ` [${result.code}]` : '';
    const startError = attempt && 'error' in attempt ? `; v${attempt.generation} did not start: ${(attempt.error as Error)?.message ?? attempt.error}` : '';
    const message = `upgrade from v${from}: ${result.outcome}${reason ? `: ${reason}` : ''}${code}${startError} (pair.logs has both sides' logs)`;
    this.note(message);
    throw new UpgradeFailedError(message, result, attempt?.error);
  }

  /** The old version's startSuccessor: the next version, in this process. */
  private startNext(request: SuccessorRequest, generation: number): Successor {
    let killed = false;
    let exit!: (code: number) => void;
    const exited = new Promise<number>((resolve) => (exit = resolve));
    const attempt: Attempt<S> = { generation, started: Promise.resolve(undefined) };
    attempt.started = this.startVersion(generation, request).then(
      (upgrader) => {
        // Listened for before anything else can run: the release comes on a later message.
        attempt.released = new Promise<void>((resolve) => upgrader.once('released', () => resolve()));
        return upgrader;
      },
      (error: unknown) => {
        attempt.error = error;
        this.note(`v${generation} did not start: ${(error as Error)?.message ?? error}`);
        exit(1); // like a process that died: the old version rolls back now, not at its deadline
        return undefined;
      },
    );
    this.attempt = attempt;
    return {
      pid: process.pid, // the hello comes from this process
      exited,
      kill: () => {
        if (killed) return;
        killed = true;
        this.closings.push(attempt.started.then((upgrader) => upgrader?.close()));
      },
    };
  }

  private async startVersion(generation: number, request?: SuccessorRequest): Promise<Upgrader<S>> {
    const app = this.options.app(generation);
    if (app === null || typeof app !== 'object' || typeof app.serve !== 'function') {
      throw new FdlabError('ERR_INVALID_ARG_TYPE', `app(${generation}) must return a HandoverApp (an object with serve(socket, session, pending)), got ${describe(app)}`);
    }
    const prefix = `v${generation}: `;
    const upgrader = await Upgrader.start<S>({
      app,
      port: 0,
      host: HOST,
      stateDir: this.stateDir,
      version: `v${generation}`,
      takeOver: request && { socket: request.socketPath, token: request.token },
      startSuccessor: (next) => this.startNext(next, generation + 1),
      timeoutMs: this.options.timeoutMs,
      standbyMs: this.options.standbyMs,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
      onState: this.options.onState,
      // Both versions live in this process: neither is a service's main pid to tell systemd about.
      notifySocket: false,
      log: (line) => this.write(prefix + line),
    });
    this.made.push(upgrader);
    return upgrader;
  }

  private note(line: string): void {
    this.write(`pair: ${line}`);
  }

  private write(line: string): void {
    this.logs.push(line);
    this.options.log?.(line);
  }
}

/**
 * Starts the first version of an app (app(1)) on 127.0.0.1 and a free port,
 * with a fresh 0700 state dir; upgrade() then starts the next one in this
 * process. Call close() when done (also after a failure).
 */
export function startUpgradePair<S>(options: UpgradePairOptions<S>): Promise<UpgradePair<S>> {
  return UpgradePair.start(options);
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? 'an object without serve()' : typeof value;
}

function checkOptions<S>(options: UpgradePairOptions<S>): Required<Pick<UpgradePairOptions<S>, 'app' | 'standbyMs' | 'timeoutMs'>> & UpgradePairOptions<S> {
  if (options === null || typeof options !== 'object') {
    throw new FdlabError('ERR_INVALID_ARG_TYPE', `startUpgradePair takes an options object ({ app }), got ${options === null ? 'null' : typeof options}`);
  }
  if (typeof options.app !== 'function') {
    throw new FdlabError('ERR_INVALID_ARG_TYPE', `options.app must be a function (generation) => HandoverApp, called once per version; got ${options.app === null ? 'null' : typeof options.app}`);
  }
  for (const name of ['standbyMs', 'timeoutMs', 'heartbeatTimeoutMs'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (name === 'timeoutMs' && value === 0))) {
      throw new FdlabError('ERR_INVALID_ARG_VALUE', `options.${name} must be a ${name === 'timeoutMs' ? 'positive' : 'non-negative'} number of milliseconds, got ${String(value)}`);
    }
  }
  return { ...options, standbyMs: options.standbyMs ?? 0, timeoutMs: options.timeoutMs ?? 5000 };
}
