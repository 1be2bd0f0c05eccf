// Busy connections (issue 19): the app says "this connection is in the middle
// of something (a request in flight), do not switch it now". The engine holds
// a busy connection back to a later group and switches it once it is idle
// again; the upgrade's deadline bounds the wait (hand-off.ts, switchBusy).
// Keyed by socket, so any app (and fdlab/http) can say it without changing
// what serve() returns.
import type * as net from 'node:net';

interface BusyState {
  busy: boolean;
  /** Called once when it turns idle (or closes). */
  waiters: (() => void)[];
}

const states = new WeakMap<net.Socket, BusyState>();

function stateOf(socket: net.Socket): BusyState {
  let state = states.get(socket);
  if (!state) {
    state = { busy: false, waiters: [] };
    states.set(socket, state);
    // A connection that closes is not busy any more: nobody waits for it forever.
    socket.once('close', () => markIdle(socket));
  }
  return state;
}

/** The connection is in the middle of something: an upgrade switches it only once markIdle() says so (or at the deadline). */
export function markBusy(socket: net.Socket): void {
  if (socket.destroyed) return;
  stateOf(socket).busy = true;
}

/** The connection may be switched again (its response is complete). */
export function markIdle(socket: net.Socket): void {
  const state = states.get(socket);
  if (!state || !state.busy) return;
  state.busy = false;
  for (const wake of state.waiters.splice(0)) wake();
}

/** Whether the app said the connection is busy (and it is still open). */
export function isBusy(socket: net.Socket): boolean {
  return !socket.destroyed && states.get(socket)?.busy === true;
}

/** Resolves when the socket is idle (at once if it is). */
export function whenIdle(socket: net.Socket): Promise<void> {
  if (!isBusy(socket)) return Promise.resolve();
  return new Promise((resolve) => stateOf(socket).waiters.push(resolve));
}
