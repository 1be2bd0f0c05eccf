// `fdlab serve`: the demo ping/pong service, upgradable in place:
//   fdlab serve --port 7000 --pid-file /tmp/fdlab.pid &
//   kill -USR2 $(cat /tmp/fdlab.pid)      # the next version takes over; nothing is dropped
//   kill -WINCH $(cat /tmp/fdlab.pid)     # a stats line
// The engine never exits the process: this command does, on 'upgraded'.
import * as os from 'node:os';
import * as path from 'node:path';
import { externalSuccessor, fromEnvironment, removePidFile, spawnSuccessor, Upgrader, UPGRADE_SOCKET_ENV, UPGRADE_TOKEN_ENV, type StartSuccessor } from 'fdlab';
import { LabError } from '../lab-error';
import { bestEffortOutput, writeLine } from './early-signals';
import { faultHooks, HOOK_ENV } from './fault-hooks';
import { PingPongApp } from '../serve/ping-pong';

export interface ServeOptions {
  port: number;
  pidFile: string;
  stateDir?: string;
  version: string;
  successor: 'spawn' | 'external';
  upgradeTimeout: number;
  standby: number;
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
  const onState = faultHooks(process.env[HOOK_ENV], takeOver ? 'new' : 'old', log);
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
  const upgrader = await Upgrader.start({
    app: new PingPongApp(log),
    port: options.port,
    pidFile,
    stateDir: path.resolve(options.stateDir ?? path.join(os.tmpdir(), `fdlab-serve-${options.port}`)),
    version: options.version,
    startSuccessor: options.successor === 'external' ? externalSuccessor : spawnOnce,
    takeOver,
    onState,
    timeoutMs: options.upgradeTimeout,
    standbyMs: options.standby,
    signals: true,
    log,
  }).catch((error: Error & { code?: string }) => {
    if (error.code === 'EADDRINUSE') {
      throw new LabError('EADDRINUSE', `127.0.0.1:${options.port} is already in use (another fdlab serve? \`cat ${pidFile}\`); pick another --port`);
    }
    throw error;
  });
  // A stop request (stop() below), once made: which signal made it.
  let stopping: NodeJS.Signals | null = null;
  upgrader.on('upgraded', () => {
    if (stopping) log(`${stopping} during the upgrade: it went through; exiting, the new version serves`);
    log(`handed over; exiting; ${upgrader.stats()}`);
    process.exit(0);
  });
  upgrader.on('rolled-back', () => {
    log(upgrader.stats());
    if (stopping) log(`the upgrade rolled back: stopping now (${stopping})`);
  });
  upgrader.on('taken-back', () => {
    log(upgrader.stats());
    if (stopping) log(`took everything back: stopping now (${stopping})`);
  });
  // Stats on SIGWINCH: its default action is to do nothing, so a stray one
  // harms no process (SIGUSR1 would start Node's inspector).
  process.on('SIGWINCH', () => log(upgrader.stats()));
  // SIGINT (Ctrl-C), SIGHUP (a reload-style signal, a closed terminal) and
  // SIGTERM all mean one thing: stop (docs/handover.md, "Operator signals").
  // Serving: close the listener and every connection, remove the pid file,
  // exit 0. During an upgrade the stop waits until it settles (close() lets
  // it): upgraded, we exit as always and the new version serves; rolled back
  // or taken back, we stop then. Their default action killed the old version
  // mid-upgrade, and with it every connection and the successor's take-over.
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal}: already stopping (${stopping})${upgrader.status === 'upgrading' ? ', once the upgrade settles' : ''}`);
      return;
    }
    stopping = signal;
    // close() stops handling SIGUSR2: its default action must not kill us while an upgrade settles.
    process.on('SIGUSR2', () => log(`SIGUSR2 ignored: stopping (${signal})`));
    const status = upgrader.status;
    if (status === 'upgrading') log(`${signal} during the upgrade: stopping once it settles`);
    else if (status === 'predecessor-standing-by') log(`${signal} while the previous version stands by: stopping; it takes back what it holds`);
    else log(`${signal}: stopping; ${upgrader.stats()}`);
    void upgrader.close().then(
      () => 0,
      (error: Error) => {
        log(`stopping (${signal}): ${error.message}`);
        return 1;
      },
    ).then((code) => {
      removePidFile(pidFile); // unless a successor rewrote it
      process.exit(code);
    });
  };
  for (const signal of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
}
