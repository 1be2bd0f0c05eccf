// Clients of lab 5's challenges: each keeps pings in flight on one connection
// and counts what comes back. Pinger: "ping" / "pong", 4 bytes each way.
// SessionPinger: "ping\n" / "pong <n>\n", and checks that pong n follows pong
// n-1, so a server that forgot the session shows as the first number out of order.
import * as net from 'node:net';

abstract class PingClient {
  sent = 0;
  received = 0;
  closed = false;
  sending = true;
  readonly socket: net.Socket;
  private waiters: { pongs: number; resolve: () => void }[] = [];

  constructor(port: number, inFlight: number, private readonly pingText: string) {
    this.socket = net.connect(port, '127.0.0.1', () => {
      for (let i = 0; i < inFlight; i++) this.ping();
    });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      const pongs = this.pongsIn(chunk);
      this.received += pongs;
      for (let i = 0; i < pongs && this.sending; i++) this.ping();
      this.waiters = this.waiters.filter((w) => (this.received >= w.pongs ? (w.resolve(), false) : true));
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }

  /** How many whole pongs this chunk completes. */
  protected abstract pongsIn(chunk: Buffer): number;

  private ping(): void {
    this.socket.write(this.pingText);
    this.sent += 1;
  }

  /** Resolves once `pongs` pongs in all have come. */
  until(pongs: number): Promise<void> {
    return this.received >= pongs ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ pongs, resolve }));
  }
}

export class Pinger extends PingClient {
  private bytes = 0;

  constructor(port: number, inFlight: number) {
    super(port, inFlight, 'ping');
  }

  protected pongsIn(chunk: Buffer): number {
    this.bytes += chunk.length;
    return Math.floor(this.bytes / 4) - this.received;
  }
}

export class SessionPinger extends PingClient {
  /** The first pong out of order: what came, and what should have. */
  firstJump?: { expected: number; got: number };
  private pending = '';

  constructor(port: number, inFlight: number) {
    super(port, inFlight, 'ping\n');
  }

  protected pongsIn(chunk: Buffer): number {
    this.pending += chunk.toString();
    let pongs = 0;
    for (let end = this.pending.indexOf('\n'); end >= 0; end = this.pending.indexOf('\n')) {
      const number = Number(/^pong (\d+)$/.exec(this.pending.slice(0, end))?.[1]);
      this.pending = this.pending.slice(end + 1);
      pongs += 1;
      const expected = this.received + pongs;
      if (number !== expected && !this.firstJump) this.firstJump = { expected, got: number };
    }
    return pongs;
  }
}

/** Resolves true once every pinger has had `pongs(p)` pongs. */
export const allUntil = <P extends PingClient>(pingers: P[], pongs: (p: P) => number) => Promise.all(pingers.map((p) => p.until(pongs(p)))).then(() => true);
