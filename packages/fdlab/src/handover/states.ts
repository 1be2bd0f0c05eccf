// The one record of where an upgradable server stands: two state machines,
// one per side. The old side's is the Upgrader's whole life (starting,
// serving, each step of handing over, closed); the new side's is a taking
// over, from connecting until it serves alone. Upgrader.status is read from
// them, every change of state goes through `to()` (a transition not listed
// here is a bug and throws), and onState sees every one. docs/handover.md has
// the same tables with what each side does when the other dies, stalls or
// lies; test/docs/states.test.ts keeps the two the same.
import { FdlabError } from '../errors';

export const OLD_STATES = {
  starting: {
    next: ['serving', 'closed'],
    does: 'listens (or, taking over, waits until the new side serves alone: its predecessor released it or is gone); writes the pid file; closed if that fails',
  },
  serving: { next: ['starting-successor', 'closed'], does: 'serves; SIGUSR2 or upgrade() starts an upgrade' },
  'starting-successor': {
    next: ['sending-copies', 'rolled-back'],
    does: 'still serves; makes the upgrade socket, starts the successor, waits for the hello of the process it started (uid, pid, token)',
  },
  'sending-copies': {
    next: ['transferring', 'rolled-back'],
    does: 'still serves; sends the listener and a copy of every connection\'s fd, a batch at a time, then waits for ready',
  },
  transferring: {
    next: ['awaiting-ack', 'rolled-back'],
    does: 'stops accepting; holds the first group still (or detaches the ones with bytes in flight) and sends its switch',
  },
  'awaiting-ack': { next: ['standby', 'rolled-back'], does: 'waits for the ack of the first group, then sends commit' },
  standby: {
    next: ['handed-over', 'taken-back'],
    does: 'switches the other groups (one in flight), sends done, keeps its copies of every fd for standbyMs, reads nothing, watches the new version',
  },
  'handed-over': { next: ['closed'], does: 'released its copies; emits upgraded; the app decides (fdlab serve exits)' },
  'rolled-back': { next: ['serving', 'closed'], does: 'the upgrade failed before the commit: serves every connection again (closed if it cannot listen again); emits rolled-back' },
  'taken-back': { next: ['serving', 'closed'], does: 'the new version died or stalled in the standby: killed, its connections served here again, the pid file rewritten; emits taken-back' },
  closed: { next: [], does: 'close() was called, or start failed: listens to nothing and serves nothing' },
} as const;

export const NEW_STATES = {
  connecting: { next: ['hello-sent', 'failed'], does: 'connects to the upgrade socket and checks the old side\'s uid' },
  'hello-sent': { next: ['receiving', 'failed'], does: 'sent pid, version and token; waits for the listener' },
  receiving: {
    next: ['acked', 'failed', 'orphaned'],
    does: 'takes the copies (checked, wrapped, not read), says ready, then the first group: its detached connections and its switch',
  },
  acked: { next: ['serving-standby', 'failed', 'orphaned'], does: 'wrote the pid file\'s temporary file (proves it can), the app serves the first group held still; sent ack; waits for the commit (then renames the pid file, re-arms the listener, or hands everything back)' },
  'serving-standby': {
    next: ['serving'],
    does: 'serves each group as it is switched; tells the old side it is alive (and which connections it closed) until released or the old side is gone',
  },
  serving: { next: [], does: 'serves alone (the old side\'s machine takes over: serving)' },
  orphaned: { next: ['serving'], does: 'the old side died before the commit: serves whatever it holds' },
  failed: { next: [], does: 'closes its copies of every fd (the old side still has all of them); Upgrader.start rejects' },
} as const;

export type OldState = keyof typeof OLD_STATES;
export type NewState = keyof typeof NEW_STATES;

/** What Upgrader.status says, read from the machines. */
export type Status = 'starting' | 'serving' | 'upgrading' | 'predecessor-standing-by' | 'handed-over' | 'closed';

/** The old side's state as a status (an upgrade in progress, whatever its step, is 'upgrading'). */
export function statusOf(old: OldState, taking: NewState | undefined): Status {
  if (old === 'starting') return taking === 'serving-standby' ? 'predecessor-standing-by' : 'starting';
  if (old === 'serving' || old === 'handed-over' || old === 'closed') return old;
  return 'upgrading';
}

type Table = Record<string, { next: readonly string[] }>;

/** Called on every change of state of either side (fault injection in tests, metrics, a learner's trace). */
export type OnState = (side: 'old' | 'new', state: OldState | NewState) => void | Promise<unknown>;

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

  /** Whether `next` is a transition from here. */
  can(next: S): boolean {
    return this.table[this.current].next.includes(next);
  }

  to(next: S): void {
    if (!this.can(next)) {
      throw new FdlabError('ERR_HANDOVER_STATE', `handover (${this.side}): no transition from '${this.current}' to '${next}'`);
    }
    this.current = next;
    if (!this.onState) return;
    const said = (error: unknown) => this.log(`onState('${this.side}', '${next}') threw: ${(error as Error)?.message ?? String(error)}`);
    try {
      const result: unknown = this.onState(this.side, next as unknown as OldState | NewState);
      // An async callback (a metrics hook) rejects instead of throwing: the same, or it would crash the process.
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        Promise.resolve(result as PromiseLike<unknown>).catch(said);
      }
    } catch (error) {
      // The app's callback must not break an upgrade half way: said, and ignored.
      said(error);
    }
  }
}
