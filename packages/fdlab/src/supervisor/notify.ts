// sd_notify(3) for a supervisor under systemd (Type=notify): READY=1 once the
// first worker serves, RELOADING=1 (with MONOTONIC_USEC, as systemd >= 253
// asks) when an upgrade starts and READY=1 when it settles, STOPPING=1, and a
// STATUS= line each time. One datagram per message, from the supervisor's own
// pid (the unit's main pid: the default NotifyAccess=main accepts it).
import { binding } from '../native/binding';
import type { Log } from '../handover/types';

export type Notify = (fields: Record<string, string>) => void;

/** "READY=1\nSTATUS=..." to `socketPath`; nothing without one. A failed send is logged, never thrown: systemd gone must not stop the service. */
export function notifier(socketPath: string | undefined, log: Log): Notify {
  if (!socketPath) return () => {};
  return (fields) => {
    const text = Object.entries(fields).map(([key, value]) => `${key}=${value}`).join('\n');
    try {
      binding.notifyDatagram(socketPath, text);
    } catch (error) {
      log(`sd_notify to ${socketPath} failed: ${(error as Error).message}`);
    }
  };
}

/** CLOCK_MONOTONIC in µs (what RELOADING=1 pairs with): libuv's hrtime reads that clock. */
export function monotonicUsec(): string {
  return String(process.hrtime.bigint() / 1000n);
}
