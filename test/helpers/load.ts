// Paced client load for bench:ws and bench:http (and tests): N clients, each
// sending one message (ws) or request (http) every intervalMs, never faster,
// checking that every answer arrives once and in order. A client the server
// disconnects reconnects like a real one (full-jitter backoff: a random wait
// of up to reconnectMs, doubling after each failed connect, at most 2 s),
// sends at once and goes on; one whose answer is overdue by timeoutMs gives
// up on its connection (closes it, counts a timeout) and reconnects the same
// way, as a client with a request timeout or a heartbeat would. What the clients see is recorded per window (the steady state, each
// upgrade): disconnects, lost / duplicated / reordered answers, the latency of
// each answer, the longest wait any client had, and the time until every
// client that lost its connection is served again. ws-load.ts and
// http-load.ts say what a message and an answer are.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Delay } from '../../bench/upgrade-types';
import { until } from './fds';

export const now = (): number => performance.now();

/** The longest a reconnecting client waits between attempts. */
const MAX_BACKOFF_MS = 2000;
const BUCKET_MS = 100;

export interface Counts {
  /** Messages (requests) sent: the first byte written. */
  sent: number;
  /** Answered once, unchanged, by the connection they were sent on. */
  answered: number;
  /** Sent, but the connection closed before the answer came. */
  lost: number;
  /** An answer to something already answered. */
  duplicated: number;
  /** An answer that came before the answer to something sent earlier on the same connection. */
  reordered: number;
  /** An answer that is not what was sent (or an error status). */
  garbage: number;
  /** Connections the server closed or reset. */
  disconnects: number;
  /** Connections the client closed: an answer was overdue by timeoutMs (what it waited for is lost). */
  timeouts: number;
  /** Connections opened again after a disconnect. */
  reconnects: number;
  /** Connects that failed (refused, reset) while reconnecting. */
  connectFailures: number;
}

const zero = (): Counts => ({ sent: 0, answered: 0, lost: 0, duplicated: 0, reordered: 0, garbage: 0, disconnects: 0, timeouts: 0, reconnects: 0, connectFailures: 0 });


export interface WindowReport {
  label: string;
  /** ms since the load started. */
  from_ms: number;
  to_ms: number;
  counts: Counts;
  /** Messages (requests) sent and not yet answered when the window opened, and on how many clients. */
  in_flight: number;
  clients_in_flight: number;
  /** Latency of the answers to what was fully sent in this window. */
  delay: Delay;
  /** The longest any client waited for an answer (across a reconnect too), ending in this window. */
  max_wait_ms: number;
  /** Clients whose connection the server closed in this window. */
  disrupted: number;
  /** Window start → the last disrupted client had an answer on a new connection; null when none was disrupted. */
  all_served_ms: number | null;
}

export interface LoadReport {
  clients: number;
  interval_ms: number;
  reconnect_ms: number;
  timeout_ms: number;
  kinds: Record<string, number>;
  ready_ms: number;
  end_ms: number;
  totals: Counts;
  /** Still unanswered when the load stopped (after a drain): counted in totals.lost. */
  unanswered_at_end: number;
  windows: WindowReport[];
  /** Per 100 ms of send time: answers, latency percentiles (-1: none), clients down at the bucket's end. */
  series: { bucket_ms: number; count: number[]; p50_ms: number[]; p99_ms: number[]; max_ms: number[]; down: number[] };
  marks: { what: string; k: number; ms: number }[];
  headroom: { cpu_fraction: number; loop_delay_p99_ms: number; loop_delay_max_ms: number };
}

export interface LoadOptions {
  clients: number;
  intervalMs: number;
  /** The first reconnect waits a random 0..reconnectMs. */
  reconnectMs: number;
  /** An answer overdue by this long: the client closes the connection and reconnects. */
  timeoutMs: number;
}

interface Outstanding {
  seq: number;
  /** When its last byte went out; NaN while it is being sent (a fragmented message, a slow body). */
  sentAt: number;
}

export abstract class LoadClient {
  connected = false;
  nextSeq = 0;
  readonly outstanding: Outstanding[] = [];
  /** Since when this client has been waiting for an answer (or for a connection); null: not waiting. */
  waitingSince: number | null = null;
  lastAnswerAt = -Infinity;
  /** In the open window: the last disconnect, and the first answer after it. */
  lostAt: number | null = null;
  servedAt: number | null = null;
  /** Consecutive failed connects. */
  failures = 0;
  opened = 0;

  constructor(readonly id: number, readonly kind: string) {}
}

interface Window {
  label: string;
  from: number;
  counts: Counts;
  latencies: number[];
  maxWait: number;
  inFlight: number;
  clientsInFlight: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

export function delayOf(latencies: number[]): Delay {
  const list = [...latencies].sort((a, b) => a - b);
  return { count: list.length, p50_ms: round(percentile(list, 0.5)), p99_ms: round(percentile(list, 0.99)), p999_ms: round(percentile(list, 0.999)), max_ms: round(list.at(-1) ?? 0) };
}

export abstract class Load<C extends LoadClient> {
  protected readonly clients: C[] = [];
  private readonly counts = zero();
  private readonly t0 = now();
  private readyAt = NaN;
  private window: Window | null = null;
  private readonly windows: WindowReport[] = [];
  private readonly marks: LoadReport['marks'] = [];
  private readonly buckets: number[][] = [];
  private readonly down: number[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private sampler?: NodeJS.Timeout;
  private running = false;
  protected stopping = false;
  private report?: LoadReport;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private readonly cpu0 = process.cpuUsage();

  constructor(readonly options: LoadOptions) {}

  /** Starts a connection for `c`; calls opened(c) once open and closed(c, 'server' or 'refused') when it ends. */
  protected abstract open(c: C): void;
  /** Called every intervalMs while `c` is connected: send the next message (or not, if busy). */
  protected abstract tick(c: C): void;
  /** Closes `c`'s connection from our side (at the end). */
  protected abstract hangUp(c: C): void;
  /** What else a stuck client's error should say. */
  protected state(_c: C): string {
    return '';
  }

  /** Opens every connection (100 at a time) and starts the pacing. */
  async start(ms = 60_000): Promise<void> {
    this.loopDelay.enable();
    for (let i = 0; i < this.clients.length; i += 100) {
      const batch = this.clients.slice(i, i + 100);
      for (const c of batch) this.open(c);
      await until(ms, () => `${batch.filter((c) => !c.connected).length} of clients ${i}..${i + batch.length - 1} to connect`, () => batch.every((c) => c.connected), 5);
    }
    this.readyAt = now();
    this.running = true;
    for (const c of this.clients) {
      // Spread evenly: each client ticks at its own phase of the interval.
      this.later(Math.random() * this.options.intervalMs, () => {
        const timer = setInterval(() => c.connected && this.running && this.tick(c), this.options.intervalMs);
        this.timers.add(timer);
        if (c.connected && this.running) this.tick(c);
      });
    }
    this.sampler = setInterval(() => {
      const t = now();
      this.down[Math.floor((t - this.t0) / BUCKET_MS)] = this.clients.filter((c) => !c.connected).length;
      for (const c of this.clients) {
        const oldest = c.connected ? c.outstanding.find((o) => !Number.isNaN(o.sentAt)) : undefined;
        if (oldest && t - oldest.sentAt > this.options.timeoutMs) {
          this.hangUp(c); // its close event is ignored from now on
          this.closed(c, 'timeout');
        }
      }
    }, BUCKET_MS);
  }

  /** A timeout that stop() clears. */
  protected later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  mark(what: string, k: number, at = now()): void {
    this.marks.push({ what, k, ms: round(at - this.t0) });
  }

  openWindow(label: string): void {
    const busy = this.clients.filter((c) => c.outstanding.length > 0);
    this.window = { label, from: now(), counts: { ...this.counts }, latencies: [], maxWait: 0, inFlight: busy.reduce((sum, c) => sum + c.outstanding.length, 0), clientsInFlight: busy.length };
    for (const c of this.clients) {
      c.lostAt = null;
      c.servedAt = null;
    }
  }

  closeWindow(): WindowReport {
    const w = this.window!;
    this.window = null;
    const counts = Object.fromEntries(Object.entries(this.counts).map(([key, value]) => [key, value - w.counts[key as keyof Counts]])) as unknown as Counts;
    const disrupted = this.clients.filter((c) => c.lostAt !== null);
    const report: WindowReport = {
      label: w.label,
      from_ms: round(w.from - this.t0),
      to_ms: round(now() - this.t0),
      counts,
      in_flight: w.inFlight,
      clients_in_flight: w.clientsInFlight,
      delay: delayOf(w.latencies),
      max_wait_ms: round(w.maxWait),
      disrupted: disrupted.length,
      all_served_ms: disrupted.length ? round(Math.max(...disrupted.map((c) => c.servedAt!)) - w.from) : null,
    };
    this.windows.push(report);
    return report;
  }

  /**
   * Waits until every client is connected and has had an answer after `after`
   * (the upgrade is over: nobody is waiting for a connection or a lost answer),
   * then closes the window.
   */
  async windowDone(after: number, ms: number): Promise<WindowReport> {
    const back = (c: C) => c.connected && c.lastAnswerAt >= after;
    const stuck = () => {
      const late = this.clients.filter((c) => !back(c));
      const t = now();
      const some = late.slice(0, 3).map((c) => `client ${c.id} (${c.kind}): ${c.connected ? 'connected' : 'not connected'}, ${c.outstanding.length} in flight, ${c.waitingSince === null ? 'not waiting' : `waiting ${Math.round(t - c.waitingSince)} ms`}, ${this.state(c)}`);
      return `every client answered again (${late.length} of ${this.clients.length} not yet, ${this.clients.filter((c) => !c.connected).length} not connected: ${some.join('; ')})`;
    };
    await until(ms, stuck, () => this.clients.every(back), 5);
    return this.closeWindow();
  }

  /** Stops sending, waits up to `drainMs` for the answers still due, then closes every connection. */
  async stop(drainMs = 5000): Promise<LoadReport> {
    if (this.report) return this.report;
    this.running = false; // no new message; the ones half sent (fragments, slow bodies) are finished
    await until(drainMs, 'the last answers', () => this.clients.every((c) => c.outstanding.length === 0 || !c.connected), 5).catch(() => {});
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const unanswered = this.clients.reduce((sum, c) => sum + c.outstanding.length, 0);
    this.counts.lost += unanswered;
    this.stopping = true;
    clearInterval(this.sampler);
    for (const c of this.clients) this.hangUp(c);
    this.loopDelay.disable();
    const cpu = process.cpuUsage(this.cpu0);
    const end = now();
    const kinds: Record<string, number> = {};
    for (const c of this.clients) kinds[c.kind] = (kinds[c.kind] ?? 0) + 1;
    this.report = {
      clients: this.clients.length,
      interval_ms: this.options.intervalMs,
      reconnect_ms: this.options.reconnectMs,
      timeout_ms: this.options.timeoutMs,
      kinds,
      ready_ms: round(this.readyAt - this.t0),
      end_ms: round(end - this.t0),
      totals: { ...this.counts },
      unanswered_at_end: unanswered,
      windows: this.windows,
      series: this.series(),
      marks: this.marks,
      headroom: {
        cpu_fraction: round((cpu.user + cpu.system) / 1000 / (end - this.t0)),
        loop_delay_p99_ms: round(this.loopDelay.percentile(99) / 1e6),
        loop_delay_max_ms: round(this.loopDelay.max / 1e6),
      },
    };
    return this.report;
  }

  // ---- what the subclasses report

  protected opened(c: C): void {
    c.connected = true;
    c.failures = 0;
    if (c.opened++ === 0) return;
    this.counts.reconnects += 1;
    // Back: a real client sends at once (resubscribes, retries), not at its next tick.
    if (this.running) this.tick(c);
  }

  /** A message (request) starts going out: its sequence number. `complete`: all of it is written now. */
  protected sent(c: C, complete: boolean): number {
    const seq = c.nextSeq++;
    this.counts.sent += 1;
    c.outstanding.push({ seq, sentAt: NaN });
    if (complete) this.completed(c, seq);
    return seq;
  }

  /** The last byte of message `seq` went out. */
  protected completed(c: C, seq: number): void {
    const t = now();
    const o = c.outstanding.find((x) => x.seq === seq);
    if (!o) return; // lost meanwhile
    o.sentAt = t;
    c.waitingSince ??= t;
  }

  /**
   * An answer to `seq` arrived; null: it is not an answer to anything this
   * client sent (garbage; what it should have answered stays unanswered).
   * `right` false: it answers `seq`, wrongly (an error status): garbage, and
   * `seq` is answered.
   */
  protected answered(c: C, seq: number | null, right = true): void {
    const t = now();
    const index = seq === null ? -1 : c.outstanding.findIndex((o) => o.seq === seq);
    if (index < 0) {
      if (seq !== null && seq < c.nextSeq) this.counts.duplicated += 1;
      else this.counts.garbage += 1;
      return;
    }
    if (index > 0) this.counts.reordered += 1;
    const [o] = c.outstanding.splice(index, 1);
    if (right) this.counts.answered += 1;
    else this.counts.garbage += 1;
    if (right && !Number.isNaN(o.sentAt)) {
      const latency = t - o.sentAt;
      (this.buckets[Math.floor((o.sentAt - this.t0) / BUCKET_MS)] ??= []).push(latency);
      if (this.window && o.sentAt >= this.window.from) this.window.latencies.push(latency);
    }
    if (c.waitingSince !== null && this.window) this.window.maxWait = Math.max(this.window.maxWait, t - c.waitingSince);
    const next = c.outstanding.find((x) => !Number.isNaN(x.sentAt));
    c.waitingSince = next ? next.sentAt : null;
    c.lastAnswerAt = t;
    if (c.lostAt !== null && c.servedAt === null) c.servedAt = t;
  }

  /**
   * The connection ended: closed by the server, never opened (refused), or
   * given up by the client (an answer overdue). Reconnects after a random
   * wait unless the load is stopping.
   */
  protected closed(c: C, how: 'server' | 'refused' | 'timeout'): void {
    c.connected = false;
    if (this.stopping) return;
    const t = now();
    if (how === 'refused') {
      this.counts.connectFailures += 1;
    } else {
      this.counts[how === 'server' ? 'disconnects' : 'timeouts'] += 1;
      this.counts.lost += c.outstanding.length;
      c.outstanding.length = 0;
      c.waitingSince ??= t; // waiting for a connection now
      if (this.window) {
        c.lostAt = t;
        c.servedAt = null;
      }
    }
    const backoff = Math.min(MAX_BACKOFF_MS, this.options.reconnectMs * 2 ** c.failures++);
    this.later(Math.random() * backoff, () => this.stopping || this.open(c));
  }

  private series(): LoadReport['series'] {
    const n = Math.max(this.buckets.length, this.down.length);
    const out: LoadReport['series'] = { bucket_ms: BUCKET_MS, count: [], p50_ms: [], p99_ms: [], max_ms: [], down: [] };
    let down = 0;
    for (let b = 0; b < n; b++) {
      const d = this.buckets[b] ? delayOf(this.buckets[b]) : null;
      down = this.down[b] ?? down; // a sample the loop was too busy to take: as the last one
      out.count.push(d?.count ?? 0);
      out.p50_ms.push(d ? d.p50_ms : -1);
      out.p99_ms.push(d ? d.p99_ms : -1);
      out.max_ms.push(d ? d.max_ms : -1);
      out.down.push(down);
    }
    return out;
  }
}

const round = (v: number) => Math.round(v * 100) / 100;
