// fdlab/http: a node:http server's keep-alive connections, handed over.
//
//   const server = http.createServer(handler);          // never listen()s itself
//   await Upgrader.start({ app: httpApp(server), ... }); // the Upgrader listens and hands over
//
// Each connection is given to the server with emit('connection'). From a
// request's head until its response is finished the connection is busy
// (markBusy): an upgrade switches it only once idle, so every request is
// answered by the version it reached, once. The start of a next request
// already read travels as pending bytes, unshifted in the new version.
// Not carried: TLS (https.Server: the session keys live in this process's
// OpenSSL; terminate TLS in front), and upgraded (WebSocket) or CONNECT
// connections (closed in the new version). README: "fdlab/http".
import * as http from 'node:http';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { FdlabError } from '../errors';
import { isBusy, markBusy, markIdle } from '../handover/busy';
import type { HandoverApp, ServedConnection } from '../handover/types';
import { closeCarried } from './close';
import { RequestFramer } from './framer';
import { listenAlong } from './listen-along';

/** What travels with each connection. */
export interface HttpSession {
  /** Responses finished on this connection, by every version so far. */
  responses: number;
  /** Why the next version must close it: a request was in flight at the deadline, or it is no longer HTTP/1.1 (an upgrade). */
  close?: string;
  /** A connection upgraded away from HTTP that an adapter (fdlab/ws) carries: its state. */
  upgraded?: unknown;
}

export interface HttpAppOptions {
  /** Where the adapter says what it did to a connection (closed one in flight at the switch, say). Default: nowhere. */
  log?: (line: string) => void;
  /**
   * A response that may never end on its own (a Server-Sent Events stream, a
   * long poll) keeps its connection in the old version until the upgrade's
   * deadline, and the new version then resets it. Given this, the old version
   * calls it for each response still open on a connection the upgrade waits
   * for (once the new version serves, before the deadline): end it there
   * (`res.end()`, after an SSE event that tells the client to reconnect, or an
   * empty long-poll answer), and the connection moves, idle, to the new
   * version, which answers the client's next request. README: "fdlab/http".
   */
  endForUpgrade?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

/**
 * Internal (fdlab/ws): carries connections upgraded away from HTTP. claims()
 * says whether it serves the socket now (an upgrade it completed); its
 * snapshot travels as the session's `upgraded`, and adopt() serves it in the
 * next version.
 */
export interface UpgradeCarrier {
  claims(socket: net.Socket): boolean;
  snapshot(socket: net.Socket): { state: unknown; pending: Buffer; close?: string };
  adopt(socket: net.Socket, state: unknown, pending: Buffer): void;
  /** Set by httpApp: requests on `socket` whose response is not finished (a GET pipelined before the upgrade request). */
  requestsInFlight?: (socket: net.Socket) => number;
}

interface Tracked {
  session: HttpSession;
  framer: RequestFramer;
  /** Requests whose head was read and whose response is not finished. */
  inFlight: number;
  /** Those requests and their responses (for endForUpgrade). */
  open: Map<http.ServerResponse, http.IncomingMessage>;
  /** The keep-alive timeout armed here for an idle connection carried over (node:http clears only its own). */
  keepAlive?: boolean;
}

/** The HandoverApp for `server`: pass it to Upgrader.start (or fdlab/testing's pair) as `app`. */
export function httpApp(server: http.Server, options: HttpAppOptions = {}, carrier?: UpgradeCarrier): HandoverApp<HttpSession> {
  if (server instanceof tls.Server) {
    throw new FdlabError('ERR_HTTP_TLS', "fdlab/http cannot hand over TLS connections: their keys and sequence numbers live in this process's OpenSSL, not in the fd; terminate TLS in front (a proxy, a load balancer) and give fdlab/http a plain http.Server");
  }
  if (!(server instanceof http.Server)) {
    throw new FdlabError('ERR_INVALID_ARG_TYPE', `httpApp(server) takes a node:http Server (http.createServer()), got ${server === null ? 'null' : typeof server}`);
  }
  const log = options.log ?? (() => {});
  const tracked = new WeakMap<net.Socket, Tracked>();
  if (carrier) carrier.requestsInFlight = (socket) => tracked.get(socket)?.inFlight ?? 0;
  // Idle: every response finished, and the request bodies all read (an app may answer first, a 413 say; node:http
  // then reads the rest and drops it). Measured without the second half: the body's tail, arriving after the switch,
  // was read by the new version as a request (400, closed). An upgraded connection: once fdlab/ws holds it.
  const settled = (socket: net.Socket, t: Tracked) => t.inFlight === 0 && (t.framer.betweenRequests || carrier?.claims(socket) === true);
  // First, before the app's handler: busy from the head until the response is finished.
  const inFlight = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const t = tracked.get(req.socket);
    if (!t) return; // a socket given to the server by someone else
    if (t.keepAlive) {
      t.keepAlive = false;
      req.socket.setTimeout(server.timeout || 0); // a request: as node:http resets it after its own keep-alive wait (server.timeout, 0 by default)
    }
    t.inFlight += 1;
    t.open.set(res, req);
    markBusy(req.socket);
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      t.inFlight -= 1;
      t.open.delete(res);
      if (res.writableFinished) t.session.responses += 1;
      if (settled(req.socket, t)) markIdle(req.socket);
    };
    res.once('finish', finished);
    res.once('close', finished);
  };
  server.prependListener('request', inFlight);
  // A request node:http gives to 'checkContinue' / 'checkExpectation' (when the app listens) never comes as a 'request':
  // measured without these, a POST whose body was arriving at the switch was read by the new version as a new request (400, closed).
  listenAlong(server, 'checkContinue', inFlight);
  listenAlong(server, 'checkExpectation', inFlight);
  // An upgraded connection is the app's 'upgrade' handler's, not http's: never idle for us again (fdlab/ws makes it idle as a WebSocket).
  const takesUpgrades = listenAlong(server, 'upgrade', (req: http.IncomingMessage) => {
    if (tracked.has(req.socket)) markBusy(req.socket);
  });
  return {
    serve(socket, carried, pending): ServedConnection<HttpSession> {
      const session: HttpSession = { responses: typeof carried?.responses === 'number' ? carried.responses : 0 };
      if (carrier && carried?.upgraded !== undefined && carried.close === undefined) {
        carrier.adopt(socket, carried.upgraded, pending ?? Buffer.alloc(0));
        return { socket, snapshot: () => upgradedSnapshot(session, carrier.snapshot(socket)) };
      }
      if (typeof carried?.close === 'string') {
        closeCarried(socket, carried.close, log);
        return { socket, snapshot: () => ({ session, pending: Buffer.alloc(0) }) };
      }
      const t: Tracked = { session, framer: new RequestFramer(takesUpgrades), inFlight: 0, open: new Map() };
      tracked.set(socket, t);
      server.emit('connection', socket);
      // After emit('connection'): http then reads through 'data' events (not its C++ fast path), so the framer sees every byte first.
      socket.prependListener('data', (chunk: Buffer) => {
        t.framer.push(chunk);
        if (t.inFlight === 0 && t.framer.betweenRequests && isBusy(socket)) markIdle(socket); // the tail of a body answered early
      });
      if (pending && pending.length > 0) socket.unshift(pending);
      else if (carried && server.keepAliveTimeout > 0) {
        // node:http arms keepAliveTimeout after a response, in the version that sent it; the next version never does, so an
        // idle connection carried over stayed open for good (measured: never closed, where a fresh one closed after it).
        // Armed here; node:http's own 'timeout' listener closes it, as it would have.
        socket.setTimeout(server.keepAliveTimeout);
        t.keepAlive = true;
      }
      return {
        socket,
        snapshot: () => {
          if (carrier?.claims(socket)) return upgradedSnapshot(session, carrier.snapshot(socket));
          const other = t.framer.other;
          const close = t.inFlight > 0 ? `${t.inFlight} request(s) in flight` : other ?? (t.framer.betweenRequests ? undefined : 'a request body half received');
          return { session: close ? { ...session, close } : { ...session }, pending: close ? Buffer.alloc(0) : t.framer.pending };
        },
        // The old server's keep-alive timer must not fire on a socket that is not ours any more.
        handedOver: () => socket.setTimeout(0),
        // The upgrade waits for this connection: the app may end a response that would outlast it (an SSE stream).
        heldBack: () => {
          if (!options.endForUpgrade) return;
          for (const [res, req] of [...t.open]) if (!res.writableEnded) options.endForUpgrade(req, res);
        },
      };
    },
    describe: (connections) => {
      let busy = 0;
      for (const c of connections) if ((tracked.get(c.socket)?.inFlight ?? 0) > 0) busy++;
      return `${busy} with a request in flight`;
    },
  };
}

/** The snapshot of a connection an UpgradeCarrier serves. */
function upgradedSnapshot(session: HttpSession, carried: { state: unknown; pending: Buffer; close?: string }): { session: HttpSession; pending: Buffer } {
  if (carried.close) return { session: { ...session, close: carried.close }, pending: Buffer.alloc(0) };
  return { session: { ...session, upgraded: carried.state }, pending: carried.pending };
}
