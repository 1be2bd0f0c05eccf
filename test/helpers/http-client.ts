// A keep-alive HTTP/1.1 client on a raw socket, for upgrade tests: every byte
// received is accounted for (each response's status and body, in order;
// anything left over is extra), and it notices a close. One connection, never
// reconnected: a reconnection would be a new client. The parser is shared
// with the reconnecting load client of bench:http (http-load.ts).
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { until } from './fds';

export interface Response {
  status: number;
  body: string;
  /** The server said Connection: close: it will close after this response. */
  close: boolean;
}

/** Splits the bytes of one connection into responses (Content-Length bodies), counting interim 1xx ones. */
export class ResponseParser {
  /** Interim responses (100 Continue: the server read a head with Expect: 100-continue). */
  interim = 0;
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly onResponse: (response: Response) => void) {}

  /** Throws on a response without a Content-Length (the servers here always send one). */
  push(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const head = this.buffer.indexOf('\r\n\r\n');
      if (head < 0) return;
      const text = this.buffer.subarray(0, head).toString();
      if (/^HTTP\/1\.1 1\d\d /.test(text)) {
        this.interim += 1;
        this.buffer = this.buffer.subarray(head + 4);
        continue;
      }
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1]);
      assert.ok(Number.isInteger(length), `a response with a Content-Length: ${text}`);
      if (this.buffer.length < head + 4 + length) return;
      const body = this.buffer.subarray(head + 4, head + 4 + length).toString();
      this.buffer = this.buffer.subarray(head + 4 + length);
      this.onResponse({ status: Number(text.split(' ')[1]), body, close: /\r\nconnection: close\r?$/im.test(text) });
    }
  }

  /** Bytes received that are not part of a whole response. */
  extra(): string {
    return this.buffer.toString();
  }
}

export class RawHttpClient {
  readonly responses: Response[] = [];
  /** Requests sent by get(): each must get exactly one response. */
  requests = 0;
  closed = false;
  /** The server's FIN arrived ('end'): set before `closed`. */
  ended = false;
  /** The client's own port: names the connection in the server's logs (kept: a closed socket forgets it). */
  readonly port: number;
  private readonly parser = new ResponseParser((response) => this.responses.push(response));

  private constructor(readonly socket: net.Socket) {
    this.port = socket.localPort!;
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk));
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<RawHttpClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawHttpClient(socket);
  }

  /** Interim responses (100 Continue: the server read a head with Expect: 100-continue), not in `responses`. */
  get interim(): number {
    return this.parser.interim;
  }

  /** Writes raw bytes (part of a request, or several). */
  write(bytes: string): void {
    this.socket.write(bytes);
  }

  /** Sends a GET and returns the response's body. */
  async get(url: string, ms = 10_000): Promise<string> {
    const index = this.responses.length;
    this.requests += 1;
    this.write(`GET ${url} HTTP/1.1\r\nHost: test\r\n\r\n`);
    return (await this.response(index, ms)).body;
  }

  /** Waits for response number `index` (0-based, in order). */
  async response(index: number, ms = 10_000): Promise<Response> {
    await until(ms, () => `response #${index + 1} (so far: ${JSON.stringify(this.responses)}, buffered ${JSON.stringify(this.parser.extra())}, closed ${this.closed})`, () => this.responses.length > index || this.closed);
    assert.ok(this.responses.length > index, `the connection closed before response #${index + 1} (so far: ${JSON.stringify(this.responses)})`);
    return this.responses[index];
  }

  /** Bytes received that are not part of a whole response. */
  extra(): string {
    return this.parser.extra();
  }
}
