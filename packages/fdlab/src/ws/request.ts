// The handshake request of a WebSocket, carried: the next version's
// 'connection' handler gets (ws, req) as ws gives it for a fresh one, with
// req rebuilt from the method, url and headers the client sent (its socket
// is the live one; no body: an upgrade request has none). ws's typings say
// req is always there, so an app's `req.url` compiles: without this, a
// newcomer's chat read `req.url` and the next version threw (undefined).
import * as http from 'node:http';
import type * as net from 'node:net';

/** What travels of the handshake request (plain JSON). */
export interface CarriedRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** Name, value, name, value... as the client sent them (IncomingMessage.rawHeaders). */
  rawHeaders: string[];
}

/** Node's own limit on a request head (--max-http-header-size): a bigger one was refused at the handshake. */
const MAX_HEAD_BYTES = 16 * 1024;

/** The parts of `req` to carry; null if there is none or it is larger than a request head can be. */
export function carryRequest(req: unknown): CarriedRequest | null {
  if (!(req instanceof http.IncomingMessage)) return null;
  const carried: CarriedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', httpVersion: req.httpVersion, rawHeaders: [...req.rawHeaders] };
  const bytes = carried.rawHeaders.reduce((sum, part) => sum + Buffer.byteLength(part) + 2, carried.url.length);
  return bytes <= MAX_HEAD_BYTES ? carried : null;
}

/** An IncomingMessage like the one the handshake had, on the live socket; a fresh one (url '/', no headers) if nothing usable came. */
export function rebuildRequest(socket: net.Socket, carried: unknown): http.IncomingMessage {
  const c = (carried ?? {}) as Partial<CarriedRequest>;
  const req = new http.IncomingMessage(socket);
  req.method = typeof c.method === 'string' ? c.method : 'GET';
  req.url = typeof c.url === 'string' ? c.url : '/';
  const version = typeof c.httpVersion === 'string' && /^1\.[01]$/.test(c.httpVersion) ? c.httpVersion : '1.1';
  req.httpVersion = version;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = Number(version[2]);
  const raw = Array.isArray(c.rawHeaders) && c.rawHeaders.every((part) => typeof part === 'string') && c.rawHeaders.length % 2 === 0 ? c.rawHeaders : [];
  req.rawHeaders = raw;
  const headers: http.IncomingHttpHeaders = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const before = headers[name];
    // As node:http joins repeated headers: set-cookie an array, cookie with '; ', the rest with ', '.
    if (name === 'set-cookie') headers[name] = [...((before as string[] | undefined) ?? []), raw[i + 1]];
    else headers[name] = before === undefined ? raw[i + 1] : `${before}${name === 'cookie' ? '; ' : ', '}${raw[i + 1]}`;
  }
  req.headers = headers;
  req.complete = true;
  req.push(null); // no body
  return req;
}
