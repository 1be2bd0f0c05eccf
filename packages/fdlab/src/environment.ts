// The edge: the one place in the library that reads the process's
// environment (a test fails if another file does). A server started by
// spawnSuccessor learns from it where the old version waits; the engine
// itself takes that as arguments (Upgrader.start's `takeOver`), so tests and
// supervisors pass them directly. And which native build a debugger wants.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FdlabError } from './errors';
import { memoryShortfall } from './handover/memory-headroom';
import { preferSuccessorForOom } from './handover/oom-score';
import type { StartSuccessor, SuccessorExit } from './handover/successor';
import type { OnState } from './handover/states';
import { askSupervisor, reportingStates, type WorkerChannel } from './supervisor/worker';
import { notifier } from './supervisor/notify';
import { notifyingStates } from './supervisor/notify-states';
import { stopWithSupervisor } from './supervisor/parent-death';
import type { Log } from './handover/types';

export const UPGRADE_SOCKET_ENV = 'FDLAB_UPGRADE_SOCKET';
export const UPGRADE_TOKEN_ENV = 'FDLAB_UPGRADE_TOKEN';
/** Which generation a process is: 1 for the first, +1 per upgrade (for the logs). */
export const GENERATION_ENV = 'FDLAB_GENERATION';

export interface TakeOver {
  /** The old version's upgrade socket. */
  socket: string;
  /** The one-time token for the hello; without it, read from the 0600 token file beside the socket (externalSuccessor). */
  token?: string;
}

export interface FromEnvironment {
  /** Set when this process was started to take over (pass it to Upgrader.start). */
  takeOver?: TakeOver;
  /** 1 for a process started fresh, +1 per upgrade. */
  generation: number;
}

/**
 * What a process started by spawnSuccessor (or by a supervisor that sets
 * FDLAB_UPGRADE_SOCKET) was told. Reads, never writes: spawnSuccessor gives
 * each successor its own values, so nothing needs clearing.
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): FromEnvironment {
  const socket = env[UPGRADE_SOCKET_ENV];
  const generation = Number(env[GENERATION_ENV] ?? 1);
  return {
    takeOver: socket ? { socket, token: env[UPGRADE_TOKEN_ENV] || undefined } : undefined,
    generation: Number.isInteger(generation) && generation >= 1 ? generation : 1,
  };
}

/**
 * Runs this process's own command line again, detached, with the upgrade
 * socket, a one-time token and the next generation in its environment (the
 * rest of the environment as it is now). The new process calls
 * fromEnvironment() and passes `takeOver` to Upgrader.start.
 *
 * `--require preload-guard.js` comes first: SIGUSR2 is ignored from Node's
 * first JavaScript on (before: from the app's first import; docs/handover.md,
 * "Operator signals", has the windows measured). The successor is made the
 * OOM killer's first choice until every group is switched (oom-score.ts).
 * Throws ERR_UPGRADE_MEMORY (the upgrade rolls back, nothing started) if our
 * memory cgroup's limit leaves less room than we hold privately.
 */
export const spawnSuccessor: StartSuccessor = (request) => {
  // It would start in our memory cgroup: refused (the upgrade rolls back) if it cannot fit there (memory-headroom.ts).
  const shortfall = memoryShortfall();
  if (shortfall) throw new FdlabError('ERR_UPGRADE_MEMORY', shortfall);
  // Under a supervisor (`fdlab run`), the supervisor starts it: its child, not an orphan of ours.
  const channel = supervisorChannel();
  if (channel) return askSupervisor(channel, fromEnvironment().generation + 1, () => ({ ...process.env }))(request);
  const { socketPath, token, log } = request;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [UPGRADE_SOCKET_ENV]: socketPath,
    [UPGRADE_TOKEN_ENV]: token,
    [GENERATION_ENV]: String(fromEnvironment().generation + 1),
  };
  // A bundled app may not ship the file: then the guard comes at the app's first line, as before.
  const preload = !process.execArgv.includes(PRELOAD_GUARD) && fs.existsSync(PRELOAD_GUARD);
  if (!preload && !process.execArgv.includes(PRELOAD_GUARD)) log(`no ${PRELOAD_GUARD}: the successor ignores SIGUSR2 only from the app's first line on`);
  const execArgv = preload ? ['--require', PRELOAD_GUARD, ...process.execArgv] : process.execArgv;
  const child = spawn(process.execPath, [...execArgv, ...process.argv.slice(1)], {
    detached: true, // its own session: it outlives us
    stdio: ['ignore', 'inherit', 'inherit'],
    env,
  });
  child.unref();
  const exited = new Promise<SuccessorExit>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      if (signal) log(`the successor pid ${child.pid} was killed by ${signal}`);
      resolve(signal ?? code);
    });
    // Spawning failed (EMFILE, EAGAIN, ENOMEM): no successor; the upgrade rolls back saying why.
    child.once('error', (error) => reject(error));
  });
  exited.catch(() => {}); // observed by the upgrade; never an unhandled rejection
  log(`started the successor: pid ${child.pid ?? '(spawn failed)'}`);
  if (child.pid !== undefined) preferSuccessorForOom(child.pid, log);
  return {
    pid: child.pid,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
};

/** Ignores SIGUSR2 from the successor's first JavaScript on; imports nothing (preload-guard.ts). */
const PRELOAD_GUARD = path.join(__dirname, 'handover', 'preload-guard.js');

/**
 * `env` for a worker a supervisor starts, with NODE_OPTIONS requiring the
 * preload guard first (once, whatever the old worker's environment held): a
 * supervisor runs any command, so no `--require` of ours can go on its command
 * line, and a Node worker reads NODE_OPTIONS before the app. Without it, 20
 * SIGUSR2 to every process of the tree killed 10-11 successors in their start
 * (3 of 3 runs). Unchanged if the file is not shipped (a bundled library).
 */
export function withPreloadGuard(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Any guard a predecessor's environment names goes first, whatever its path: a deploy that removed
  // the release directory it was installed in left `--require <a file that is gone>`, and every
  // successor then died with "Cannot find module" (found by a reviewer: each upgrade rolled back).
  const others = (env.NODE_OPTIONS ?? '').replace(GUARD_OPTION, ' ').replace(/\s+/g, ' ').trim();
  const option = fs.existsSync(PRELOAD_GUARD) ? `--require ${JSON.stringify(PRELOAD_GUARD)}` : '';
  const options = [option, others].filter(Boolean).join(' ');
  const result = { ...env };
  if (options) result.NODE_OPTIONS = options;
  else delete result.NODE_OPTIONS;
  return result;
}

/** `--require "<any path>/preload-guard.js"` in NODE_OPTIONS, as withPreloadGuard writes it. */
const GUARD_OPTION = /--require "[^"]*\/preload-guard\.js"/g;

/** Set by a supervisor (supervise(), `fdlab run`) in each worker's environment: its pid. */
export const SUPERVISOR_ENV = 'FDLAB_SUPERVISOR';
/** systemd's notify socket (Type=notify): where a supervisor says READY=1. */
export const NOTIFY_SOCKET_ENV = 'NOTIFY_SOCKET';

/**
 * The IPC channel to our supervisor, if we are one of its workers: our
 * environment names it (FDLAB_SUPERVISOR) and Node's IPC channel is open.
 * Both, so an app that pm2 (or any parent) forked with a channel of its own
 * is not taken for a supervised one.
 */
export function supervisorChannel(env: NodeJS.ProcessEnv = process.env): WorkerChannel | undefined {
  if (!env[SUPERVISOR_ENV] || typeof process.send !== 'function' || !process.channel) return undefined;
  const channel = process.channel;
  return {
    send: (message) => void process.send!(message),
    on: (event, listener) => process.on(event, listener),
    off: (event, listener) => process.off(event, listener),
    unref: () => channel.unref(),
    connected: () => process.connected,
  };
}

/**
 * `onState` (Upgrader wraps its option with this), and each change of state
 * told to whoever manages this process: to our supervisor, if we are one of
 * its workers (it speaks to systemd for us); else, run directly by systemd
 * (Type=notify), as sd_notify messages to `notifySocket` (default:
 * NOTIFY_SOCKET), MAINPID= included (supervisor/notify-states.ts). `false`: none.
 * A supervised process also gets SIGTERM if its supervisor dies (parent-death.ts).
 */
export function withServiceManager(onState: OnState | undefined, notifySocket: string | false | undefined, log: Log): OnState | undefined {
  const channel = supervisorChannel();
  if (channel) {
    stopWithSupervisor(Number(process.env[SUPERVISOR_ENV]), log);
    return reportingStates(channel, onState);
  }
  const socket = notifySocket === undefined ? notifySocketFromEnvironment() : notifySocket || undefined;
  if (!socket) return onState;
  return notifyingStates(notifier(socket, log), { pid: process.pid, generation: fromEnvironment().generation }, onState);
}

/** Where a supervisor sends sd_notify messages (systemd's Type=notify), if systemd gave us a socket. */
export function notifySocketFromEnvironment(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[NOTIFY_SOCKET_ENV] || undefined;
}

/** The environment a supervisor gives its first worker (plus its own FDLAB_SUPERVISOR). */
export function environmentForWorkers(): NodeJS.ProcessEnv {
  return { ...process.env };
}

/** FDLAB_NATIVE_BUILD=Debug loads build/Debug even where build/Release exists (gdb sessions). */
export const NATIVE_BUILD_ENV = 'FDLAB_NATIVE_BUILD';

/** The native build a debugger session asked for, if any (read once, when the addon loads). */
export function nativeBuildFromEnvironment(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[NATIVE_BUILD_ENV] || undefined;
}
