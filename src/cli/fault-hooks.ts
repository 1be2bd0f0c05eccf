// FDLAB_HANDOVER_HOOK="new:acked=stop,old:standby=kill": on entering that
// state of an upgrade, `fdlab serve` SIGSTOPs or SIGKILLs itself, sends
// itself a burst of SIGUSR2, or blocks its event loop for 3 s (block: a long
// GC pause or synchronous work, the process running all the while). Tests (and a curious learner) use it to reach a
// state deterministically instead of sleeping. The library only reports
// states (Upgrader.start's onState); the signalling lives here, in the CLI.
// Each hook acts once, in one process: 'old:' ones in the process that
// started fresh, 'new:' ones in its first successor.
import { NEW_STATES, OLD_STATES, type OnState } from 'fdlab';
import { LabError } from '../lab-error';

export const HOOK_ENV = 'FDLAB_HANDOVER_HOOK';

/** What the process does to itself on entering the named state. */
export type HookAction = 'stop' | 'kill' | 'usr2' | 'block';

/** How long `block` keeps the event loop busy: longer than the new version's 2 s check before 'done'. */
export const BLOCK_MS = 3000;

/** The state each side starts in: never entered, so a hook on it could never act. */
const INITIAL = new Set(['old:starting', 'new:connecting']);

/** Parses the setting: a typo is an error (code ERR_HANDOVER_HOOK), never a silent no-op. */
export function parseHooks(spec: string | undefined): Map<string, HookAction> {
  const hooks = new Map<string, HookAction>();
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = item.match(/^(old|new):([a-z-]+)=(stop|kill|usr2|block)$/);
    const table: object = match?.[1] === 'old' ? OLD_STATES : NEW_STATES;
    if (!match || !Object.hasOwn(table, match[2])) {
      throw new LabError('ERR_HANDOVER_HOOK', `${HOOK_ENV}: '${item}' is not side:state=stop|kill|usr2|block with a state from docs/handover.md`);
    }
    if (INITIAL.has(`${match[1]}:${match[2]}`)) {
      throw new LabError('ERR_HANDOVER_HOOK', `${HOOK_ENV}: '${item}' names the state ${match[1] === 'old' ? 'a server' : 'a successor'} starts in, which is never entered; hook the next one`);
    }
    hooks.set(`${match[1]}:${match[2]}`, match[3] as HookAction);
  }
  return hooks;
}

/**
 * An onState for Upgrader.start that acts on `side`'s hooks only, each once.
 * 'old:serving' means a return to serving (after a rollback or a take-back),
 * as it always has: the first 'serving', at start-up, does not count.
 */
export function faultHooks(spec: string | undefined, side: 'old' | 'new', log: (line: string) => void): OnState {
  const hooks = parseHooks(spec);
  let started = false;
  return (at, state) => {
    const key = `${at}:${state}`;
    if (key === 'old:serving' && !started) {
      started = true;
      return;
    }
    const action = at === side ? hooks.get(key) : undefined;
    if (!action) return;
    hooks.delete(key); // once: the next upgrade runs clean
    log(`hook: ${key}=${action}`);
    if (action === 'usr2') for (let i = 0; i < 5; i++) process.kill(process.pid, 'SIGUSR2');
    else if (action === 'block') for (const until = Date.now() + BLOCK_MS; Date.now() < until; );
    else process.kill(process.pid, action === 'stop' ? 'SIGSTOP' : 'SIGKILL');
  };
}
