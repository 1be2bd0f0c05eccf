// The listening side of FdChannel: a Unix socket path that hands out one
// FdChannel per connecting process.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { FdlabError, isErrorWithCode } from '../errors';
import { FdChannel, type FdChannelOptions } from './fd-channel';

export interface ListenOptions extends FdChannelOptions {
  /** File mode of the socket (default 0o600: only this user may connect). */
  mode?: number;
}

export interface FdChannelServer {
  on(event: 'channel', listener: (channel: FdChannel) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
}

export class FdChannelServer extends EventEmitter {
  /**
   * Listens on `path`. A stale socket file left by a dead process is replaced;
   * one that still has a live listener is an EADDRINUSE error.
   */
  static async listen(path: string, options: ListenOptions = {}): Promise<FdChannelServer> {
    await removeStaleSocket(path);
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(Object.assign(error, { message: `FdChannelServer.listen(${path}): ${error.message}` })));
      server.listen({ path }, resolve);
    });
    fs.chmodSync(path, options.mode ?? 0o600);
    return new FdChannelServer(server, path, options);
  }

  private readonly waiting: Array<{ resolve: (c: FdChannel) => void; reject: (e: Error) => void }> = [];
  private readonly backlog: FdChannel[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly path: string,
    options: FdChannelOptions,
  ) {
    super();
    server.on('connection', (socket) => {
      FdChannel.fromSocket(socket, options).then(
        (channel) => this.hand(channel),
        (error: Error) => this.emit('error', error),
      );
    });
    server.on('error', (error) => this.emit('error', error));
  }

  /** The next connecting peer's channel. */
  accept(): Promise<FdChannel> {
    const ready = this.backlog.shift();
    if (ready) return Promise.resolve(ready);
    if (!this.server.listening) {
      return Promise.reject(new FdlabError('ERR_CHANNEL_CLOSED', `FdChannelServer(${this.path}) is closed`));
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Stops listening and removes the socket file; channels already handed out stay open. */
  close(): Promise<void> {
    for (const channel of this.backlog.splice(0)) channel.close();
    const error = new FdlabError('ERR_CHANNEL_CLOSED', `FdChannelServer(${this.path}) closed`);
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private hand(channel: FdChannel): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(channel);
    else if (this.listenerCount('channel') > 0) this.emit('channel', channel);
    else this.backlog.push(channel);
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) {
    throw new FdlabError('ERR_PATH_NOT_SOCKET', `FdChannelServer.listen: ${path} exists and is not a socket; remove it or pick another path`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error) => resolve(!isErrorWithCode(error, 'ECONNREFUSED')));
  });
  if (alive) {
    throw Object.assign(new FdlabError('EADDRINUSE', `FdChannelServer.listen: a live process already listens on ${path}`), {
      syscall: 'bind',
    });
  }
  fs.unlinkSync(path);
}
