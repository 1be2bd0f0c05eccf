// The shapes of bench/upgrade.ts's results: the load client's JSON report
// (bench/c/ping_client.c) and what the harness adds around it.

export interface Delay {
  count: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
}

/** One upgrade window as the client saw it: from the signal to the old server gone + 1 s. */
export interface ClientWindow {
  k: number;
  signal_ms: number;
  gone_ms: number;
  window_end_ms: number;
  delay: Delay;
  /** The longest any (non-slow) connection waited with a ping unanswered. */
  gap_ms: number;
  disconnects: number;
  reconnects: number;
  lost_at_disconnect: number;
  all_back_ms: number;
}

export interface ClientReport {
  connections: number;
  interval_ms: number;
  t0_ns: number;
  ready_ms: number;
  end_ms: number;
  timed_out: boolean;
  pings: number;
  pongs: number;
  lost: number;
  duplicated: number;
  disconnects: number;
  reconnects: number;
  garbage: number;
  per_kind: Record<'plain' | 'pipelined' | 'split' | 'slow', { pings: number; pongs: number; lost: number; duplicated: number; disconnects: number; gap_max_ms: number; delay: Delay }>;
  steady: { from_ms: number; to_ms: number; delay: Delay; gap_ms: number };
  upgrades: ClientWindow[];
  during: { delay: Delay; gap_ms: number };
  /** Per bucket_ms of send time, the non-slow kinds: -1 where a bucket had no pong. */
  series: { bucket_ms: number; count: number[]; p50_ms: number[]; p99_ms: number[]; max_ms: number[]; down: number[] };
  marks: { what: 'signal' | 'gone'; k: number; ms: number }[];
  headroom: {
    cpu_user_s: number;
    cpu_sys_s: number;
    wall_s: number;
    /** CPU time / wall time: 1.0 would be one core saturated. */
    cpu_fraction: number;
    /** How late pings went out against their schedule. */
    timer_lag_p50_ms: number;
    timer_lag_p99_ms: number;
    timer_lag_max_ms: number;
    /** Time to handle one epoll_wait batch. */
    batch_p99_ms: number;
    batch_max_ms: number;
    max_events_per_wait: number;
  };
}

/** /proc/PID: fd count and VmRSS. */
export interface Sample {
  pid: number;
  fds: number;
  rssKb: number;
  /** (RSS - the idle server's RSS) / connections. */
  rssPerConnectionKb?: number;
}

export interface UpgradeResult {
  k: number;
  oldPid: number;
  newPid: number;
  /** Just before the signal. */
  old: Sample | null;
  /** Once the handover is over (old gone, or the new one serving). */
  new: Sample | null;
  /** Signal → old process gone; null while it lives on (listener-only). */
  oldGoneMs: number | null;
  /** Signal → the new process logged "serving on". */
  newServingMs: number | null;
  /** restart: signal → every client connected again. */
  allBackMs: number | null;
  oldStillAlive: boolean;
  /** fdlab: the engine's own "committed: ... (gap G ms: hold H, send S, ack A; copies sent in C ms while serving)" line. */
  engine: {
    connections: number; gapMs: number; holdMs: number; sendMs: number; ackMs: number; copyMs: number; committedMs: number;
    /** Signal → the successor's hello ("said hello after"), and the commit → every group switched ("switched all ... after the commit"). */
    startMs?: number; restMs?: number; groups?: number;
  } | null;
  client?: ClientWindow;
}

export interface StrategyResult {
  strategy: string;
  standbyMs?: number;
  port: number;
  idle: Sample | null;
  upgrades: UpgradeResult[];
  end: { new: Sample | null; oldStillServing: { pid: number; connections: number; sample: Sample | null }[] };
  steady: ClientReport['steady'];
  during: ClientReport['during'];
  pings: number;
  pongs: number;
  lost: number;
  duplicated: number;
  garbage: number;
  disconnects: number;
  reconnects: number;
  client: ClientReport;
}
