// FdChannel: messages of bytes plus fds over a Unix stream socket.
//
// The socket fd is driven directly (sendmsg/recvmsg through the native
// binding) and its readiness comes from libuv (a native uv_poll), so a send
// that meets a full socket buffer waits for writability instead of spinning.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { FdlabError, isErrorWithCode } from '../errors';
import { closeQuietly, codedError, fdsToInt32, setNonBlocking, socketpair } from '../fd/fds';
import { peerCredentials, type PeerCredentials } from '../fd/inspect';
import { SCM_MAX_FD, tryRecvFdsInto, trySendFdsOverUnixSocket } from '../fd/transfer';
import { binding, type RawPoller } from '../native/binding';
import { detachSocket } from '../socket/detach';
import { encodeMessage, FrameDecoder } from './frame';

export interface FdMessage {
  data: Buffer;
  /** Received fds belong to whoever takes the message: close or adopt them. */
  fds: number[];
}

export interface FdChannelOptions {
  /** Largest message accepted from the peer (default 16 MiB). */
  maxMessageBytes?: number;
  /** Largest number of fds in one message from the peer (default 65,536). */
  maxMessageFds?: number;
  /** Messages kept while nobody consumes them before reading pauses (default 1024). */
  inboxLimit?: number;
}

interface PendingSend {
  /** One frame: header and payload. */
  bytes: Buffer;
  /** Its fds, sent with its first byte. */
  fds: Int32Array;
  written: number;
  resolve?: () => void;
  reject?: (error: Error) => void;
}

const NO_DATA = Buffer.alloc(0);

/** Errors that mean the peer is gone, not that this channel is broken. */
const isPeerGone = (error: unknown) => ['EPIPE', 'ECONNRESET'].some((code) => isErrorWithCode(error, code));

type Waiter = { resolve: (message: FdMessage) => void; reject: (error: Error) => void };

const READS_PER_WAKEUP = 64;
const READ_CHUNK = 256 * 1024;

// Every channel receives into the same memory: the decoder copies out what it
// keeps before ingest returns, and nothing else runs in between (one thread),
// so no read allocates.
const readData = Buffer.allocUnsafeSlow(READ_CHUNK);
const readFds = new Int32Array(SCM_MAX_FD);
const readCounts = new Int32Array(2);
const NO_FDS = new Int32Array(0);

export interface FdChannel {
  on(event: 'message', listener: (message: FdMessage) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'close', listener: (hadError: boolean) => void): this;
  once(event: 'message', listener: (message: FdMessage) => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
  once(event: 'close', listener: (hadError: boolean) => void): this;
  on(event: 'newListener', listener: (event: string | symbol) => void): this;
}

export class FdChannel extends EventEmitter {
  /**
   * Connects to a channel listening on a Unix socket path. With `waitMs`,
   * a path that does not exist yet (or refuses) is retried until then: the
   * listener may be a process that is still starting.
   */
  static async connect(path: string, options: FdChannelOptions & { waitMs?: number } = {}): Promise<FdChannel> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (;;) {
      try {
        return await FdChannel.connectOnce(path, options);
      } catch (error) {
        const notYet = isErrorWithCode(error, 'ENOENT') || isErrorWithCode(error, 'ECONNREFUSED');
        if (!notYet || Date.now() >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private static async connectOnce(path: string, options: FdChannelOptions): Promise<FdChannel> {
    const socket = net.connect({ path });
    socket.pause(); // Node must not start reading: the bytes belong to the channel
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (error) => {
        const hint = isErrorWithCode(error, 'ENOENT') || isErrorWithCode(error, 'ECONNREFUSED')
          ? ` (nothing listens on ${path}: start the receiving side first)`
          : '';
        reject(Object.assign(error, { message: `FdChannel.connect(${path}): ${error.message}${hint}` }));
      });
    });
    return FdChannel.fromSocket(socket, options);
  }

  /** Takes over a connected Unix stream net.Socket (which is destroyed; its fd lives on, dup'ed). */
  static async fromSocket(socket: net.Socket, options: FdChannelOptions = {}): Promise<FdChannel> {
    const { fd, unread } = await detachSocket(socket);
    const channel = FdChannel.fromFd(fd, options);
    if (unread.length > 0) channel.ingest(unread, []);
    return channel;
  }

  /** Wraps a connected Unix stream socket fd; the channel owns and will close it. */
  static fromFd(fd: number, options: FdChannelOptions = {}): FdChannel {
    const description = binding.fdInfo(fd);
    if (description.kind !== 'unix' || description.socketType !== 'stream' || description.listening) {
      throw new FdlabError(
        'ERR_CHANNEL_NOT_UNIX_STREAM',
        `FdChannel: fd ${fd} is a ${description.kind} ${description.socketType ?? ''} socket; ` +
          'fds can only travel over a connected Unix stream socket (AF_UNIX, SOCK_STREAM)',
      );
    }
    setNonBlocking(fd, true);
    return new FdChannel(fd, options);
  }

  /** Two connected channels in this process: for tests, or to hand one end to a child. */
  static pair(options: FdChannelOptions = {}): [FdChannel, FdChannel] {
    const [a, b] = socketpair('stream');
    return [new FdChannel(a, options), new FdChannel(b, options)];
  }

  private fdValue: number;
  private readonly poller: RawPoller;
  private readonly decoder: FrameDecoder;
  private readonly inboxLimit: number;
  private readonly inbox: FdMessage[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly sendQueue: PendingSend[] = [];
  private waitingForWritable = false;
  /** What the poller watches now, so unchanged interest costs no native call. */
  private watchingRead = false;
  private watchingWrite = false;
  private closedWith: Error | null | undefined = undefined; // undefined while open
  private ended = false;
  /** Why the peer's side ended (null: a plain EOF); the channel closes with it once the inbox is empty. */
  private endedWith: Error | null | undefined = undefined;

  private constructor(fd: number, options: FdChannelOptions) {
    super();
    this.fdValue = fd;
    this.inboxLimit = options.inboxLimit ?? 1024;
    this.decoder = new FrameDecoder({
      maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
      maxMessageFds: options.maxMessageFds ?? 65536,
    });
    this.poller = new binding.Poller(fd, (error, readable, writable) => this.onPoll(error, readable, writable));
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message') setImmediate(() => this.deliverInbox());
    });
    this.updateInterest();
  }

  /** The Unix socket fd, or -1 once closed. */
  get fd(): number {
    return this.fdValue;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Messages sent but not yet taken by the kernel (the peer does not read fast enough, or at all). */
  get queuedSends(): number {
    return this.sendQueue.length;
  }

  /** Why the channel closed: the error, null for a clean close, undefined while open. */
  get closeReason(): Error | null | undefined {
    return this.closedWith;
  }

  /** Who is on the other end (SO_PEERCRED: pid, uid, gid as of connect). */
  peer(): PeerCredentials {
    this.assertOpen('peer');
    return peerCredentials(this.fdValue);
  }

  /**
   * Queues one message; resolves once the kernel holds all of it. The fds
   * are copied by the kernel: the caller still owns (and may then close) its own.
   */
  send(message: { data?: Buffer | string; fds?: readonly number[] }): Promise<void> {
    if (this.closed) {
      return Promise.reject(new FdlabError('ERR_CHANNEL_CLOSED', 'FdChannel.send: the channel is closed'));
    }
    if (this.ended) return Promise.reject(this.endedWith ?? new FdlabError('EPIPE', 'FdChannel.send: the peer has closed the channel')); // nothing can reach it
    let frames;
    try {
      // Checked here, where the mistake is the caller's: found later in
      // flush() it could only close the channel.
      const data = typeof message.data === 'string' ? Buffer.from(message.data) : (message.data ?? NO_DATA);
      if (!(data instanceof Uint8Array)) {
        throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'FdChannel.send: "data" must be a Buffer, Uint8Array or string');
      }
      const fds = message.fds ?? [];
      frames = encodeMessage(data, fds.length === 0 ? NO_FDS : fdsToInt32(fds, new Int32Array(fds.length)));
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      for (let i = 0; i < frames.length; i++) {
        const { bytes, fds } = frames[i];
        const last = i === frames.length - 1;
        this.sendQueue.push({ bytes, fds, written: 0, resolve: last ? resolve : undefined, reject });
      }
      if (!this.waitingForWritable) this.flush();
    });
  }

  /** The next message (from the inbox, or the next to arrive). */
  receive(): Promise<FdMessage> {
    const queued = this.inbox.shift();
    if (queued) {
      this.updateInterest();
      return Promise.resolve(queued);
    }
    if (this.closed || this.ended) {
      return Promise.reject(this.closedWith ?? new FdlabError('ERR_CHANNEL_CLOSED', 'FdChannel.receive: the channel is closed'));
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.updateInterest();
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<FdMessage> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (error) {
        if (isErrorWithCode(error, 'ERR_CHANNEL_CLOSED')) return;
        throw error;
      }
    }
  }

  /** Stops watching the fd without closing it, so the process can exit while idle. */
  unref(): this {
    if (!this.closed) this.poller.unref();
    return this;
  }

  ref(): this {
    if (!this.closed) this.poller.ref();
    return this;
  }

  /** Closes the socket, and every received fd nobody has taken yet. */
  close(): void {
    this.shutdown(null);
  }

  // ---- sending

  private flush(): void {
    while (this.sendQueue.length > 0 && !this.closed) {
      const pending = this.sendQueue[0];
      const { bytes, fds } = pending;
      let sent: number;
      try {
        // The fds go with the first byte only; a remainder is plain bytes.
        // fromFd and pair proved the socket AF_UNIX: no per-message check.
        sent = trySendFdsOverUnixSocket(this.fdValue, fds, pending.written === 0 ? fds.length : 0, bytes, pending.written);
      } catch (error) {
        if (isPeerGone(error)) this.peerGone(error as Error);
        else this.shutdown(error as Error);
        return;
      }
      if (sent < 0) {
        // The socket is full: wait for room (EAGAIN comes back as -1, not thrown).
        this.waitingForWritable = true;
        this.updateInterest();
        return;
      }
      pending.written += sent;
      if (pending.written === bytes.length) {
        this.sendQueue.shift();
        pending.resolve?.();
      }
    }
    this.waitingForWritable = false;
    this.updateInterest();
  }

  // ---- receiving

  private onPoll(error: Error | null, readable: boolean, writable: boolean): void {
    if (this.closed) return;
    if (error) {
      // libuv reports POLLERR as EBADF. On a Unix socket it means a pending
      // socket error, typically ECONNRESET: the peer died with bytes of ours
      // unread. Read what is still queued (it was sent before the end); the
      // read then fails with the real error, which closes the channel.
      this.peerGone(error);
      return;
    }
    if (writable && this.waitingForWritable) this.flush();
    if (readable) this.readAvailable();
  }

  private readAvailable(): void {
    for (let i = 0; i < READS_PER_WAKEUP && !this.closed && !this.ended; i++) {
      let bytes: number;
      try {
        bytes = tryRecvFdsInto(this.fdValue, readData, readFds, readCounts);
      } catch (error) {
        if (isPeerGone(error)) this.onPeerClosed(error as Error);
        else this.shutdown(error as Error);
        return;
      }
      if (bytes < 0) return; // drained (EAGAIN): the poller says when there is more
      const fdCount = readCounts[1];
      if (bytes === 0 && fdCount === 0) {
        this.onPeerClosed();
        return;
      }
      const fds: number[] = [];
      for (let f = 0; f < fdCount; f++) fds.push(readFds[f]);
      this.ingest(readData.subarray(0, bytes), fds);
      if (this.inbox.length >= this.inboxLimit) return; // updateInterest paused reading
    }
  }

  /** `data` may be the shared read buffer: the decoder copies what it keeps. */
  private ingest(data: Buffer, fds: number[]): void {
    let messages;
    try {
      messages = this.decoder.push(data, fds);
    } catch (error) {
      this.shutdown(error as Error);
      return;
    }
    for (const message of messages) {
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(message);
      // Behind what is queued: a listener added since gets the inbox first (deliverInbox,
      // in the check phase), and this poll may come before it. Emitted at once, a later
      // message overtook earlier ones: the upgrade's 'release' was read before the
      // 'switch' and 'done' queued ahead of it, and 13 connections were closed.
      else if (this.inbox.length === 0 && this.listenerCount('message') > 0) this.emit('message', message);
      else this.inbox.push(message);
    }
    this.updateInterest();
  }

  private deliverInbox(): void {
    while (this.inbox.length > 0 && this.listenerCount('message') > 0) {
      this.emit('message', this.inbox.shift());
    }
    this.updateInterest();
  }

  /** EOF (error null), or a read that says the peer is gone (ECONNRESET). */
  private onPeerClosed(error: Error | null = null): void {
    if (this.decoder.midMessage) {
      this.shutdown(
        new FdlabError('ERR_CHANNEL_TRUNCATED', 'FdChannel: the peer closed the channel in the middle of a message'),
      );
      return;
    }
    this.ended = true;
    if (error) this.endedWith = error;
    else this.endedWith ??= null;
    // Messages already in the inbox stay receivable; the channel closes once they are taken.
    if (this.inbox.length === 0) this.shutdown(this.endedWith ?? null);
    else this.updateInterest();
  }

  /**
   * A send or poll says the peer is gone (EPIPE, ECONNRESET; libuv reports
   * POLLERR as EBADF). What it sent before it went still counts: no send can
   * succeed any more, but everything queued in the kernel is read into the
   * inbox, and the channel closes with the error once that is taken.
   */
  private peerGone(error: Error): void {
    if (this.closed) return;
    this.endedWith = error; // unless a read names the real error (ECONNRESET behind libuv's EBADF)
    for (const pending of this.sendQueue.splice(0)) pending.reject?.(error);
    this.waitingForWritable = false;
    while (!this.closed && !this.ended) {
      const inbox = this.inbox.length;
      this.readAvailable();
      if (this.inbox.length === inbox && !this.ended && !this.closed) break; // nothing more (EAGAIN)
    }
    if (!this.closed && !this.ended) this.onPeerClosed(error);
  }

  // ---- life cycle

  private updateInterest(): void {
    if (this.closed) return;
    if (this.ended && this.inbox.length === 0) {
      this.shutdown(this.endedWith ?? null);
      return;
    }
    const wantRead = !this.ended && this.inbox.length < this.inboxLimit;
    if (wantRead === this.watchingRead && this.waitingForWritable === this.watchingWrite) return;
    this.poller.start(wantRead, this.waitingForWritable);
    // Recorded only once the poller took it: a start that threw changed nothing.
    this.watchingRead = wantRead;
    this.watchingWrite = this.waitingForWritable;
  }

  private shutdown(error: Error | null): void {
    if (this.closed) return;
    this.closedWith = error;
    this.poller.close();
    const unclaimed = this.decoder.heldFds();
    for (const message of this.inbox.splice(0)) unclaimed.push(...message.fds);
    this.decoder.clear();
    closeQuietly(unclaimed);
    closeQuietly([this.fdValue]);
    this.fdValue = -1;
    const failure = error ?? new FdlabError('ERR_CHANNEL_CLOSED', 'FdChannel: the channel is closed');
    for (const pending of this.sendQueue.splice(0)) pending.reject?.(failure);
    for (const waiter of this.waiters.splice(0)) waiter.reject(failure);
    if (error && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error !== null);
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new FdlabError('ERR_CHANNEL_CLOSED', `FdChannel.${what}: the channel is closed`);
  }
}
