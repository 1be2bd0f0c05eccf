// What a supervisor (supervisor.ts) and its workers (worker.ts) say over the
// IPC channel the supervisor gives each worker (Node's 'ipc' stdio). Plain
// JSON objects, all with `fdlab` set, so an app's own messages pass by.

/** Worker to supervisor: start my successor (spawnSuccessor, under a supervisor). */
export interface StartSuccessorMessage {
  fdlab: 'start-successor';
  /** Names this request in the replies. */
  id: number;
  socketPath: string;
  token: string;
  generation: number;
  /** The worker's environment as it is now (what spawnSuccessor gives a successor it starts itself). */
  env: Record<string, string | undefined>;
}

/** Worker to supervisor: end that successor for good (a rollback, a take-back). */
export interface KillSuccessorMessage {
  fdlab: 'kill-successor';
  id: number;
}

/** Worker to supervisor: a change of state of either side of an upgrade (OLD_STATES/NEW_STATES). */
export interface StateMessage {
  fdlab: 'state';
  side: 'old' | 'new';
  state: string;
}

export type FromWorker = StartSuccessorMessage | KillSuccessorMessage | StateMessage;

/** Supervisor to worker, about the successor it asked for. */
export type SuccessorMessage =
  | { fdlab: 'successor'; id: number; event: 'started'; pid: number }
  | { fdlab: 'successor'; id: number; event: 'failed'; message: string }
  // `signal` names the signal that killed it (a status alone, 140, hid that SIGUSR2 did: the engine's back-off after a signalled successor never started).
  | { fdlab: 'successor'; id: number; event: 'exited'; code: number | null; signal?: NodeJS.Signals | null };

export function isFromWorker(message: unknown): message is FromWorker {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Record<string, unknown>;
  if (m.fdlab === 'start-successor') return Number.isInteger(m.id) && typeof m.socketPath === 'string' && typeof m.token === 'string' && Number.isInteger(m.generation);
  if (m.fdlab === 'kill-successor') return Number.isInteger(m.id);
  if (m.fdlab === 'state') return (m.side === 'old' || m.side === 'new') && typeof m.state === 'string';
  return false;
}

export function isSuccessorMessage(message: unknown, id: number): message is SuccessorMessage {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Record<string, unknown>;
  return m.fdlab === 'successor' && m.id === id;
}
