// A ping/pong client for the hot-upgrade tests: many connections of three
// kinds (one ping per write, two pipelined, one split across two writes),
// counting every ping and pong per connection and every hang-up by the server.
import * as net from 'node:net';
import { until } from './fds';

export type Kind = 'plain' | 'pipelined' | 'split';
const KINDS: Kind[] = ['plain', 'pipelined', 'split'];

interface Connection {
  socket: net.Socket;
  kind: Kind;
  pings: number;
  pongs: number;
  garbage: number;
  /** A split ping's 'pi' went out and its 'ng' not yet. */
  halfSent: boolean;
}

export class Pinger {
  private readonly connections: Connection[] = [];
  /** Connections the server side closed or reset (ours are not counted). */
  disconnects = 0;
  private stopping = false;
  private timer?: NodeJS.Timeout;

  private constructor() {}

  /** Opens `count` connections (to `host`: a container's address, say) and waits until each has had one pong (so the server has surely accepted it). */
  static async connect(port: number, count: number, kinds: readonly Kind[] = KINDS, host = '127.0.0.1'): Promise<Pinger> {
    const pinger = new Pinger();
    for (let i = 0; i < count; i++) {
      const socket = net.connect(port, host);
      const connection: Connection = { socket, kind: kinds[i % kinds.length], pings: 0, pongs: 0, garbage: 0, halfSent: false };
      socket.setNoDelay(true);
      socket.on('data', (data: Buffer) => {
        for (let offset = 0; offset < data.length; offset += 4) {
          if (data.toString('latin1', offset, offset + 4) === 'pong') connection.pongs += 1;
          else connection.garbage += 1;
        }
      });
      socket.on('close', () => {
        if (!pinger.stopping) pinger.disconnects += 1;
      });
      socket.on('error', () => {});
      pinger.connections.push(connection);
    }
    pinger.pingAll();
    await until(10_000, `a first pong on each of ${count} connections`, () => pinger.connections.every((c) => c.pongs > 0 || c.socket.destroyed));
    return pinger;
  }

  get pings(): number {
    return this.connections.reduce((sum, c) => sum + c.pings, 0);
  }

  get pongs(): number {
    return this.connections.reduce((sum, c) => sum + c.pongs, 0);
  }

  get garbage(): number {
    return this.connections.reduce((sum, c) => sum + c.garbage, 0);
  }

  start(everyMs = 20): void {
    this.timer = setInterval(() => this.pingAll(), everyMs);
  }

  /** Stops pinging, waits for every pong still due, and closes. */
  async stop(ms = 10_000): Promise<{ pings: number; pongs: number; garbage: number; disconnects: number }> {
    clearInterval(this.timer);
    try {
      await until(ms, `all pongs (${this.pongs} of ${this.pings})`, () => this.pongs >= this.pings || this.disconnects > 0, 10);
    } catch {
      // Reported by the counts below: the caller asserts on them.
    }
    const result = { pings: this.pings, pongs: this.pongs, garbage: this.garbage, disconnects: this.disconnects };
    this.close();
    return result;
  }

  /**
   * Stops pinging and waits until every connection still open has all its
   * pongs; then the counts over the open ones, and how many the server closed.
   */
  async settleOpen(ms = 10_000): Promise<{ open: number; pings: number; pongs: number; garbage: number; closed: number }> {
    clearInterval(this.timer);
    for (const c of this.connections) this.sendSecondHalf(c);
    const open = () => this.connections.filter((c) => !c.socket.destroyed && !c.socket.readableEnded);
    const sum = (key: 'pings' | 'pongs' | 'garbage') => open().reduce((total, c) => total + c[key], 0);
    await until(ms, () => `every pong on the open connections (${sum('pongs')} of ${sum('pings')})`, () => open().every((c) => c.pongs >= c.pings && !c.halfSent), 10);
    return { open: open().length, pings: sum('pings'), pongs: sum('pongs'), garbage: sum('garbage'), closed: this.disconnects };
  }

  /**
   * Sends the first half ('pi') of a ping on every split connection and leaves
   * it there: the server holds half a ping until the next tick (or settle())
   * sends the 'ng'. For a half ping that must cross a handover.
   */
  halfPing(): void {
    for (const c of this.connections) {
      if (c.kind !== 'split' || c.socket.destroyed) continue;
      this.sendSecondHalf(c);
      c.socket.write('pi');
      c.halfSent = true;
      c.pings += 1;
    }
  }

  /**
   * Stops pinging and waits for every pong still due, leaving the connections
   * open (so the server's sessions can be read before they close).
   */
  async settle(ms = 10_000): Promise<{ pings: number; pongs: number; garbage: number; disconnects: number }> {
    clearInterval(this.timer);
    for (const c of this.connections) this.sendSecondHalf(c);
    try {
      await until(ms, `all pongs (${this.pongs} of ${this.pings})`, () => this.pongs >= this.pings || this.disconnects > 0, 10);
    } catch {
      // Reported by the counts below: the caller asserts on them.
    }
    return { pings: this.pings, pongs: this.pongs, garbage: this.garbage, disconnects: this.disconnects };
  }

  close(): void {
    clearInterval(this.timer);
    this.stopping = true;
    for (const { socket } of this.connections) socket.destroy();
  }

  /**
   * One tick of the interval. A split ping's second half goes out on
   * setImmediate, but that is not always before the next tick: on a loaded
   * machine Node 20 ran the interval twice in a row before the immediates
   * (strace of the client: 'pi', 'pi', then 'ng', 'ng'), and the server
   * rightly closed the connection on "pipi". So a tick first finishes a split
   * ping still half sent.
   */
  pingAll(): void {
    for (const c of this.connections) {
      if (c.socket.destroyed) continue;
      if (c.kind === 'plain') {
        c.socket.write('ping');
        c.pings += 1;
      } else if (c.kind === 'pipelined') {
        c.socket.write('pingping');
        c.pings += 2;
      } else {
        if (c.halfSent) this.sendSecondHalf(c);
        c.socket.write('pi');
        c.halfSent = true;
        setImmediate(() => this.sendSecondHalf(c));
        c.pings += 1;
      }
    }
  }

  private sendSecondHalf(c: Connection): void {
    if (!c.halfSent || c.socket.destroyed) return;
    c.halfSent = false;
    c.socket.write('ng');
  }
}
