// fdlab/ws: a `ws` WebSocketServer's connections, handed over (on top of
// fdlab/http: the HTTP server that does the handshakes is upgradable too).
//
//   const server = http.createServer(handler);
//   const wss = new WebSocketServer({ server, perMessageDeflate: false });
//   await Upgrader.start({ app: wsApp(server, wss), ... });
//
// Old version: every WebSocket the server accepts gets a frame tracker
// (frames.ts), so a snapshot knows the frames of the message in progress;
// they travel as pending bytes. New version: a WebSocket is rebuilt on the
// socket (ws's own setSocket, the way its server completes a handshake) and
// the app receives it through wss's normal 'connection' event, with the
// session its save() gave (sessionOf(ws)). Carried too: permessage-deflate
// negotiated without context takeover (deflate.ts; with context takeover it
// is refused), and a pause() of the app's. Not carried: TLS.
// `ws` is not imported: the server's own WebSocket class is used, and what
// is needed of it is checked (ERR_WS_UNSUPPORTED) when wsApp() is called.
import type * as http from 'node:http';
import type * as net from 'node:net';
import { FdlabError } from '../errors';
import { markBusy, markIdle } from '../handover/busy';
import type { HandoverApp } from '../handover/types';
import { httpApp, type HttpAppOptions, type HttpSession, type UpgradeCarrier } from '../http';
import { carriedParams, deflateClassOf, EXTENSION, extensionClassOf, paramsToCarry, rebuildExtension, watchZlib, type DeflateParams, type Extension } from './deflate';
import { FrameTracker } from './frames';
import { carryRequest, rebuildRequest, type CarriedRequest } from './request';

/** What fdlab/ws needs of a ws WebSocket (8.x): public API, plus setSocket and _socket/_protocol/_extensions, checked. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  on(event: 'close', listener: () => void): unknown;
}

/** What fdlab/ws needs of a ws WebSocketServer (8.x); W, the server's WebSocket type, is inferred from `clients`. */
export interface WebSocketServerLike<W = unknown> {
  options: {
    perMessageDeflate?: unknown;
    WebSocket?: unknown;
    maxPayload?: number;
    skipUTF8Validation?: boolean;
    allowSynchronousEvents?: boolean;
    maxBufferedChunks?: number;
    maxFragments?: number;
    noServer?: boolean;
  };
  clients?: Set<W>;
  prependListener(event: 'connection', listener: (ws: W, req: http.IncomingMessage) => void): unknown;
  emit(event: 'connection', ...args: unknown[]): boolean;
}

export interface WsAppOptions<A, W = WebSocketLike> extends HttpAppOptions {
  /** The app's state of one WebSocket (the server's own WebSocket type), to carry (checked like any session: plain JSON). */
  save?: (ws: W) => A;
}

/** What travels for a WebSocket. */
interface WsState {
  protocol: string;
  binaryType: string;
  /** permessage-deflate's negotiated parameters (no context takeover both ways), if the client took it. */
  deflate?: DeflateParams;
  /** The app had called ws.pause(): the rebuilt WebSocket is paused too (its bytes wait in the socket). */
  paused?: true;
  /** The handshake request's method, url and headers: the next version's 'connection' gets it rebuilt. */
  request?: CarriedRequest;
  app?: unknown;
}

interface Internal {
  _socket: net.Socket;
  _protocol: string;
  _extensions: Record<string, Extension | undefined>;
  /** ws 8: pause()/resume() and isPaused (the app's, not ws's own backpressure). */
  readonly isPaused?: boolean;
  pause?(): void;
  setSocket(socket: net.Socket, head: Buffer, options: object): void;
}

type WebSocketClass = (new (address: null, protocols: undefined, options: object) => WebSocketLike & Internal) & { PerMessageDeflate?: unknown };

const sessions = new WeakMap<object, unknown>();

/** The session a WebSocket came with from the previous version (what save() returned there), or undefined. */
export function sessionOf<A = unknown>(ws: WebSocketLike): A | undefined {
  return sessions.get(ws) as A | undefined;
}

/** The HandoverApp for an http.Server and the ws WebSocketServer on it: pass it to Upgrader.start as `app`. */
export function wsApp<A = unknown, W = WebSocketLike>(server: http.Server, wss: WebSocketServerLike<W>, options: WsAppOptions<A, W> = {}): HandoverApp<HttpSession> {
  const WebSocket = wss?.options?.WebSocket as WebSocketClass | undefined;
  if (typeof WebSocket !== 'function' || typeof (WebSocket.prototype as Partial<Internal>).setSocket !== 'function') {
    throw new FdlabError('ERR_WS_UNSUPPORTED', "wsApp(server, wss): wss must be a ws 8.x WebSocketServer (its options.WebSocket with setSocket() is how fdlab/ws rebuilds a WebSocket in the next version): install ws ^8.20.0, the range of fdlab's peerDependencies (tested with 8.20 and 8.23)");
  }
  const o = wss.options;
  if (o.allowSynchronousEvents !== true) {
    // ws then stops reading its buffer after each message until a setImmediate: frames read, whole, wait in its
    // Receiver, where no snapshot sees them. Measured: 247 of 350 messages per client lost across one upgrade (20 clients in bursts).
    // A ws with no such option (its server's options lack it) is older than the range fdlab is tested with: refused too.
    throw new FdlabError(
      'ERR_WS_UNSUPPORTED',
      o.allowSynchronousEvents === false
        ? "wsApp(server, wss): a WebSocketServer with allowSynchronousEvents: false is not carried: ws keeps frames it has read in its Receiver until a later setImmediate, where the switch cannot see them, so they would be lost; leave allowSynchronousEvents at ws's default (true)"
        : "wsApp(server, wss): this ws has no allowSynchronousEvents option (older than fdlab's peerDependencies allow), so how it delivers messages is not known to be carried: install ws ^8.20.0",
    );
  }
  // Throws ERR_WS_DEFLATE for context takeover; null when the server has no permessage-deflate.
  const PerMessageDeflate = deflateClassOf(WebSocket, o.perMessageDeflate);
  const log = options.log ?? (() => {});
  const trackers = new WeakMap<net.Socket, { ws: WebSocketLike & Internal; frames: FrameTracker; zlib: () => number; request: CarriedRequest | null }>();
  // Every WebSocket the server accepts (or the next version rebuilds): its frames are tracked from its first byte on.
  wss.prependListener('connection', (ws: W, req: http.IncomingMessage) => {
    const socket = (ws as unknown as Internal)._socket;
    const frames = new FrameTracker();
    const tracked = { ws: ws as unknown as WebSocketLike & Internal, frames, zlib: () => 0, request: carryRequest(req, log) };
    trackers.set(socket, tracked);
    // Prepended: the tracker sees each chunk before ws's Receiver does (and the handshake's head, unshifted, too).
    // A close frame is answered as it is read (ws replies, and ends the socket): nothing to wait for. Switched
    // as 'closing', the new version sends what the old one queued, then its FIN (http/close.ts). Measured when
    // this was busy: a client that sent close while not reading (the reply queued behind 6 MB) held the upgrade
    // to its deadline (3 s of 3 s), test/library/ws-edges.test.ts.
    socket.prependListener('data', (chunk: Buffer) => frames.push(chunk));
    // Idle unless a request pipelined before the upgrade request still waits for its response (http's busy).
    const idle = () => carrier.requestsInFlight?.(socket) || markIdle(socket);
    const extension = (ws as unknown as Internal)._extensions?.[EXTENSION];
    if (extension) tracked.zlib = watchZlib(extension, () => markBusy(socket), idle);
    idle(); // busy since the upgrade request: a WebSocket now, which moves at any time
  });
  const carrier: UpgradeCarrier = {
    claims: (socket: net.Socket) => trackers.has(socket),
    snapshot(socket: net.Socket) {
      const tracked = trackers.get(socket);
      if (!tracked) return { state: null, pending: Buffer.alloc(0), close: 'a WebSocket closed' };
      const { ws, frames } = tracked;
      if (frames.closing || ws.readyState !== 1) return { state: null, pending: Buffer.alloc(0), close: 'a WebSocket closing' };
      // Busy until zlib is done, so only at the upgrade deadline (or in a standby report): a message zlib still works on is in neither the pending frames nor the socket.
      if (tracked.zlib() > 0) return { state: null, pending: Buffer.alloc(0), close: 'a WebSocket message still in zlib (permessage-deflate)' };
      const state: WsState = { protocol: ws.protocol, binaryType: ws.binaryType };
      const extension = ws._extensions?.[EXTENSION];
      if (extension) {
        const params = paramsToCarry(extension);
        if ('refused' in params) return { state: null, pending: Buffer.alloc(0), close: params.refused };
        state.deflate = params;
      }
      if (ws.isPaused === true) state.paused = true;
      if (tracked.request) state.request = tracked.request;
      if (options.save) state.app = options.save(ws as unknown as W);
      return { state, pending: frames.pending };
    },
    adopt(socket: net.Socket, carried: unknown, pending: Buffer) {
      const state = carried as Partial<WsState>;
      const ws = new WebSocket(null, undefined, o);
      if (typeof state.protocol === 'string') ws._protocol = state.protocol;
      if (state.binaryType === 'nodebuffer' || state.binaryType === 'arraybuffer' || state.binaryType === 'fragments') ws.binaryType = state.binaryType;
      if (state.deflate !== undefined) {
        const params = carriedParams(state.deflate);
        // The client compresses its next message: without the extension ws would close with 1002 (RSV1 set). Said and closed, never misread.
        const Class = PerMessageDeflate ?? extensionClassOf(WebSocket); // this version may have turned deflate off: the connection keeps what it negotiated
        if (!params || !Class) {
          log(`closed a WebSocket from ${socket.remoteAddress}:${socket.remotePort}: it came with permessage-deflate ${JSON.stringify(state.deflate)}, which this version ${Class ? 'does not carry' : 'cannot rebuild (ws 8.20 or later needed)'}`);
          socket.destroy();
          return;
        }
        // Before setSocket: its Receiver and Sender read the extensions from there.
        ws._extensions = { [EXTENSION]: rebuildExtension(Class, o.perMessageDeflate, o.maxPayload, params) };
      }
      sessions.set(ws, state.app);
      ws.setSocket(socket, pending, {
        allowSynchronousEvents: o.allowSynchronousEvents,
        maxBufferedChunks: o.maxBufferedChunks,
        maxFragments: o.maxFragments,
        maxPayload: o.maxPayload,
        skipUTF8Validation: o.skipUTF8Validation,
      });
      // Paused before anything is read: setSocket's 'data' listener starts the flow on the next tick only.
      if (state.paused === true && typeof ws.pause === 'function') ws.pause();
      if (wss.clients) {
        wss.clients.add(ws as unknown as W);
        ws.on('close', () => wss.clients!.delete(ws as unknown as W));
      }
      // The app's own handler, as for a fresh one: the handshake request rebuilt; sessionOf(ws) is what save() gave.
      wss.emit('connection', ws, rebuildRequest(socket, state.request));
    },
  };
  return httpApp(server, options, carrier);
}
