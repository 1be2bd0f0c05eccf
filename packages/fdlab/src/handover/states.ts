// The handover as two state machines, one per side. docs/handover.md has the
// same tables with what each side does when the other dies, stalls or lies in
// each state; these are the code's copy, and every change of state goes
// through them (a transition not listed here is a bug and throws).
import { FdlabError } from '../errors';

export const OLD_STATES = {
  serving: { next: ['starting-successor'], does: 'serves; SIGUSR2 or upgrade() starts an upgrade' },
  'starting-successor': {
    next: ['sending-copies', 'rolled-back'],
    does: 'still serves; the upgrade socket listens; waits for the hello of the process it started (pid, token, uid)',
  },
  'sending-copies': {
    next: ['transferring', 'rolled-back'],
    does: 'still serves; sends the listener and a copy of every connection\'s fd, a batch at a time',
  },
  transferring: {
    next: ['awaiting-ack', 'rolled-back'],
    does: 'stopped accepting and reading: holds each connection still (or detaches one with bytes in flight) and sends their states, the detached ones, and done',
  },
  'awaiting-ack': { next: ['standby', 'handed-over', 'rolled-back'], does: 'waits for the ack: the new version holds everything and reads nothing' },
  standby: {
    next: ['handed-over', 'taken-back'],
    does: 'commit sent; keeps its duplicates of every fd, reads nothing, and watches the new version until the grace period ends',
  },
  'handed-over': { next: [], does: 'released everything; the app decides what to do (fdlab serve exits)' },
  'rolled-back': { next: ['serving'], does: 'the upgrade failed before the commit: serves every connection again' },
  'taken-back': { next: ['serving'], does: 'the new version died or stalled in the grace period: killed, and its connections served here again' },
} as const;

export const NEW_STATES = {
  connecting: { next: ['hello-sent', 'failed'], does: 'connects to the upgrade socket and checks the old side\'s uid' },
  'hello-sent': { next: ['receiving', 'failed'], does: 'sent pid, version and token; waits for the listener' },
  receiving: {
    next: ['acked', 'failed', 'orphaned'],
    does: 'checks each fd as it arrives and wraps it in a socket that does not read; then the states, which copies to keep, the detached connections',
  },
  acked: { next: ['serving-standby', 'failed', 'orphaned'], does: 'holds everything, reads nothing, waits for the commit' },
  'serving-standby': { next: ['serving'], does: 'serves; tells the old side it is alive (and which connections it closed) until released' },
  serving: { next: [], does: 'serves alone' },
  orphaned: { next: ['serving'], does: 'the old side died before the commit: serves whatever it holds' },
  failed: { next: [], does: 'closes its copies of every fd; the old side still has all of them' },
} as const;

export type OldState = keyof typeof OLD_STATES;
export type NewState = keyof typeof NEW_STATES;

type Table = Record<string, { next: readonly string[] }>;

/** Called on every change of state of either side (fault injection in tests, metrics, a learner's trace). */
export type OnState = (side: 'old' | 'new', state: OldState | NewState) => void;

export class StateMachine<S extends string> {
  private current: S;

  constructor(
    private readonly side: 'old' | 'new',
    private readonly table: Table,
    initial: S,
    private readonly log: (line: string) => void,
    private readonly onState?: OnState,
  ) {
    this.current = initial;
  }

  get state(): S {
    return this.current;
  }

  to(next: S): void {
    if (!this.table[this.current].next.includes(next)) {
      throw new FdlabError('ERR_HANDOVER_STATE', `handover (${this.side}): no transition from '${this.current}' to '${next}'`);
    }
    this.current = next;
    if (!this.onState) return;
    try {
      this.onState(this.side, next as unknown as OldState | NewState);
    } catch (error) {
      // The app's callback must not break an upgrade half way: said, and ignored.
      this.log(`onState('${this.side}', '${next}') threw: ${(error as Error).message}`);
    }
  }
}
