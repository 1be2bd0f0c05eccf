// The new version's side of an upgrade (docs/handover.md, "new side"):
// connect, check that the old side is who it should be, say hello, take the
// listener and every connection as they arrive (each checked, each wrapped in
// a socket that does not read yet), acknowledge, and serve only at the commit.
// Until then the old version owns everything, so failing here loses nothing.
import { FdChannel } from '../channel';
import { FdlabError } from '../errors';
import { closeQuietly } from '../fd/fds';
import { requireStreamSocket } from '../socket/adopt';
import { Arrivals, type Incoming } from './arrivals';
import { certainlyDead, isHangUp, nextMessage, type Received } from './peer';
import { encode, garbled, MAX_UPGRADE_MESSAGE, type FromOld } from './protocol';
import { readTokenFile } from './state-dir';
import type { NewState, StateMachine } from './states';
import type { Log } from './types';

export interface TakeOverOptions<S> {
  upgradeSocket: string;
  /** The one-time token for the hello; without it, the token file beside the socket (externalSuccessor). */
  token?: string;
  version: string;
  timeoutMs: number;
  /** The old side must run as this uid (default: ours). */
  expectedPeerUid: number;
  log: Log;
  machine: StateMachine<NewState>;
  /**
   * Called with everything received, just before the ack: the app may serve
   * the connections now, so that the commit only has to let them read.
   */
  prepare?: (incoming: Incoming<S>[]) => void;
}

export interface TakenOver<S> {
  listenerFd: number;
  /** What arrived; at the commit only the first group is switched, the rest follows on the channel. */
  arrivals: Arrivals<S>;
  oldPid: number;
  /** Open while the old version streams the rest and stands by; null if it is gone (orphaned). */
  channel: FdChannel | null;
}

/** How long a failed take-over waits to tell the old side why before it gives up telling. */
const REFUSE_WAIT_MS = 1000;

/** Takes over from the old version on `upgradeSocket`: resolves at the commit (or orphaned), rejects (coded) otherwise. */
export async function takeOver<S>(options: TakeOverOptions<S>): Promise<TakenOver<S>> {
  let channel: FdChannel;
  try {
    channel = await connect(options);
  } catch (error) {
    options.machine.to('failed');
    throw error;
  }
  return new Taking<S>(options, channel).run();
}

/** Connects, and refuses an old side running as another uid. */
async function connect<S>(options: TakeOverOptions<S>): Promise<FdChannel> {
  const channel = await FdChannel.connect(options.upgradeSocket, { waitMs: Math.min(options.timeoutMs, 5000), maxMessageBytes: MAX_UPGRADE_MESSAGE });
  const old = channel.peer();
  if (old.uid !== options.expectedPeerUid) {
    channel.close();
    throw new FdlabError('ERR_UPGRADE_UNTRUSTED', `the process on ${options.upgradeSocket} runs as uid ${old.uid}, not ${options.expectedPeerUid}: not taking anything from it`);
  }
  return channel;
}

/** One taking over, connected: its steps, each a state of NEW_STATES. */
class Taking<S> {
  private readonly arrivals = new Arrivals<S>();
  private readonly oldPid: number;
  private listenerFd = -1;
  private deadline: number;

  constructor(private readonly options: TakeOverOptions<S>, private readonly channel: FdChannel) {
    this.oldPid = channel.peer().pid;
    this.deadline = Date.now() + options.timeoutMs;
  }

  async run(): Promise<TakenOver<S>> {
    try {
      await this.hello();
      const orphaned = await this.receive();
      if (orphaned) return orphaned;
      return await this.ackAndAwaitCommit();
    } catch (error) {
      await this.fail(error);
      throw error;
    }
  }

  /** hello-sent: our pid, version and token; the listener comes back. */
  private async hello(): Promise<void> {
    const { options, channel } = this;
    options.machine.to('hello-sent');
    const token = options.token ?? readTokenFile(options.upgradeSocket) ?? '';
    await channel.send({ data: encode({ type: 'hello', pid: process.pid, version: options.version, token }) });
    const first = await nextMessage(channel, 'old', this.deadline, 'while waiting for the listener');
    if (first.message.type !== 'listener') throw refusal(first.message, 'listener');
    this.listenerFd = first.fds[0];
    requireStreamSocket(this.listenerFd, true, 'the listener');
    // The old side's deadline governs; allow for the clocks' start difference.
    this.deadline = Date.now() + first.message.remainingMs + 1000;
  }

  /** receiving: copies, ready, then the first group; resolves at its switch (or orphaned). */
  private async receive(): Promise<TakenOver<S> | null> {
    this.options.machine.to('receiving');
    for (;;) {
      let received: Received<FromOld>;
      try {
        received = await nextMessage(this.channel, 'old', this.deadline, 'while receiving connections');
      } catch (error) {
        // Mid-transfer the old side may have batches it never wrote: serve only if it is certainly dead.
        return this.orphanedIfDead(error, 'in the middle of the transfer');
      }
      const step = await this.take(received);
      if (step !== 'more') return step;
    }
  }

  /** One message while receiving: 'more' to go on, null at the first switch, or orphaned. */
  private async take({ message, fds, bytes }: Received<FromOld>): Promise<'more' | TakenOver<S> | null> {
    const { arrivals } = this;
    if (message.type === 'copies') {
      arrivals.takeCopies(message.copies, fds);
    } else if (message.type === 'copies-end') {
      if (message.copies !== arrivals.copiesLeft) throw garbled(`'copies-end' says ${message.copies} copies, ${arrivals.copiesLeft} came`);
      // Every copy is wrapped: the old version may stop serving now (it waits for this, still serving).
      try {
        await this.channel.send({ data: encode({ type: 'ready', copies: arrivals.copiesLeft }) });
      } catch (error) {
        return this.orphanedIfDead(error, 'as we took its copies');
      }
    } else if (message.type === 'connections') {
      arrivals.takeDetached(message.entries, fds, bytes);
    } else if (message.type === 'switch') {
      arrivals.applySwitch(message, bytes); // the first group: the commit follows our ack
      return null;
    } else {
      closeQuietly(fds);
      throw refusal(message, 'copies, connections or switch');
    }
    return 'more';
  }

  /** acked: the app serves the first group (held still); our ack; the commit. */
  private async ackAndAwaitCommit(): Promise<TakenOver<S>> {
    const { options, channel, arrivals } = this;
    options.prepare?.(arrivals.taken);
    options.machine.to('acked');
    let verdict: Received<FromOld>;
    try {
      await channel.send({ data: encode({ type: 'ack', pid: process.pid, connections: arrivals.taken.length }) });
      verdict = await nextMessage(channel, 'old', this.deadline, 'while waiting for the commit');
    } catch (error) {
      // We hold everything; the old side hung up before its commit. If it died, we are all
      // there is: serve. If it lives, it rolled back (its abort lost): serving too would
      // put two readers on every connection.
      return this.orphanedIfDead(error, 'after sending everything, before its commit');
    }
    if (verdict.message.type !== 'commit') throw refusal(verdict.message, 'commit');
    options.machine.to('serving-standby');
    const from = this.oldPid === 0 ? 'the old version (in another pid namespace: SO_PEERCRED says pid 0)' : `pid ${this.oldPid}`;
    options.log(`took over the listener and the first ${arrivals.taken.length} connections from ${from}`);
    return { listenerFd: this.listenerFd, arrivals, oldPid: this.oldPid, channel };
  }

  /** A hang-up from an old side that certainly died: we serve what we have. Anything else is rethrown. */
  private async orphanedIfDead(error: unknown, when: string): Promise<TakenOver<S>> {
    if (!isHangUp(error) || !(await certainlyDead(this.oldPid))) throw error;
    this.options.machine.to('orphaned');
    // Copies whose state never came are served as fresh connections: better than closing them.
    this.arrivals.unswitched();
    this.options.log(`the old version vanished ${when}: serving the listener and the ${this.arrivals.taken.length} connections it had sent`);
    return { listenerFd: this.listenerFd, arrivals: this.arrivals, oldPid: this.oldPid, channel: null };
  }

  /** failed: tell the old side why (unless it hung up), and close every copy we made. */
  private async fail(error: unknown): Promise<void> {
    const { options, channel } = this;
    if (options.machine.can('failed')) options.machine.to('failed');
    if (!isHangUp(error) && !channel.closed) {
      // The code too: the old version's rollback then says what to fix (ERR_PID_FILE, ...). A reason is at most 1,024 characters.
      const code = (error as { code?: string }).code;
      const reason = `${(error as Error).message}${code ? ` [${code}]` : ''}`.slice(0, 1024);
      // Sent before start() rejects: an app that exits on that rejection (most do) lost it otherwise, and the old
      // version said only "the successor exited (code 1)". At most REFUSE_WAIT_MS: an old side that reads nothing.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        channel.send({ data: encode({ type: 'refuse', reason }) }).catch(() => {}),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, REFUSE_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    channel.close();
    closeQuietly(this.listenerFd >= 0 ? [this.listenerFd] : []);
    this.arrivals.dropAll();
  }
}

function refusal(message: FromOld, expected: string): FdlabError {
  if (message.type === 'abort') return new FdlabError('ERR_UPGRADE_ABORTED', `the old version aborted the upgrade: ${message.reason}`);
  if (message.type === 'refuse') return new FdlabError('ERR_UPGRADE_REFUSED', `the old version refused us: ${message.reason}`);
  return garbled(`expected '${expected}', got '${message.type}'`);
}
