// What both shapes of lab 5 share: the client's result and the checks on it
// (nothing dropped, nothing lost, sessions carried, the listener accepting,
// the delay), and the fd-table comparison of v1 before with the new owner after.
import type { LabContext } from '../../src/labs/types';
import type { Role } from '../../src/runtime/types';
import type { FdRef, FdSnapshot } from '../../src/labs/fd-snapshot';

export const PORT = 7000;

export interface ClientResult {
  connections: number;
  pings: number;
  pongs: number;
  lost: number;
  duplicated: number;
  disconnects: number;
  garbage: number;
  maxDelayMs: number;
  maxDelayAt: string;
  probes: number;
  probesFailed: number;
  probeErrors: string[];
  /** [send time's 100 ms bucket (ms since the epoch), largest delay of a ping sent in it]. */
  delays: [number, number][];
}

/** The upgrade as the lab saw it: from the signal to v1's last group switched (or its rollback), and the engine's gap. */
export interface UpgradeWindow {
  from: number;
  to: number;
  gapMs: number | null;
}

/**
 * When an engine log line was written: its "HH:MM:SS.mmm" (UTC, fdlab serve's
 * clock) on the day of `near`, the moment it must be close to.
 */
export function logTime(line: string, near: number): number | null {
  const match = /^(\d\d:\d\d:\d\d\.\d\d\d) /.exec(line);
  if (!match) return null;
  const day = new Date(near).toISOString().slice(0, 10);
  let at = Date.parse(`${day}T${match[1]}Z`);
  if (at < near - 12 * 3600_000) at += 24 * 3600_000; // the line came after midnight
  return at;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Which of v1's TCP sockets (by inode) the serving process holds afterwards, and the listener's fd in each. */
export function carriedSockets(before: FdSnapshot, after: FdSnapshot, v1Name: string, serving: string): { ok: boolean; connections: number; measured: string } {
  const v1 = before.processes.find((p) => p.role === v1Name)?.fds ?? [];
  const now = after.processes.find((p) => p.role === serving)?.fds ?? [];
  // The service's listener, not an inspector's (--inspect listens on 9229/9230 in the same process).
  const listening = (s: FdSnapshot, fds: FdRef[]) => fds.find((f) => s.objects[f.object].label.endsWith(`:${PORT} (listening)`));
  const [oldListener, newListener] = [listening(before, v1), listening(after, now)];
  const held = new Set(now.map((f) => f.object));
  const connections = v1.filter((f) => f !== oldListener && held.has(f.object)).length;
  const ok = oldListener !== undefined && newListener !== undefined && oldListener.object === newListener.object;
  return {
    ok,
    connections,
    measured: `listener: v1 fd ${oldListener?.fd ?? 'none'}, ${serving} fd ${newListener?.fd ?? 'none'}${oldListener?.fd === newListener?.fd ? ' (equal numbers here: each process numbers its own)' : ''}, ${oldListener ? before.objects[oldListener.object].key : '?'}; ` +
      `${connections} of v1's ${v1.length - (oldListener ? 1 : 0)} connections under the same inode`,
  };
}

/** Stops the client's pings (SIGUSR1) and reads its RESULT line. */
export async function clientResult(client: Role): Promise<ClientResult> {
  await client.signal('SIGUSR1');
  return JSON.parse((await client.waitForLine(/^RESULT /, 10_000)).slice(7)) as ClientResult;
}

/** `fdlab serve`'s stats line (SIGWINCH): "[v2 pid 18]", or "[v2 gen 2 pid 18]" for a successor a supervisor started. */
/** After the upgrade (or rollback): the client pings the new owner a while, then the step that stops it and compares. */
export async function pingOnThenCompare(lab: LabContext, client: Role, rolledBack: boolean): Promise<ClientResult> {
  await sleep(1500); // keep pinging and probing on the new owner
  await lab.step(
    'Stop the client\'s pings and compare its counts with the server\'s sessions',
    rolledBack
      ? 'v1 took its connections back: their pings-served counters must go on in v1 as if nothing happened.'
      : 'The pings-served counters started in v1 and must continue in v2 without a gap.',
  );
  return clientResult(client);
}

export const STATS_LINE = /\[v\d+(?: gen \d+)? pid \d+\] stats: pid \d+, \d+ connections, \d+ pings served on them$/;

/**
 * Until `server` (fdlab serve, asked with SIGWINCH) says it serves at least
 * `n` connections, or `ms` passed. The client's "all open" comes when the
 * kernel has queued its connections, before the server accepted them: in one
 * loaded CI run v1 had accepted 285 of 600 at the signal, and the handover
 * then had fewer groups than the lab says.
 */
export async function acceptedAll(server: Role, n: number, ms = 20_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const before = server.lines.length;
    await server.signal('SIGWINCH');
    const line = await server.waitForLine(STATS_LINE, 5000, before);
    const count = Number(/, (\d+) connections,/.exec(line)?.[1] ?? 0);
    if (count >= n || Date.now() > deadline) return count;
    await sleep(100); // ask again: accepting goes on meanwhile
  }
}

/**
 * The checks on what the client saw and on the serving version's counters
 * (its stats line, printed after the client stopped pinging).
 */
export function clientChecks(lab: LabContext, result: ClientResult, servingName: string, stats: string): void {
  const connections = result.connections;
  const [, statConnections, served] = stats.match(/(\d+) connections, (\d+) pings served/)!.map(Number);
  lab.check('0 disconnects', result.disconnects === 0, `${result.disconnects} of ${connections} connections dropped`);
  lab.check('0 lost and 0 duplicated pongs', result.lost === 0 && result.duplicated === 0 && result.garbage === 0 && result.pongs === result.pings,
    `${result.pings.toLocaleString('en-US')} pings, ${result.pongs.toLocaleString('en-US')} pongs (${result.lost} lost, ${result.duplicated} duplicated)`);
  // A probe connection (one ping, then closed) may still be closing on the server's side:
  // each such one adds a connection and at most one ping to the stats.
  const probesClosing = statConnections - connections;
  lab.check('sessions carried: pings-served counters continue',
    probesClosing >= 0 && served - result.pings >= 0 && served - result.pings <= probesClosing,
    `${servingName} counts ${served.toLocaleString('en-US')} pings served on ${statConnections} connections` +
      `${probesClosing > 0 ? ` (${probesClosing} of them a probe still closing)` : ''}; the client sent ${result.pings.toLocaleString('en-US')}`);
  lab.check('the listener kept accepting during and after', result.probesFailed === 0 && result.probes > 0,
    `${result.probes - result.probesFailed} of ${result.probes} new connections served${result.probeErrors.length ? ` (${result.probeErrors.join(', ')})` : ''}`);
}

/**
 * The largest delay of a ping sent during the upgrade (`window`: from the
 * signal to the last group switched), beside the engine's own gap and the
 * largest delay before the signal; without a window, the whole run's.
 */
export function delayCheck(lab: LabContext, result: ClientResult, window?: UpgradeWindow): void {
  // strace stops the servers at every traced call: the delay it measures is not the delay without it.
  const traced = lab.options.strace ? '; strace on, which stretches it: --no-strace measures it untraced' : '; untraced (--no-strace)';
  if (!window) {
    lab.check('largest ping delay during the upgrade', result.maxDelayMs < 5000, `${result.maxDelayMs} ms in the whole run (at ${result.maxDelayAt})${traced}`);
    return;
  }
  const largest = (keep: (bucket: number) => boolean) => Math.max(0, ...result.delays.filter(([bucket]) => keep(bucket)).map(([, delay]) => delay));
  // A bucket holds pings sent in its 100 ms: the ones that overlap the window count.
  const during = largest((bucket) => bucket + 100 > window.from && bucket <= window.to);
  const before = largest((bucket) => bucket + 100 <= window.from);
  lab.check('largest ping delay during the upgrade', during < 5000,
    `${during} ms for a ping sent between the signal and the last group switched (${window.to - window.from} ms)` +
      `; the engine's gap ${window.gapMs ?? '?'} ms; before the signal at most ${before} ms${traced}`);
}
