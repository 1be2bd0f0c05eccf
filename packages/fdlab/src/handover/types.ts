// The contract between the hot-upgrade engine and the server it upgrades.
// The engine moves fds and bytes; the app says what a session is.
import type * as net from 'node:net';

/** A connection the app is serving. */
export interface ServedConnection<S> {
  readonly socket: net.Socket;
  /**
   * The state to carry to the next version: the session, and the bytes the
   * app has read but not processed yet (a half-received request).
   */
  snapshot(): { session: S; pending: Buffer };
  /**
   * Called once the new version owns this connection (its group switched):
   * stop timers and anything else that would write to it; writes from now on
   * are refused (docs/handover.md, "Late writes").
   */
  handedOver?(): void;
  /**
   * Called when a connection handed over is served here again as it was
   * (the new version died in the standby, and nobody used it since). One the
   * new version used comes back through serve() on a new socket instead,
   * with the session it last reported.
   */
  takenBack?(): void;
  /**
   * Called once per upgrade, in the old version, when the upgrade finds this
   * connection busy (markBusy) and holds it back: if what it is doing may
   * never end on its own (a Server-Sent Events stream, a long poll), finish
   * it now, and the connection moves once idle. Otherwise it moves at the
   * upgrade's deadline, as its snapshot() says then (ERR_BUSY_AT_DEADLINE).
   */
  heldBack?(): void;
}

export interface HandoverApp<S> {
  /**
   * Serves a connection: a fresh one (no session), or one adopted from the
   * previous version or taken back after a rollback, with its session and
   * the bytes that were read but not processed (process them first).
   */
  serve(socket: net.Socket, session?: S, pending?: Buffer): ServedConnection<S>;
  // Busy connections: markBusy(socket) / markIdle(socket) (handover/busy.ts).
  /** A line for the logs, e.g. totals (fdlab serve logs it on SIGWINCH and after an upgrade). */
  describe?(connections: readonly ServedConnection<S>[]): string;
}

export type Log = (line: string) => void;
