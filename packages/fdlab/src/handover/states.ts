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

/** What a test (or a curious learner) can make a side do on entering a state. */
export type HookAction = 'stop' | 'kill' | 'usr2';

export const HOOK_ENV = 'FDLAB_HANDOVER_HOOK';

/**
 * FDLAB_HANDOVER_HOOK="new:acked=stop,old:standby=kill": on entering that
 * state, SIGSTOP or SIGKILL this very process, or send it a burst of SIGUSR2.
 * Tests use it to reach a state deterministically instead of sleeping. Each
 * hook acts once, in one process: 'old:' ones in the process that started
 * fresh, 'new:' ones in its first successor.
 */
export function parseHooks(spec: string | undefined): Map<string, HookAction> {
  const hooks = new Map<string, HookAction>();
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = item.match(/^(old|new):([a-z-]+)=(stop|kill|usr2)$/);
    const table: Table = match?.[1] === 'old' ? OLD_STATES : NEW_STATES;
    if (!match || !Object.hasOwn(table, match[2])) {
      throw new FdlabError('ERR_HANDOVER_HOOK', `${HOOK_ENV}: '${item}' is not side:state=stop|kill|usr2 with a state from docs/handover.md`);
    }
    hooks.set(`${match[1]}:${match[2]}`, match[3] as HookAction);
  }
  return hooks;
}

export class StateMachine<S extends string> {
  private current: S;
  private readonly hooks: Map<string, HookAction>;

  /** `withHooks`: whether FDLAB_HANDOVER_HOOK applies to this side in this process (see upgrader.ts). */
  constructor(
    private readonly side: 'old' | 'new',
    private readonly table: Table,
    initial: S,
    private readonly log: (line: string) => void,
    withHooks = true,
  ) {
    this.current = initial;
    const hooks = parseHooks(process.env[HOOK_ENV]); // parsed either way: a typo is an error, not a silent no-op
    this.hooks = withHooks ? hooks : new Map();
  }

  get state(): S {
    return this.current;
  }

  to(next: S): void {
    if (!this.table[this.current].next.includes(next)) {
      throw new FdlabError('ERR_HANDOVER_STATE', `handover (${this.side}): no transition from '${this.current}' to '${next}'`);
    }
    this.current = next;
    const action = this.hooks.get(`${this.side}:${next}`);
    if (!action) return;
    this.hooks.delete(`${this.side}:${next}`); // once: the next upgrade runs clean
    this.log(`hook: ${this.side}:${next}=${action}`);
    if (action === 'usr2') for (let i = 0; i < 5; i++) process.kill(process.pid, 'SIGUSR2');
    else process.kill(process.pid, action === 'stop' ? 'SIGSTOP' : 'SIGKILL');
  }
}
