// permessage-deflate (RFC 7692) across an upgrade, without context takeover.
//
// With context takeover each message is compressed against the ones before
// it: that window lives in this process's zlib and cannot travel (measured in
// test/library/ws.test.ts: a fresh inflater closed the connection with 1007).
// Without it, both ends reset their zlib state after every message, so the
// next version goes on with a fresh one: what travels is the negotiated
// parameters only. A server configured with serverNoContextTakeover and
// clientNoContextTakeover puts both parameters in its handshake response
// whether or not the client offered them (ws's acceptAsServer; RFC 7692 7.1.1
// lets it); measured with ws 8.23 clients: a default client accepts, one
// created with clientNoContextTakeover: false refuses the handshake itself.
//
// Two more things. The class: the library does not import ws, and a next
// version has no live extension to take the constructor from; ws exports it
// as WebSocket.PerMessageDeflate since 8.20, so the server's own
// options.WebSocket class has it (the app's copy of ws, the one its server
// uses; 'ws/lib/permessage-deflate' is closed by ws's package exports, and an
// option for the app to pass would be one more thing to get wrong). Older ws:
// ERR_WS_UNSUPPORTED. And zlib runs off the main thread: while a message is
// being inflated (read, not yet delivered) or deflated (sent, not yet
// written), its bytes are neither in the tracker's pending frames nor in the
// socket; such a WebSocket is busy (busy.ts) until zlib is done.
import { FdlabError } from '../errors';

export const EXTENSION = 'permessage-deflate';

/** The negotiated parameters that travel (ws's PerMessageDeflate#params, checked). */
export interface DeflateParams {
  server_no_context_takeover: true;
  client_no_context_takeover: true;
  server_max_window_bits?: number;
  client_max_window_bits?: number;
}

/** What fdlab/ws uses of ws's PerMessageDeflate (8.x). */
export interface Extension {
  params: Record<string, unknown> | null;
  compress(data: unknown, fin: boolean, callback: (...args: unknown[]) => void): void;
  decompress(data: unknown, fin: boolean, callback: (...args: unknown[]) => void): void;
}

type ExtensionClass = new (options: object) => Extension;

const TAKEOVER_OFF = 'perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } (each message compressed on its own: it can be carried), or perMessageDeflate: false';

/** ws's PerMessageDeflate class, from the server's WebSocket class (exported there since ws 8.20), or null. */
export function extensionClassOf(WebSocket: { PerMessageDeflate?: unknown }): ExtensionClass | null {
  const PerMessageDeflate = WebSocket.PerMessageDeflate;
  if (typeof PerMessageDeflate !== 'function' || typeof (PerMessageDeflate.prototype as Partial<Extension>).decompress !== 'function') return null;
  return PerMessageDeflate as ExtensionClass;
}

/**
 * Checks the server's permessage-deflate setting: off, or on without context
 * takeover both ways and with a ws that exports the class. Returns the class
 * (null when off).
 */
export function deflateClassOf(WebSocket: { PerMessageDeflate?: unknown }, setting: unknown): ExtensionClass | null {
  if (!setting) return null;
  const options = setting as { serverNoContextTakeover?: unknown; clientNoContextTakeover?: unknown };
  if (options.serverNoContextTakeover !== true || options.clientNoContextTakeover !== true) {
    throw new FdlabError(
      'ERR_WS_DEFLATE',
      `fdlab/ws cannot carry permessage-deflate with context takeover: the compression window lives in this process's zlib, so the next version would inflate the client's next message without it (measured: every such connection closed with 1007); create the WebSocketServer with ${TAKEOVER_OFF}`,
    );
  }
  const PerMessageDeflate = extensionClassOf(WebSocket);
  if (!PerMessageDeflate) {
    throw new FdlabError('ERR_WS_UNSUPPORTED', 'fdlab/ws carries permessage-deflate with ws 8.20 or later (it rebuilds the extension with WebSocket.PerMessageDeflate, exported since 8.20): upgrade ws, or create the WebSocketServer with perMessageDeflate: false');
  }
  return PerMessageDeflate;
}

const isBits = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 8 && (value as number) <= 15;

/** The parameters to carry, or a reason the connection cannot be carried (context takeover: not negotiated by a server wsApp accepts). */
export function paramsToCarry(extension: Extension): DeflateParams | { refused: string } {
  const p = extension.params ?? {};
  if (p.server_no_context_takeover !== true || p.client_no_context_takeover !== true) return { refused: 'permessage-deflate with context takeover' };
  const params: DeflateParams = { server_no_context_takeover: true, client_no_context_takeover: true };
  if (isBits(p.server_max_window_bits)) params.server_max_window_bits = p.server_max_window_bits;
  if (isBits(p.client_max_window_bits)) params.client_max_window_bits = p.client_max_window_bits;
  return params;
}

/** Carried parameters as they arrived (from the previous version: checked again), or null if they are not ones this module carries. */
export function carriedParams(value: unknown): DeflateParams | null {
  if (!value || typeof value !== 'object') return null;
  const p = value as Record<string, unknown>;
  if (p.server_no_context_takeover !== true || p.client_no_context_takeover !== true) return null;
  for (const key of Object.keys(p)) {
    if (key.endsWith('_no_context_takeover')) continue;
    if ((key !== 'server_max_window_bits' && key !== 'client_max_window_bits') || !isBits(p[key])) return null;
  }
  return p as unknown as DeflateParams;
}

/**
 * The extension of a rebuilt WebSocket: what ws's server makes at a
 * handshake (its options, isServer, maxPayload), with the carried parameters
 * in place of a new negotiation. Its zlib state is fresh, which is all a
 * message without context takeover needs.
 */
export function rebuildExtension(PerMessageDeflate: ExtensionClass, setting: unknown, maxPayload: number | undefined, params: DeflateParams): Extension {
  const options = setting && typeof setting === 'object' ? setting : {};
  const extension = new PerMessageDeflate({ ...options, isServer: true, maxPayload });
  extension.params = { ...params };
  return extension;
}

/**
 * Calls busy() when zlib starts work for this WebSocket and idle() once it
 * has none left. idle() waits one setImmediate: what zlib's callback
 * started there (the app's echo, compressed; a 'message' ws defers to a
 * setImmediate of its own) counts first. Returns how many operations are
 * under way (a snapshot at the upgrade deadline asks).
 */
export function watchZlib(extension: Extension, busy: () => void, idle: () => void): () => number {
  let working = 0;
  const settle = () =>
    setImmediate(() => {
      if (working === 0) idle();
    });
  for (const method of ['compress', 'decompress'] as const) {
    const original = extension[method];
    extension[method] = function (this: Extension, data, fin, callback) {
      working += 1;
      busy();
      let done = false;
      original.call(this, data, fin, (...args: unknown[]) => {
        try {
          callback(...args);
        } finally {
          if (!done) {
            done = true;
            working -= 1;
            if (working === 0) settle();
          }
        }
      });
    };
  }
  return () => working;
}
