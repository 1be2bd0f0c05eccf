// How the new version gets started. Process mode: the same command again,
// detached, like seed 003. External: someone else starts it (the lab starts
// a new container); we only say where it should connect.
import { spawn } from 'node:child_process';
import type { Log } from './types';

export const UPGRADE_SOCKET_ENV = 'FDLAB_UPGRADE_SOCKET';
/** Which generation a process is: 1 for the first, +1 per upgrade (for the logs). */
export const GENERATION_ENV = 'FDLAB_GENERATION';

export function generation(): number {
  return Number(process.env[GENERATION_ENV] ?? 1);
}

export interface Successor {
  /** Resolves with the exit code if the successor dies (before or after the handover). */
  exited?: Promise<number | null>;
  kill(): void;
}

export type StartSuccessor = (upgradeSocket: string, log: Log) => Successor;

/** Runs this process's own command line again, detached, pointing it at the upgrade socket. */
export const spawnSuccessor: StartSuccessor = (upgradeSocket, log) => {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true, // its own session: it outlives us
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, [UPGRADE_SOCKET_ENV]: upgradeSocket, [GENERATION_ENV]: String(generation() + 1) },
  });
  child.unref();
  log(`started the successor: pid ${child.pid}`);
  return {
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
};

/** Waits for a successor started by someone else (a lab starting the next container). */
export const externalSuccessor: StartSuccessor = (upgradeSocket, log) => {
  log(`waiting for the successor: start it with ${UPGRADE_SOCKET_ENV}=${upgradeSocket}`);
  return { kill: () => {} };
};
