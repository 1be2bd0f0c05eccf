// What a held socket does with the app's writes and end(). cork() alone is
// not enough: Node's end() (and http's res.end on a closing response,
// destroySoon) uncorks, so an old version could still write to, or FIN, a
// connection the new version serves (measured on main: an HTTP keep-alive
// server answering 137 ms after the switch gave one request two responses;
// a late socket.end() sent a FIN the new version never asked for).
//
// So a held socket's write() and end() are the gate's, on the instance
// (public methods only: no Node internal is touched here):
//   holding  the app's writes and ends wait here, in order (as corked ones would);
//   open     the gate is gone: what waited goes out, in order (a rollback, a take-back);
//   refusing the connection is the other process's: what waited, and every later
//            write or end, sends nothing; its callback gets ERR_CONNECTION_HANDED_OVER
//            on the next tick. No 'error' event: an app without an error listener
//            must not crash for writing to a connection it no longer serves.
import type * as net from 'node:net';
import { FdlabError } from '../errors';

export type Refused = (what: 'write' | 'end', bytes: number) => void;

type Callback = (error?: Error | null) => void;
type Call = { what: 'write' | 'end'; args: unknown[] };

const METHODS = ['write', 'end', 'resetAndDestroy'] as const;

export interface Gate {
  /** Takes the gate away: what waited goes out in order, and the app writes as before. */
  open(): void;
  /** The other process serves it: refuses what waited and everything from now on. */
  refuse(): void;
  readonly state: 'holding' | 'refusing' | 'open';
}

export function handedOverError(what: 'write' | 'end'): FdlabError {
  return new FdlabError(
    'ERR_CONNECTION_HANDED_OVER',
    `${what === 'write' ? 'write()' : 'end()'} on a connection the upgrade handed to the new version: nothing was sent. ` +
      "Stop writing to a connection once the upgrade took it (its snapshot() was the last word); answer what it asked from the new version, through the session and pending bytes snapshot() returns",
  );
}

function callbackOf(args: unknown[]): Callback | undefined {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as Callback) : undefined;
}

function bytesOf(what: 'write' | 'end', args: unknown[]): number {
  const chunk = args[0];
  if (what === 'end' && typeof chunk === 'function') return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof args[1] === 'string' ? (args[1] as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/** Puts `socket`'s write() and end() behind a gate, holding. `refused` counts what it refuses. */
export function gate(socket: net.Socket, refused: Refused = () => {}): Gate {
  const target = socket as unknown as Record<string, unknown>;
  const own = new Map(METHODS.map((name) => [name, Object.getOwnPropertyDescriptor(target, name)]));
  const original = { write: socket.write, end: socket.end, resetAndDestroy: socket.resetAndDestroy };
  const waiting: Call[] = [];
  let state: Gate['state'] = 'holding';

  const refuse = (call: Call) => {
    refused(call.what, bytesOf(call.what, call.args));
    const callback = callbackOf(call.args);
    if (callback) process.nextTick(callback, handedOverError(call.what));
  };
  const restore = () => {
    for (const [name, descriptor] of own) {
      if (descriptor) Object.defineProperty(target, name, descriptor);
      else delete target[name];
    }
  };

  target.write = function (...args: unknown[]): boolean {
    const call: Call = { what: 'write', args };
    if (state === 'holding') {
      waiting.push(call);
      return true; // as a corked write below the high-water mark
    }
    refuse(call);
    return false; // as a destroyed socket's write
  };
  target.end = function (...args: unknown[]): net.Socket {
    const call: Call = { what: 'end', args };
    if (state === 'holding') waiting.push(call);
    else refuse(call);
    return socket;
  };
  // SO_LINGER 0 on a socket the other process shares would turn its FIN into a
  // RST later: the app closes only its own fd instead.
  target.resetAndDestroy = function (): net.Socket {
    return socket.destroy();
  };

  const open = () => {
    if (state === 'open') return;
    state = 'open';
    restore();
    for (const call of waiting.splice(0)) (original[call.what] as (...args: unknown[]) => unknown).apply(socket, call.args);
  };
  // Destroyed while holding (the app's destroy(), a failed take-over closing its copies): what
  // waited gets Node's own answer (ERR_STREAM_DESTROYED to its callback), never silence.
  socket.once('close', () => {
    if (state === 'holding') open();
  });

  return {
    get state() {
      return state;
    },
    open,
    refuse() {
      if (state !== 'holding') return;
      state = 'refusing';
      for (const call of waiting.splice(0)) refuse(call);
    },
  };
}
