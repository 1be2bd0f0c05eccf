// `fdlab serve`: the demo ping/pong service (or, --app http|ws, an HTTP/1.1 keep-alive or a WebSocket echo server), upgradable in place:
//   fdlab serve --port 7000 --pid-file /tmp/fdlab.pid &
//   kill -USR2 $(cat /tmp/fdlab.pid)      # the next version takes over; nothing is dropped
//   kill -WINCH $(cat /tmp/fdlab.pid)     # a stats line
// The engine never exits the process: this command does, on 'upgraded'.
import * as os from 'node:os';
import * as path from 'node:path';
import { externalSuccessor, fromEnvironment, removePidFile, spawnSuccessor, Upgrader, UPGRADE_SOCKET_ENV, UPGRADE_TOKEN_ENV, type NewState, type OnState, type StartSuccessor, type HandoverApp } from 'fdlab';
import { LabError } from '../lab-error';
import { bestEffortOutput, writeLine } from './early-signals';
import { faultHooks, HOOK_ENV } from './fault-hooks';
import { PingPongApp } from '../serve/ping-pong';

export interface ServeOptions {
  port: number;
  /** Where to listen (default 127.0.0.1; 0.0.0.0 in a container reached from outside it). */
  host?: string;
  pidFile: string;
  stateDir?: string;
  version: string;
  successor: 'spawn' | 'external';
  upgradeTimeout: number;
  standby: number;
  /** The listener's accept queue (default: net.core.somaxconn). */
  backlog?: number;
  /** What it serves: the ping/pong demo (default) or an HTTP/1.1 keep-alive server (fdlab/http). */
  app?: 'ping-pong' | 'http' | 'ws';
}

/** "13:04:05.123": engine log lines carry their time, so a handover can be read as a timeline. */
function clock(): string {
  return new Date().toISOString().slice(11, 23);
}

export async function runServe(options: ServeOptions): Promise<void> {
  // The edge: what spawnSuccessor (or lab 5's new container) told this process.
  const { takeOver, generation } = fromEnvironment();
  // Used up: a child this process starts (other than its own successor, which
  // spawnSuccessor gives fresh values) must not think it is taking over.
  delete process.env[UPGRADE_SOCKET_ENV];
  delete process.env[UPGRADE_TOKEN_ENV];
  const tag = generation > 1 ? `${options.version} gen ${generation}` : options.version;
  // Best-effort: a dead log pipe (EPIPE) must not stop the service (early-signals.ts).
  bestEffortOutput();
  const log = (line: string) => writeLine(process.stdout, `${clock()} [${tag} pid ${process.pid}] ${line}`);
  // Fault hooks: 'old:' ones act here if we started fresh, 'new:' ones if we
  // take over. One setting given to the first process reaches both sides of
  // one upgrade and no more: the first successor inherits it, nobody after.
  const hooks = faultHooks(process.env[HOOK_ENV], takeOver ? 'new' : 'old', log);
  if (takeOver) delete process.env[HOOK_ENV];
  // Where our take-over stands (NEW_STATES), for a stop request that comes
  // before Upgrader.start resolves: recorded before a hook can stop us there.
  let taking: NewState | null = takeOver ? 'connecting' : null;
  const onState: OnState = (side, state) => {
    if (side === 'new') taking = state as NewState;
    return hooks(side, state);
  };
  const spawnOnce: StartSuccessor = (request) => {
    const successor = spawnSuccessor(request);
    delete process.env[HOOK_ENV]; // after a rollback the next try is clean
    return successor;
  };
  const pidFile = path.resolve(options.pidFile);
  if (options.port === 0 && !options.stateDir) {
    // The default state dir is named after the port: with port 0 every server would share one.
    throw new LabError('ERR_INVALID_ARG_VALUE', 'with --port 0, give a --state-dir too (the default one is named after the port)');
  }
  // A stop request (stop() below), once made: which signal made it.
  let stopping: NodeJS.Signals | null = null;
  let upgrader: Upgrader<unknown> | null = null; // the session is the app's (PingSession or HttpSession)
  /**
   * Closes everything (after an upgrade under way settles: close() lets it),
   * removes the pid file unless a successor rewrote it, exits. Once.
   */
  let exiting = false;
  const closeAndExit = (signal: NodeJS.Signals) => {
    if (exiting) return;
    exiting = true;
    void upgrader!.close().then(
      () => 0,
      (error: Error) => {
        log(`stopping (${signal}): ${error.message}`);
        return 1;
      },
    ).then((code) => {
      removePidFile(pidFile);
      process.exit(code);
    });
  };
  // SIGINT (Ctrl-C), SIGHUP (a reload-style signal, a closed terminal) and
  // SIGTERM all mean one thing: stop (docs/handover.md, "Operator signals").
  // Serving: close the listener and every connection, remove the pid file,
  // exit 0. Their default action killed a version mid-upgrade, and with it
  // every connection it held. So, by where this version stands:
  // - the old side of an upgrade: the stop waits until it settles (close()
  //   lets it): upgraded, we exit as always and the new version serves;
  //   rolled back or taken back, we stop then;
  // - taking over, before the commit: we refuse the take-over and exit; the
  //   old version still owns every connection (we only held copies, still)
  //   and rolls back (or takes back, if it read our ack), serving on;
  // - taking over, after the commit (the old version stands by): the stop
  //   waits until it has released us (or is gone), then we stop as when
  //   serving. Handing back instead would restore the old version's older
  //   sessions, and the service a stop was sent to would serve on.
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      const status = upgrader?.status;
      const when = status === 'upgrading' ? ', once the upgrade settles' : !upgrader || status === 'predecessor-standing-by' ? ', once the previous version has released us' : '';
      log(`${signal}: already stopping (${stopping})${when}`);
      return;
    }
    stopping = signal;
    // close() stops handling SIGUSR2: its default action must not kill us while an upgrade settles.
    process.on('SIGUSR2', () => log(`SIGUSR2 ignored: stopping (${signal})`));
    if (!upgrader) {
      if (taking === null) {
        log(`${signal} while starting: exiting before serving`);
        removePidFile(pidFile);
        process.exit(0);
      }
      if (!committed(taking)) {
        // Exiting closes our copies only; the old version's own hold everything.
        log(`${signal} while taking over ('${taking}', before the commit): refusing the take-over; the old version serves on`);
        process.exit(0);
      }
      log(`${signal} while taking over ('${taking}', after the commit): stopping once the previous version has released us`);
      return; // once Upgrader.start resolves: settleStop()
    }
    settleStop();
  };
  /** A stop request with the upgrader there: now, or once the upgrade (either side of it) has settled. */
  const settleStop = () => {
    const signal = stopping!;
    const status = upgrader!.status;
    if (status === 'predecessor-standing-by') {
      log(`${signal} while the previous version stands by: stopping once it has released us`);
      return; // 'released' below
    }
    if (status === 'upgrading') log(`${signal} during the upgrade: stopping once it settles`);
    else log(`${signal}: stopping; ${upgrader!.stats()}`);
    closeAndExit(signal);
  };
  for (const signal of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(signal, () => stop(signal));

  upgrader = await Upgrader.start({
    app: await appOf(options.app, tag, log),
    port: options.port,
    host: options.host,
    pidFile,
    stateDir: path.resolve(options.stateDir ?? path.join(os.tmpdir(), `fdlab-serve-${options.port}`)),
    version: options.version,
    startSuccessor: options.successor === 'external' ? externalSuccessor : spawnOnce,
    takeOver,
    onState,
    timeoutMs: options.upgradeTimeout,
    standbyMs: options.standby,
    backlog: options.backlog,
    signals: true,
    log,
  }).catch((error: Error & { code?: string }) => {
    if (error.code === 'EADDRINUSE') {
      throw new LabError('EADDRINUSE', `${options.host ?? '127.0.0.1'}:${options.port} is already in use (another fdlab serve? \`cat ${pidFile}\`); pick another --port`);
    }
    throw error;
  });
  upgrader.on('upgraded', () => {
    if (stopping) log(`${stopping} during the upgrade: it went through; exiting, the new version serves`);
    log(`handed over; exiting; ${upgrader!.stats()}`);
    process.exit(0);
  });
  upgrader.on('rolled-back', () => {
    log(upgrader!.stats());
    if (stopping) log(`the upgrade rolled back: stopping now (${stopping})`);
  });
  upgrader.on('taken-back', () => {
    log(upgrader!.stats());
    if (stopping) log(`took everything back: stopping now (${stopping})`);
  });
  upgrader.on('released', () => {
    if (!stopping || exiting) return;
    log(`${stopping}: the previous version released us: stopping now; ${upgrader!.stats()}`);
    closeAndExit(stopping);
  });
  // Stats on SIGWINCH: its default action is to do nothing, so a stray one
  // harms no process (SIGUSR1 would start Node's inspector).
  process.on('SIGWINCH', () => log(upgrader!.stats()));
  // A stop request that came while we took over, after the commit.
  if (stopping) settleStop();
}

/** The app `fdlab serve` serves; the http and ws ones load their modules (and ws) only when chosen. */
async function appOf(app: ServeOptions['app'], tag: string, log: (line: string) => void): Promise<HandoverApp<unknown>> {
  if (app === 'http') return (await import('../serve/http-app')).httpServeApp(tag, log) as HandoverApp<unknown>;
  if (app === 'ws') return (await import('../serve/ws-app')).wsServeApp(tag, log) as HandoverApp<unknown>;
  return new PingPongApp(log) as HandoverApp<unknown>;
}

/** From this state of a take-over on, the connections are ours (the commit, or the old version gone). */
function committed(state: NewState): boolean {
  return state === 'serving-standby' || state === 'serving' || state === 'orphaned';
}
