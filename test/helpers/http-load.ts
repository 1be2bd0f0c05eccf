// Keep-alive HTTP/1.1 clients for bench:http (load.ts paces and counts): one
// connection each, one request at a time (no pipelining, as browsers and
// Node's agent do); a tick with a request still in flight is skipped. Of
// every 10 clients, 9 send GET /, 1 a POST /echo whose chunked body comes in
// two parts, the second a third of the interval later: those are in flight
// for a while on purpose, so a signal lands mid-request for some of them.
// An echo names its client and request, so it says which request it answers.
// A response with Connection: close (a server draining) answers its request;
// the close that follows is a disconnect, and the client reconnects.
import * as net from 'node:net';
import { ResponseParser, type Response } from './http-client';
import { Load, LoadClient, type LoadOptions } from './load';

export type HttpKind = 'get' | 'slow-post';
const KINDS: HttpKind[] = ['get', 'get', 'get', 'get', 'get', 'get', 'get', 'get', 'get', 'slow-post'];
const GET = 'GET / HTTP/1.1\r\nHost: bench\r\n\r\n';

class HttpClient extends LoadClient {
  socket: net.Socket | null = null;
  /** The server said Connection: close: no more requests on this connection. */
  draining = false;
}

const bodyOf = (id: number, seq: number) => `c${id} r${seq}`;
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;

export class HttpLoad extends Load<HttpClient> {
  constructor(private readonly port: number, options: LoadOptions) {
    super(options);
    for (let id = 0; id < options.clients; id++) this.clients.push(new HttpClient(id, KINDS[id % KINDS.length]));
  }

  protected open(c: HttpClient): void {
    const socket = net.connect(this.port, '127.0.0.1');
    socket.setNoDelay(true);
    let wasOpen = false;
    c.socket = socket;
    const parser = new ResponseParser((response) => {
      if (response.close) c.draining = true;
      const request = c.outstanding[0];
      // Nothing in flight: an answer to something already answered.
      if (!request) return this.answered(c, c.nextSeq > 0 ? c.nextSeq - 1 : null);
      this.answered(c, request.seq, this.right(c, request.seq, response));
    });
    socket.on('connect', () => {
      wasOpen = true;
      c.draining = false;
      this.opened(c);
    });
    socket.on('data', (data: Buffer) => {
      try {
        parser.push(data);
      } catch {
        this.answered(c, null); // not HTTP as these servers speak it
        socket.destroy();
      }
    });
    socket.on('close', () => {
      if (c.socket !== socket) return;
      c.socket = null;
      this.closed(c, wasOpen ? 'server' : 'refused');
    });
    socket.on('error', () => {}); // a close follows
  }

  protected tick(c: HttpClient): void {
    const socket = c.socket;
    if (!socket || c.draining || c.outstanding.length > 0) return;
    if (c.kind === 'get') {
      this.sent(c, true);
      socket.write(GET);
      return;
    }
    const seq = this.sent(c, false);
    const body = bodyOf(c.id, seq);
    const [first, second] = [body.slice(0, body.indexOf(' ') + 1), body.slice(body.indexOf(' ') + 1)];
    socket.write(`POST /echo HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(first)}`);
    this.later(this.options.intervalMs / 3, () => {
      if (c.socket !== socket) return;
      socket.write(`${chunk(second)}0\r\n\r\n`);
      this.completed(c, seq);
    });
  }

  protected override state(c: HttpClient): string {
    return `${c.draining ? 'told Connection: close' : 'keep-alive'}, socket ${c.socket ? (c.socket.destroyed ? 'destroyed' : c.socket.readyState) : 'none'}`;
  }

  protected hangUp(c: HttpClient): void {
    c.socket?.destroy();
    c.socket = null;
  }

  /** Whether this is the answer to request `seq`: 200, and the echo of its body. */
  private right(c: HttpClient, seq: number, response: Response): boolean {
    if (response.status !== 200) return false;
    return c.kind === 'get' ? response.body.endsWith(': GET /\n') : response.body.endsWith(`: POST /echo: ${bodyOf(c.id, seq)}\n`);
  }
}
