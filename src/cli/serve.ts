// `fdlab serve`: the demo ping/pong service (or, --app http|ws, an HTTP/1.1 keep-alive or a WebSocket echo server), upgradable in place:
//   fdlab serve --port 7000 --pid-file /tmp/fdlab.pid &
//   kill -USR2 $(cat /tmp/fdlab.pid)      # the next version takes over; nothing is dropped
//   kill -WINCH $(cat /tmp/fdlab.pid)     # a stats line
// The engine never exits the process: this command does, on 'upgraded'.
import * as os from 'node:os';
import * as path from 'node:path';
import { externalSuccessor, fromEnvironment, spawnSuccessor, Upgrader, UPGRADE_SOCKET_ENV, UPGRADE_TOKEN_ENV, type StartSuccessor, type HandoverApp } from 'fdlab';
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
  // SIGINT, SIGHUP and SIGTERM: stop, each at the right moment of an upgrade
  // (the library's stopSignals; docs/handover.md, "Operator signals").
  // The session is the app's (PingSession or HttpSession).
  const upgrader: Upgrader<unknown> = await Upgrader.start({
    app: await appOf(options.app, tag, log),
    port: options.port,
    host: options.host,
    pidFile,
    stateDir: path.resolve(options.stateDir ?? path.join(os.tmpdir(), `fdlab-serve-${options.port}`)),
    version: options.version,
    startSuccessor: options.successor === 'external' ? externalSuccessor : spawnOnce,
    takeOver,
    onState: hooks,
    timeoutMs: options.upgradeTimeout,
    standbyMs: options.standby,
    backlog: options.backlog,
    signals: true,
    stopSignals: true,
    exit: (code) => process.exit(code),
    log,
  }).catch((error: Error & { code?: string }) => {
    if (error.code === 'EADDRINUSE') {
      throw new LabError('EADDRINUSE', `${options.host ?? '127.0.0.1'}:${options.port} is already in use (another fdlab serve? \`cat ${pidFile}\`); pick another --port`);
    }
    throw error;
  });
  upgrader.on('upgraded', () => {
    log(`handed over; exiting; ${upgrader.stats()}`);
    process.exit(0);
  });
  upgrader.on('rolled-back', () => log(upgrader.stats()));
  upgrader.on('taken-back', () => log(upgrader.stats()));
  // Stats on SIGWINCH: its default action is to do nothing, so a stray one
  // harms no process (SIGUSR1 would start Node's inspector).
  process.on('SIGWINCH', () => log(upgrader.stats()));
}

/** The app `fdlab serve` serves; the http and ws ones load their modules (and ws) only when chosen. */
async function appOf(app: ServeOptions['app'], tag: string, log: (line: string) => void): Promise<HandoverApp<unknown>> {
  if (app === 'http') return (await import('../serve/http-app')).httpServeApp(tag, log) as HandoverApp<unknown>;
  if (app === 'ws') return (await import('../serve/ws-app')).wsServeApp(tag, log) as HandoverApp<unknown>;
  return new PingPongApp(log) as HandoverApp<unknown>;
}
