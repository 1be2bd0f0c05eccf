// How the new version gets started. Process mode: the same command again,
// detached, like seed 003 (spawnSuccessor, in environment.ts): it gets a
// one-time token in its environment and the old side also knows its pid.
// External: someone else starts it (the lab starts a new container); the
// token waits in a 0600 file in the state dir.
import { UPGRADE_SOCKET_ENV } from '../environment';
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
  /** Resolves with the exit code if the successor dies (before or after the handover); rejects if it could not be started. */
  exited?: Promise<number | null>;
  /** Ends it for good: after a rollback or a take-back it must not serve. */
  kill(): void;
}

export type StartSuccessor = (request: SuccessorRequest) => Successor;

/** Waits for a successor started by someone else (a lab starting the next container). */
export const externalSuccessor: StartSuccessor = ({ socketPath, stateDir, token, log }) => {
  const file = writeTokenFile(stateDir, token);
  log(`waiting for the successor: start it with ${UPGRADE_SOCKET_ENV}=${socketPath} (it reads its token from ${file})`);
  return { kill: () => {} };
};
