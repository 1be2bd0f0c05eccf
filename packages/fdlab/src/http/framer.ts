// Where an HTTP/1.1 request ends, from the raw bytes a connection received
// (RFC 9112: a head ending in CRLFCRLF, then Content-Length bytes or chunked
// framing). Node's parser keeps the bytes of a request it has not finished
// inside itself, with no public offset; a connection switched while idle may
// hold the start of the next request there, and those bytes must travel.
// Only the bytes of an unfinished head are kept: once a head is complete the
// request is in flight (the connection is busy and is not switched; at the
// deadline it is closed in the next version), so its body never travels.

/** Heads larger than this are refused by Node's parser anyway (--max-http-header-size, 16 KiB by default). */
const MAX_HEAD = 64 * 1024;

type State =
  | { at: 'head' }
  | { at: 'body'; left: number }
  | { at: 'chunk-size'; line: string }
  | { at: 'chunk-data'; left: number }
  | { at: 'chunk-crlf'; left: number }
  | { at: 'trailer'; line: string }
  /** An Upgrade or CONNECT request, or bytes we cannot frame: not HTTP/1.1 requests from here on. */
  | { at: 'other'; why: string };

export class RequestFramer {
  private state: State = { at: 'head' };

  /** `takesUpgrades`: whether the server takes an Upgrade request as one (node:http: only with an 'upgrade' listener; without, it is a request like any other). */
  constructor(private readonly takesUpgrades: () => boolean = () => true) {}
  private head: Buffer = Buffer.alloc(0);

  /** Bytes of the next request's head received so far (the pending bytes of an idle connection). */
  get pending(): Buffer {
    return this.state.at === 'head' ? this.head : Buffer.alloc(0);
  }

  /** Whether the bytes so far end between requests (or in the head of the next one): a body half received is not. */
  get betweenRequests(): boolean {
    return this.state.at === 'head';
  }

  /** Why the bytes are no longer HTTP/1.1 requests we can frame (an upgrade, say), or null. */
  get other(): string | null {
    return this.state.at === 'other' ? this.state.why : null;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const state = this.state;
      switch (state.at) {
        case 'other':
          return;
        case 'head': {
          this.head = this.head.length ? Buffer.concat([this.head, chunk.subarray(at)]) : chunk.subarray(at);
          at = chunk.length;
          // Empty lines between requests are allowed (RFC 9112, 2.2).
          let start = 0;
          while (this.head.length >= start + 2 && this.head[start] === 13 && this.head[start + 1] === 10) start += 2;
          const end = this.head.indexOf('\r\n\r\n', start);
          if (end < 0) {
            if (this.head.length > MAX_HEAD) this.state = { at: 'other', why: `a request head over ${MAX_HEAD} bytes` };
            return;
          }
          const rest = this.head.subarray(end + 4);
          this.startBody(this.head.subarray(start, end).toString('latin1'));
          this.head = Buffer.alloc(0);
          if (rest.length > 0) this.push(rest);
          return;
        }
        case 'body': {
          const n = Math.min(state.left, chunk.length - at);
          at += n;
          if ((state.left -= n) === 0) this.state = { at: 'head' };
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const lf = chunk.indexOf(10, at);
          const end = lf < 0 ? chunk.length : lf + 1;
          state.line += chunk.toString('latin1', at, end);
          at = end;
          if (lf < 0) {
            if (state.line.length > MAX_HEAD) this.state = { at: 'other', why: 'a chunk line too long' };
            break;
          }
          const line = state.line.replace(/\r?\n$/, '');
          if (state.at === 'trailer') {
            this.state = line === '' ? { at: 'head' } : { at: 'trailer', line: '' };
          } else {
            const size = Number.parseInt(line.split(';')[0].trim(), 16);
            if (!Number.isFinite(size) || size < 0) this.state = { at: 'other', why: `a chunk size that is not hex: ${JSON.stringify(line.slice(0, 20))}` };
            else this.state = size === 0 ? { at: 'trailer', line: '' } : { at: 'chunk-data', left: size };
          }
          break;
        }
        case 'chunk-data': {
          const n = Math.min(state.left, chunk.length - at);
          at += n;
          if ((state.left -= n) === 0) this.state = { at: 'chunk-crlf', left: 2 };
          break;
        }
        case 'chunk-crlf': {
          const n = Math.min(state.left, chunk.length - at);
          at += n;
          if ((state.left -= n) === 0) this.state = { at: 'chunk-size', line: '' };
          break;
        }
      }
    }
  }

  /** After a complete head: how its body is framed. */
  private startBody(head: string): void {
    const lines = head.split('\r\n');
    const method = lines[0].split(' ')[0];
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim().toLowerCase());
    }
    if (method === 'CONNECT' || (headers.has('upgrade') && /\bupgrade\b/.test(headers.get('connection') ?? '') && this.takesUpgrades())) {
      this.state = { at: 'other', why: method === 'CONNECT' ? 'a CONNECT request' : `an upgrade to ${headers.get('upgrade')}` };
      return;
    }
    if (/\bchunked\s*$/.test(headers.get('transfer-encoding') ?? '')) {
      this.state = { at: 'chunk-size', line: '' };
      return;
    }
    const length = Number(headers.get('content-length') ?? '0');
    if (!Number.isSafeInteger(length) || length < 0) this.state = { at: 'other', why: 'a Content-Length that is not a number' };
    else this.state = length > 0 ? { at: 'body', left: length } : { at: 'head' };
  }
}
