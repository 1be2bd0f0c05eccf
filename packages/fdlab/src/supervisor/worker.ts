// The worker's side of a supervisor (`fdlab run`, supervise()): its successor
// must be the supervisor's child, not its own (a detached child of a process
// that exits is an orphan outside pm2's, systemd's or Docker's watch). So
// spawnSuccessor, under a supervisor, asks it over the IPC channel it gave us
// and learns the successor's pid and, later, its exit. environment.ts decides
// whether we are supervised; nothing here reads the environment.
import type { OnState } from '../handover/states';
import type { StartSuccessor, Successor, SuccessorExit, SuccessorRequest } from '../handover/successor';
import { isSuccessorMessage, type FromWorker } from './messages';

/** Node's IPC channel to our parent, as `process` exposes it. */
export interface WorkerChannel {
  send(message: FromWorker): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  /** Unref'd again after each listener: a pending request must not keep an old version's process alive. */
  unref(): void;
  connected(): boolean;
}

let nextId = 1;

/** A StartSuccessor that has the supervisor start the successor (with `env` as its environment, plus the upgrade socket and token). */
export function askSupervisor(channel: WorkerChannel, generation: number, env: () => Record<string, string | undefined>): StartSuccessor {
  return ({ socketPath, token, log }: SuccessorRequest): Successor => {
    const id = nextId++;
    let pid: number | undefined;
    let settle!: (exit: SuccessorExit) => void;
    let fail!: (error: Error) => void;
    const exited = new Promise<SuccessorExit>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    exited.catch(() => {}); // observed by the upgrade; never an unhandled rejection
    const onMessage = (message: unknown) => {
      if (!isSuccessorMessage(message, id)) return;
      if (message.event === 'started') {
        pid = message.pid;
        log(`the supervisor started the successor: pid ${pid}`);
        return;
      }
      channel.off('message', onMessage);
      if (message.event === 'failed') fail(new Error(`the supervisor could not start the successor: ${message.message}`));
      else settle(message.signal ?? message.code);
    };
    channel.on('message', onMessage);
    channel.unref();
    if (!channel.connected()) {
      channel.off('message', onMessage);
      fail(new Error('the supervisor is gone (its IPC channel is closed)'));
    } else {
      channel.send({ fdlab: 'start-successor', id, socketPath, token, generation, env: env() });
      log('asked the supervisor to start the successor');
    }
    return {
      // Known once the supervisor's reply comes: long before the successor's hello (Node starts in ~40 ms).
      get pid() {
        return pid;
      },
      exited,
      kill: () => {
        if (channel.connected()) channel.send({ fdlab: 'kill-successor', id });
      },
    };
  };
}

/** Tells the supervisor each change of state (its READY=1/RELOADING=1 for systemd come from them), then calls `onState`. */
export function reportingStates(channel: WorkerChannel, onState: OnState | undefined): OnState {
  return (side, state) => {
    try {
      if (channel.connected()) channel.send({ fdlab: 'state', side, state });
    } catch {
      // A supervisor gone mid-send: the engine goes on without it.
    }
    return onState?.(side, state);
  };
}
