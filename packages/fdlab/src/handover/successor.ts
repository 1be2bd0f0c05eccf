// How the new version gets started. Process mode: the same command again,
// detached, like seed 003 (spawnSuccessor, in environment.ts): it gets a
// one-time token in its environment and the old side also knows its pid.
// External: someone else starts it (the lab starts a new container); the
// token waits in a 0600 file in the state dir.
import { UPGRADE_SOCKET_ENV } from '../environment';
import { FdlabError } from '../errors';
import { writeTokenFile } from './state-dir';
import type { Log } from './types';

export interface SuccessorRequest {
  socketPath: string;
  stateDir: string;
  /** The one-time token the successor must say in its hello. */
  token: string;
  log: Log;
}

export interface Successor {
  /** The pid the hello must come from (SO_PEERCRED), when we started it ourselves. */
  pid?: number;
  /** Resolves with the exit code, or the signal that killed it, if the successor dies (before or after the handover); rejects if it could not be started. */
  exited?: Promise<SuccessorExit>;
  /** Ends it for good: after a rollback or a take-back it must not serve. */
  kill(): void;
}

/** How a successor ended: its exit code, or the name of the signal that killed it. */
export type SuccessorExit = number | NodeJS.Signals | null;

/** 'code 1', 'killed by SIGUSR2'. */
export function describeExit(exit: SuccessorExit): string {
  return typeof exit === 'string' ? `killed by ${exit}` : `code ${exit}`;
}

/** What to do about a successor that died before the commit, by how it died. */
function advice(exit: SuccessorExit): string {
  if (exit === 'SIGKILL') return 'kill -9, or the OOM killer (a memory limit: see dmesg, memory.events)';
  if (exit === 'SIGINT' || exit === 'SIGTERM' || exit === 'SIGHUP') {
    // Ctrl-C reaches a whole process group, pm2 and kill -- -<pgid> a whole tree: usually a stop of the service.
    return `a stop signal reached it while Node started, before any handler (Ctrl-C, or a stop sent to every process of the service): if the service is stopping, nothing to do; otherwise signal the pid in the pid file only`;
  }
  if (typeof exit === 'string') {
    return `a signal reached it while Node started, before any handler (\`pkill -f\` reaches every version): send SIGUSR2 to the pid in the pid file only (kill -USR2 $(cat <pid file>)), or run under a supervisor (fdlab-run), which does`;
  }
  return "see the successor's log";
}

/**
 * The rollback's error for a successor that died before the commit. A signal
 * other than SIGKILL (which no handler can catch) is ERR_SUCCESSOR_SIGNALLED:
 * the Upgrader then ignores SIGUSR2 for a moment (a burst from pkill).
 */
export function successorExited(exit: SuccessorExit): FdlabError {
  const code = typeof exit === 'string' && exit !== 'SIGKILL' ? 'ERR_SUCCESSOR_SIGNALLED' : 'ERR_SUCCESSOR_EXITED';
  return new FdlabError(code, `the successor exited (${describeExit(exit)}) before the commit; ${advice(exit)}`);
}

export type StartSuccessor = (request: SuccessorRequest) => Successor;

/** Waits for a successor started by someone else (a lab starting the next container). */
export const externalSuccessor: StartSuccessor = ({ socketPath, stateDir, token, log }) => {
  const file = writeTokenFile(stateDir, token);
  log(`waiting for the successor: start it with ${UPGRADE_SOCKET_ENV}=${socketPath} (it reads its token from ${file})`);
  return { kill: () => {} };
};
