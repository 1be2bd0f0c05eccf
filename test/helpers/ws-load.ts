// WebSocket clients for bench:ws (load.ts paces and counts): every tick a
// client sends one message and expects it echoed unchanged, once, in order.
// Of every 10 clients, 7 send text, 2 binary, 1 a text message in three
// frames spread over the interval (so at any moment about a third of those
// have a message half sent: a signal lands mid-message for some of them).
// Each message names its client and sequence number, so an echo says which
// message it answers and whether it came back whole.
import WebSocket from 'ws';
import { Load, LoadClient, type LoadOptions } from './load';

export type WsKind = 'text' | 'binary' | 'fragmented';
const KINDS: WsKind[] = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'binary', 'binary', 'fragmented'];
const PAD = 'x'.repeat(40);
const BINARY_BYTES = 64;

class WsClient extends LoadClient {
  ws: WebSocket | null = null;
  /** A fragmented message is being sent: no other message may start on this connection. */
  fragmenting = false;
}

const textOf = (id: number, seq: number) => `c${id} m${seq} ${PAD}`;
const fragmentsOf = (id: number, seq: number) => [`c${id} m${seq} [`, 'middle', ']'];

function binaryOf(id: number, seq: number): Buffer {
  const bytes = Buffer.alloc(BINARY_BYTES);
  bytes.writeUInt32BE(id, 0);
  bytes.writeUInt32BE(seq, 4);
  for (let i = 8; i < BINARY_BYTES; i++) bytes[i] = (seq + i) & 0xff;
  return bytes;
}

export class WsLoad extends Load<WsClient> {
  constructor(private readonly url: string, options: LoadOptions) {
    super(options);
    for (let id = 0; id < options.clients; id++) this.clients.push(new WsClient(id, KINDS[id % KINDS.length]));
  }

  protected open(c: WsClient): void {
    // A handshake overdue (a connection the server accepted and never answered) fails the connect: retried.
    const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: this.options.timeoutMs });
    let wasOpen = false;
    c.ws = ws;
    ws.on('open', () => {
      wasOpen = true;
      this.opened(c);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.answered(c, this.decode(c, data, isBinary)));
    ws.on('close', () => {
      if (c.ws !== ws) return;
      c.ws = null;
      c.fragmenting = false;
      this.closed(c, wasOpen ? 'server' : 'refused');
    });
    ws.on('error', () => {}); // a close follows
  }

  protected tick(c: WsClient): void {
    const ws = c.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || c.fragmenting) return;
    if (c.kind === 'text') ws.send(textOf(c.id, this.sent(c, true)));
    else if (c.kind === 'binary') ws.send(binaryOf(c.id, this.sent(c, true)), { binary: true });
    else {
      const seq = this.sent(c, false);
      const [first, middle, last] = fragmentsOf(c.id, seq);
      c.fragmenting = true;
      ws.send(first, { fin: false });
      const step = this.options.intervalMs / 3;
      this.later(step, () => {
        if (c.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
        ws.send(middle, { fin: false });
        this.later(step, () => {
          if (c.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
          ws.send(last, { fin: true });
          c.fragmenting = false;
          this.completed(c, seq);
        });
      });
    }
  }

  protected hangUp(c: WsClient): void {
    c.ws?.terminate();
    c.ws = null;
    c.fragmenting = false;
  }

  /** The sequence number this echo answers, or null if it is not exactly a message this client sends. */
  private decode(c: WsClient, data: Buffer, isBinary: boolean): number | null {
    if (c.kind === 'binary') {
      if (!isBinary || data.length !== BINARY_BYTES || data.readUInt32BE(0) !== c.id) return null;
      const seq = data.readUInt32BE(4);
      return binaryOf(c.id, seq).equals(data) ? seq : null;
    }
    if (isBinary) return null;
    const text = data.toString();
    const match = /^c(\d+) m(\d+) /.exec(text);
    if (!match || Number(match[1]) !== c.id) return null;
    const seq = Number(match[2]);
    const expected = c.kind === 'text' ? textOf(c.id, seq) : fragmentsOf(c.id, seq).join('');
    return text === expected ? seq : null;
  }
}
