// The far end of a TCP connection, run inside the check itself: it accepts,
// records every line each connection brought and when its end of stream came,
// so a check can say what the peer saw, not what a process claims it did.
import { EventEmitter, once } from 'node:events';
import * as net from 'node:net';

export interface PeerConnection {
  /** The client's address as the peer sees it: "127.0.0.1:40312". */
  remote: string;
  lines: string[];
  /** How many lines had come when the end of stream (FIN) came; undefined: not yet. */
  linesAtEnd?: number;
  /** When the end of stream came (Date.now()). */
  endedAt?: number;
}

export class TcpPeer {
  readonly connections: PeerConnection[] = [];
  private readonly changes = new EventEmitter();
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {
    server.on('connection', (socket) => {
      const connection: PeerConnection = { remote: `${socket.remoteAddress}:${socket.remotePort}`, lines: [] };
      this.connections.push(connection);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      let pending = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        pending += chunk;
        for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
          connection.lines.push(pending.slice(0, end));
          pending = pending.slice(end + 1);
        }
        this.changes.emit('change');
      });
      socket.on('end', () => {
        connection.linesAtEnd = connection.lines.length;
        connection.endedAt = Date.now();
        this.changes.emit('change');
      });
      socket.on('error', () => socket.destroy());
      this.changes.emit('change');
    });
  }

  static async start(): Promise<TcpPeer> {
    const server = net.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new TcpPeer(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Resolves true once `done()` holds, false when `ms` pass first (a deadline, not a pause). */
  until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        finish(true);
      };
      const finish = (value: boolean) => {
        clearTimeout(timer);
        this.changes.off('change', check);
        resolve(value);
      };
      const timer = setTimeout(() => finish(false), ms);
      this.changes.on('change', check);
    });
  }

  /** Stops listening and cuts whatever is still connected. */
  close(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
  }
}
