// The handshake request of a WebSocket, carried: the next version's
// 'connection' handler gets (ws, req) as ws gives it for a fresh one, with
// req rebuilt from the method, url and headers the client sent (its socket
// is the live one; no body: an upgrade request has none). ws's typings say
// req is always there, so an app's `req.url` compiles: without this, a
// newcomer's chat read `req.url` and the next version threw (undefined).
// The headers travel as node:http computed them (req.headers: a repeated
// Host or Authorization kept first, as node does), never joined again here:
// joining them anew let a client change what the next version authenticates.
import * as http from 'node:http';
import type * as net from 'node:net';
import type { Log } from '../handover/types';

/** What travels of the handshake request (plain JSON). */
export interface CarriedRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** req.headers, as node:http made them (lower-case names; set-cookie an array). */
  headers?: Record<string, string | string[]>;
}

/**
 * Node's default limit on a request head (--max-http-header-size), per
 * WebSocket: a group of 1,024 then stays well under an upgrade message's 64 MiB.
 */
export const MAX_CARRIED_HEAD_BYTES = 16 * 1024;

/** The parts of `req` to carry; without headers (said in the log) if they are larger than MAX_CARRIED_HEAD_BYTES. */
export function carryRequest(req: unknown, log: Log): CarriedRequest | null {
  if (!(req instanceof http.IncomingMessage)) return null;
  const carried: CarriedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', httpVersion: req.httpVersion };
  const headers: Record<string, string | string[]> = {};
  let bytes = carried.url.length;
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = value;
    bytes += name.length + (Array.isArray(value) ? value.reduce((sum, v) => sum + Buffer.byteLength(v), 0) : Buffer.byteLength(value)) + 4;
  }
  if (bytes <= MAX_CARRIED_HEAD_BYTES) carried.headers = headers;
  else log(`a WebSocket from ${req.socket.remoteAddress}:${req.socket.remotePort}: its handshake request is ${bytes} bytes, over the ${MAX_CARRIED_HEAD_BYTES} fdlab/ws carries; the next version's 'connection' gets its url (${carried.url.length} bytes) and no headers`);
  if (carried.url.length > MAX_CARRIED_HEAD_BYTES) carried.url = '/';
  return carried;
}

/** An IncomingMessage like the one the handshake had, on the live socket; url '/' and no headers if nothing usable came. */
export function rebuildRequest(socket: net.Socket, carried: unknown): http.IncomingMessage {
  const c = (carried ?? {}) as Partial<CarriedRequest>;
  const req = new http.IncomingMessage(socket);
  req.method = typeof c.method === 'string' ? c.method : 'GET';
  req.url = typeof c.url === 'string' ? c.url : '/';
  const version = typeof c.httpVersion === 'string' && /^1\.[01]$/.test(c.httpVersion) ? c.httpVersion : '1.1';
  req.httpVersion = version;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = Number(version[2]);
  // Only own string (or, for set-cookie, string array) values: it came from another process.
  const headers: http.IncomingHttpHeaders = {};
  const raw: string[] = [];
  if (c.headers && typeof c.headers === 'object') {
    for (const [name, value] of Object.entries(c.headers)) {
      const values = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null;
      if (!values || name !== name.toLowerCase()) continue;
      headers[name] = typeof value === 'string' ? value : values;
      for (const v of values) raw.push(name, v);
    }
  }
  req.headers = headers;
  req.rawHeaders = raw;
  req.complete = true;
  req.push(null); // no body
  return req;
}
