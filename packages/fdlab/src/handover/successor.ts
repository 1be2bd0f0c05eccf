// How the new version gets started. Process mode: the same command again,
// detached, like seed 003; it gets a one-time token in its environment and the
// old side also knows its pid. External: someone else starts it (the lab
// starts a new container); the token waits in a 0600 file in the state dir.
import { spawn } from 'node:child_process';
import { writeTokenFile } from './state-dir';
import { HOOK_ENV } from './states';
import type { Log } from './types';

export const UPGRADE_SOCKET_ENV = 'FDLAB_UPGRADE_SOCKET';
export const UPGRADE_TOKEN_ENV = 'FDLAB_UPGRADE_TOKEN';
/** Which generation a process is: 1 for the first, +1 per upgrade (for the logs). */
export const GENERATION_ENV = 'FDLAB_GENERATION';

export function generation(): number {
  return Number(process.env[GENERATION_ENV] ?? 1);
}

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
  /** Resolves with the exit code if the successor dies (before or after the handover); rejects if it could not be started. */
  exited?: Promise<number | null>;
  /** Ends it for good: after a rollback or a take-back it must not serve. */
  kill(): void;
}

export type StartSuccessor = (request: SuccessorRequest) => Successor;

/** Runs this process's own command line again, detached, pointing it at the upgrade socket. */
export const spawnSuccessor: StartSuccessor = ({ socketPath, token, log }) => {
  const env: NodeJS.ProcessEnv = { ...process.env, [UPGRADE_SOCKET_ENV]: socketPath, [UPGRADE_TOKEN_ENV]: token, [GENERATION_ENV]: String(generation() + 1) };
  // Fault hooks reach the first successor only: after a rollback the next try is clean.
  delete process.env[HOOK_ENV];
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true, // its own session: it outlives us
    stdio: ['ignore', 'inherit', 'inherit'],
    env,
  });
  child.unref();
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
    // Spawning failed (EMFILE, EAGAIN, ENOMEM): no successor; the upgrade rolls back saying why.
    child.once('error', (error) => reject(error));
  });
  exited.catch(() => {}); // observed by the upgrade; never an unhandled rejection
  log(`started the successor: pid ${child.pid ?? '(spawn failed)'}`);
  return {
    pid: child.pid,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
};

/** Waits for a successor started by someone else (a lab starting the next container). */
export const externalSuccessor: StartSuccessor = ({ socketPath, stateDir, token, log }) => {
  const file = writeTokenFile(stateDir, token);
  log(`waiting for the successor: start it with ${UPGRADE_SOCKET_ENV}=${socketPath} (it reads its token from ${file})`);
  return { kill: () => {} };
};
