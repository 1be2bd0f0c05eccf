// The demo service of seed 003: the client writes "ping", the server answers
// "pong", 4 bytes each. Pipelined pings get one pong each, in order; a ping
// split across writes still gets its pong. The session travels on upgrade.
import type * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { HandoverApp, Log, ServedConnection } from 'fdlab';

export interface PingSession {
  id: string;
  pingsServed: number;
  connectedSince: string;
}

function isPingSession(value: unknown): value is PingSession {
  const v = value as Partial<PingSession> | null;
  return typeof v === 'object' && v !== null && typeof v.id === 'string' && Number.isSafeInteger(v.pingsServed) && typeof v.connectedSince === 'string';
}

const PING = Buffer.from('ping');
const PONG = Buffer.from('pong');
const NOTHING = Buffer.alloc(0);

/** Adopted connections logged one by one; the rest are in the stats line. */
const ADOPTIONS_LOGGED = 3;

/**
 * A session id: 8 hex digits from a pool of random bytes. randomBytes(4) per
 * connection was 11 ms of every 1,000 accepts in a 10,000-connection storm
 * (a CPU profile of fdlab serve; one syscall each).
 */
let pool = Buffer.alloc(0);
let poolAt = 0;
function sessionId(): string {
  if (poolAt + 4 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  poolAt += 4;
  return pool.toString('hex', poolAt - 4, poolAt);
}

export class PingPongApp implements HandoverApp<PingSession> {
  private adoptionsLogged = 0;

  constructor(private readonly log: Log = () => {}) {}

  serve(socket: net.Socket, session?: PingSession, pending?: Buffer): ServedConnection<PingSession> {
    // A session comes from another process: use it only if it has the shape of one.
    const state: PingSession = isPingSession(session) ? session : { id: sessionId(), pingsServed: 0, connectedSince: new Date().toISOString() };
    if (session !== undefined && state !== session) this.log(`connection ${state.id}: the session it came with is not a ping session; starting a new one`);
    let partial: Buffer = NOTHING;
    const consume = (chunk: Buffer) => {
      partial = partial.length ? Buffer.concat([partial, chunk]) : chunk;
      let pongs = 0;
      let offset = 0;
      for (; offset + 4 <= partial.length; offset += 4) {
        if (!partial.subarray(offset, offset + 4).equals(PING)) {
          this.log(`connection ${state.id}: not a ping (${partial.subarray(offset, offset + 4).toString('hex')}); closing it`);
          socket.destroy();
          return;
        }
        pongs += 1;
      }
      partial = partial.subarray(offset);
      if (pongs > 0) {
        state.pingsServed += pongs;
        const flowing = socket.write(pongs === 1 ? PONG : Buffer.concat(Array(pongs).fill(PONG)));
        // Backpressure: a client that does not read its pongs gets no more
        // pings read until it does, so it cannot grow our memory (pause()
        // stops the kernel reads once Node's buffer is full).
        if (!flowing) {
          socket.pause();
          socket.once('drain', () => socket.resume());
        }
      }
    };
    // Socket options live in the kernel socket, so an adopted connection kept
    // the old version's TCP_NODELAY: setting it again is a syscall per connection
    // in the middle of a handover, for nothing.
    if (state !== session) socket.setNoDelay(true);
    socket.on('data', consume);
    socket.on('error', () => socket.destroy());
    if (session && this.adoptionsLogged++ < ADOPTIONS_LOGGED) this.log(`adopted connection ${state.id}: ${state.pingsServed} pings served since ${state.connectedSince}${pending?.length ? `, ${pending.length} bytes pending` : ''}`);
    // Bytes the previous owner read but did not answer: answer them now.
    if (pending && pending.length > 0) consume(pending);
    return { socket, snapshot: () => ({ session: state, pending: partial }) };
  }

  describe(connections: readonly ServedConnection<PingSession>[]): string {
    const served = connections.reduce((sum, c) => sum + c.snapshot().session.pingsServed, 0);
    return `${served} pings served on them`;
  }
}
