// sd_notify(3) for a server that systemd runs directly (Type=notify, no
// `fdlab run`): each version of it is in turn the unit's main process, so
// each says so itself. From the states of the engine (OLD_STATES/NEW_STATES):
//   - started fresh, serving: MAINPID=<pid>, READY=1;
//   - the old side starts an upgrade: RELOADING=1 (with MONOTONIC_USEC);
//   - the new side at the commit (or alone: its predecessor died before it):
//     MAINPID=<its pid>, READY=1. Not before: until the commit the old
//     version owns every connection and may roll back;
//   - the old side serving again (rolled back, or took everything back after
//     the new version died in the standby): MAINPID=<its pid>, READY=1;
//   - closed while serving (a stop): STOPPING=1. Not after a handover: the
//     old version's exit then is no stop of the service.
// The new version is not the main pid until its MAINPID= arrives, so systemd
// takes it only with NotifyAccess=all (docs/production.md).
import type { NewState, OldState, OnState } from '../handover/states';
import { monotonicUsec, type Notify } from './notify';

/** Where this process stands: its pid, and its generation (1 for a process started fresh). */
export interface NotifyingProcess {
  pid: number;
  generation: number;
}

const COMMITTED: readonly NewState[] = ['serving-standby', 'orphaned'];
const SERVING_BEFORE_CLOSE: readonly OldState[] = ['serving', 'rolled-back', 'taken-back'];

/** `onState`, with the sd_notify messages each change of state calls for sent first. */
export function notifyingStates(notify: Notify, self: NotifyingProcess, onState: OnState | undefined): OnState {
  const pid = String(self.pid);
  const serving = self.generation > 1 ? `serving: pid ${pid} (generation ${self.generation})` : `serving: pid ${pid}`;
  /** READY=1 said since the last RELOADING=1 (or since we started). */
  let ready = false;
  let last: OldState = 'starting';
  return (side, state) => {
    if (side === 'new') {
      if (COMMITTED.includes(state as NewState) && !ready) {
        ready = true;
        notify({ MAINPID: pid, READY: '1', STATUS: serving });
      }
    } else {
      const previous = last;
      last = state as OldState;
      if (state === 'serving' && !ready) {
        ready = true;
        const again = previous === 'rolled-back' ? ' (the upgrade rolled back)' : previous === 'taken-back' ? ' (took everything back)' : '';
        notify({ MAINPID: pid, READY: '1', STATUS: `${serving}${again}` });
      } else if (state === 'starting-successor') {
        ready = false;
        notify({ RELOADING: '1', MONOTONIC_USEC: monotonicUsec(), STATUS: `upgrading: pid ${pid} is starting its successor` });
      } else if (state === 'closed' && SERVING_BEFORE_CLOSE.includes(previous)) {
        notify({ STOPPING: '1', STATUS: `stopping: pid ${pid}` });
      }
    }
    return onState?.(side, state);
  };
}
