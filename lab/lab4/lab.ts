// Lab 4: keep the listener across a restart (seed 004, seed 003 §2.1).
//
//   R  what a restart without fd passing runs into: EADDRINUSE while the old listener lives, and after it (TIME_WAIT)
//   A  an unrelated process gets EADDRINUSE; a child serves on the listener it inherited as fd 3
//   B  seed 004's graceful restart under load: SIGHUP, successor with fd 3 and --graceful, SIGTERM to the parent
//   -  the naive restart under the same load: close, 300 ms, bind again (what breaks)
//   C  the listener handed to a new container over a Unix socket (HAProxy, Envoy)
import { withFdSources } from '../../src/strace/fd-sources';
import type { LabContext, LabDefinition } from '../../src/labs/types';
import type { Role } from '../../src/runtime/types';
import { formatPair, syscallLines, type SyscallLine } from '../../src/strace';
import { roleScripts } from '../../src/project';
import { PORTS, sleep } from './common';

/** The role scripts beside this file (compiled: dist/lab/lab4/<name>.js). */
const roleScript = roleScripts(__dirname, ['activator', 'echo-server', 'handover-server', 'load-client', 'long-client', 'stranger', 'supervisor', 'time-wait']);

export interface LoadResult {
  port: number;
  opened: number;
  answered: number;
  refused: number;
  reset: number;
  closed: number;
  timeout: number;
  other: number;
  servedBy: Record<string, number>;
  firstFailureMs?: number;
  lastFailureMs?: number;
  seconds: number;
}

interface LongResult {
  connections: { number: number; servedBy?: string; echoes: number; ended?: string; endedAtMs?: number }[];
  dropped: number;
}

interface StrangerResult {
  bind: string;
  reply: string;
  answeredBy: string | null;
}

interface BindOutcome {
  outcome: string;
  strace: string[];
}

interface TimeWaitResult {
  port: number;
  timeWait: number;
  withoutReuse: BindOutcome;
  withReuse: BindOutcome;
}

interface ChildResult {
  pid: number;
  ownBind: string;
  inherited: string;
}


function resultOf<T>(line: string): T {
  return JSON.parse(line.replace(/^RESULT /, '')) as T;
}

interface LoadSettings {
  rate: number;
  durationMs: number;
  max: number;
  /** When the restart happens, counted from the load's start. */
  restartAtMs: number;
}

function loadSettings(lab: LabContext): LoadSettings {
  const rate = lab.setting('rate');
  const durationMs = lab.setting('duration');
  return { rate, durationMs, max: Math.round((rate * durationMs) / 1000), restartAtMs: 1000 };
}

async function startLoad(lab: LabContext, name: string, port: number, load: LoadSettings): Promise<Role> {
  const role = await lab.startRole({ name, script: roleScript('load-client'), args: [String(port), String(load.rate), String(load.durationMs), String(load.max)] });
  await role.waitForLine(/^load: started/, 15_000);
  return role;
}

const failed = (r: LoadResult) => r.refused + r.reset + r.closed + r.timeout + r.other;
const servedBy = (r: LoadResult) =>
  Object.entries(r.servedBy)
    .map(([who, n]) => `${who} ${n}`)
    .join(', ');

function lossLine(r: LoadResult): string {
  const extra = r.closed + r.timeout + r.other;
  const window =
    r.firstFailureMs !== undefined ? `; failures from t=${(r.firstFailureMs / 1000).toFixed(2)} s to t=${(r.lastFailureMs! / 1000).toFixed(2)} s` : '';
  return `${r.refused} refused, ${r.reset} reset${extra ? `, ${extra} other` : ''} of ${r.opened} new connections${window}; answered: ${servedBy(r) || 'none'}`;
}

/** Resolves with the index of the first pattern that some line matches. */
async function waitForAny(role: Role, patterns: RegExp[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = patterns.findIndex((p) => role.lines.some((l) => p.test(l)));
    if (found >= 0) return found;
    if (Date.now() > deadline) throw new Error(`${role.name}: no line matching ${patterns.join(' or ')} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Resolves with the n-th line matching `pattern`. */
async function waitForCount(role: Role, pattern: RegExp, n: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const matching = role.lines.filter((l) => pattern.test(l));
    if (matching.length >= n) return matching[n - 1];
    if (Date.now() > deadline) throw new Error(`${role.name}: no ${n}th line matching ${pattern} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function stop(role: Role, timeoutMs = 10_000): Promise<number> {
  await role.signal('SIGTERM').catch(() => undefined); // it may have exited on its own
  return (await role.wait(timeoutMs)).exitCode;
}

// ---------------------------------------------------------------- part R

async function partR(lab: LabContext): Promise<void> {
  const port = PORTS.restart;
  await lab.step(
    `R. An unrelated restart: the new version starts on 127.0.0.1:${port} while the old one still serves`,
    'Start the new version first, stop the old one once the new one serves: the order that loses nothing, if the new\n' +
      'one could listen. It cannot: it is no child of the old one, so its only way to the port is a socket of its own,\n' +
      "and bind() refuses it with EADDRINUSE while the old listening socket lives (seed 003's inet_bind).",
  );
  const old = await lab.startRole({ name: 'r-old', script: roleScript('echo-server'), args: [String(port)], traced: true });
  await old.waitForLine(/\(gen 1\): serving/, 15_000);
  const fresh = await lab.startRole({ name: 'r-new', script: roleScript('echo-server'), args: [String(port)], env: { LAB4_GENERATION: '2' }, traced: true });
  const freshExit = await fresh.wait(15_000);
  const failure = fresh.lines.find((l) => /cannot serve/.test(l)) ?? 'no "cannot serve" line';
  const oldExit = await stop(old);
  lab.check(
    `R: a new version started beside the old one cannot bind ${port}`,
    freshExit.exitCode === 1 && /EADDRINUSE/.test(failure) && oldExit === 0,
    `r-new exit ${freshExit.exitCode}: ${failure.replace(/^pid \d+ \(gen 2\): /, '')}`,
  );

  await lab.step(
    'R. TIME_WAIT: the old listener is gone, and a bind without SO_REUSEADDR still fails',
    'A listener on a free port closes each of its connections first (the side that closes first keeps the\n' +
      'connection in TIME_WAIT, 60 s on Linux), then closes itself. Nothing listens; a bind without SO_REUSEADDR\n' +
      'still conflicts with the TIME_WAIT sockets on the port. libuv sets SO_REUSEADDR on every Node listener, so the\n' +
      'same script runs twice under strace: first with strace turning setsockopt() into a no-op, then as it is.',
  );
  const waiter = await lab.startRole({ name: 'r-time-wait', script: roleScript('time-wait') });
  const timeWait = resultOf<TimeWaitResult>(await waiter.waitForLine(/^RESULT /, 20_000));
  const waiterExit = await waiter.wait(10_000);
  const injected = timeWait.withoutReuse.strace.some((l) => /SO_REUSEADDR.*\(INJECTED\)/.test(l));
  const refusedBind = timeWait.withoutReuse.strace.find((l) => /^bind\(.*= -1 EADDRINUSE/.test(l));
  const boundBind = timeWait.withReuse.strace.find((l) => /^bind\(.*\) = 0$/.test(l));
  lab.check(
    'R: TIME_WAIT: bind without SO_REUSEADDR = EADDRINUSE; Node (SO_REUSEADDR) binds',
    timeWait.timeWait > 0 && injected && refusedBind !== undefined && timeWait.withReuse.outcome === 'bound' && boundBind !== undefined && waiterExit.exitCode === 0,
    `${timeWait.timeWait} connections in TIME_WAIT on 127.0.0.1:${timeWait.port}, no listener; without SO_REUSEADDR: ${timeWait.withoutReuse.outcome}` +
      ` (strace: ${refusedBind ? 'bind = -1 EADDRINUSE' : 'no failed bind'}); with it: ${timeWait.withReuse.outcome} (strace: ${boundBind ? 'bind = 0' : 'no bind = 0'})`,
  );
  lab.record('partR', { newVersion: failure, timeWait });
}

// ---------------------------------------------------------------- part A

async function partA(lab: LabContext): Promise<void> {
  const port = PORTS.inherit;
  await lab.step(
    `A. A parent binds 127.0.0.1:${port}, starts a child with the listener as fd 3, and closes its own copy`,
    'The child inherits the open socket through fork and exec: an fd without close-on-exec survives exec, and\n' +
      "spawn's 4th stdio entry puts it at fd 3. To show that being a child is not what matters, the child first\n" +
      'creates a socket of its own and binds it: EADDRINUSE, like anyone else. Then it listens on fd 3.',
  );
  const parent = await lab.startRole({ name: 'a-parent', script: roleScript('activator'), args: [String(port)], traced: true });
  const child = resultOf<ChildResult>(await parent.waitForLine(/^RESULT /, 15_000));

  await lab.step(
    'A. An unrelated process tries to bind the same address',
    (lab.runtime.kind === 'docker' ? 'It runs in another container of the pod: the same network namespace, so the same port table.\n' : '') +
      "bind() walks the port's bucket in the kernel's table of bound sockets and refuses a conflicting one with\n" +
      'EADDRINUSE (seed 003 reads Linux 1.0 inet_bind; today it is inet_csk_get_port). It only sees sockets, not\n' +
      'processes: the listener is held by the child alone now, and nobody can bind the port again while it lives.',
    [lab.runtime.kind === 'docker' ? `${parent.manualShellCommand()}, then: ss -ltnp 'sport = :${port}'   (one listener, owned by the child)` : `ss -ltnp 'sport = :${port}'`],
  );
  const strangerRole = await lab.startRole({ name: 'a-stranger', script: roleScript('stranger'), args: [String(port)], traced: true });
  const stranger = resultOf<StrangerResult>(await strangerRole.waitForLine(/^RESULT /, 15_000));
  await strangerRole.wait(10_000);
  const parentExit = await stop(parent);

  lab.check(`A: an unrelated process cannot bind ${port}`, stranger.bind === 'EADDRINUSE', `bind(127.0.0.1:${port}) = ${stranger.bind} (a-stranger)`);
  const childWho = `a-parent[${child.pid}]`;
  lab.check(
    'A: the child serves on the inherited fd 3',
    child.ownBind === 'EADDRINUSE' && child.inherited.includes(`127.0.0.1:${port}`) && stranger.answeredBy === childWho && parentExit === 0,
    `child pid ${child.pid}: its own bind: ${child.ownBind}; fd ${child.inherited} answered the stranger (${stranger.answeredBy})`,
  );
  lab.record('partA', { child, stranger });
}

// ---------------------------------------------------------------- part B

/** Why gen 2 did not serve, from the b-server log ("gen 2 (pid N): cannot serve: ..."), if it said. */
function gen2FailureOf(lines: readonly string[]): string | undefined {
  return lines.find((l) => /\(gen 2\): cannot serve/.test(l))?.replace(/^pid (\d+) \(gen 2\): /, 'gen 2 (pid $1): ');
}

async function partB(lab: LabContext, load: LoadSettings): Promise<void> {
  const port = PORTS.graceful;
  const drainMs = 2000;
  const fault = lab.fault === 'no-fd3';
  await lab.step(
    `B. Start seed 004's echo server on 127.0.0.1:${port} under a supervisor`,
    'Each line you send comes back as "<time> --ll----ll-- <who>: <line>". The supervisor plays systemd: the\n' +
      "container's main process must outlive the first server generation, or its exit would end the container and\n" +
      'take the successor with it.',
  );
  const server = await lab.startRole({
    name: 'b-server',
    script: roleScript('supervisor'),
    args: ['--', 'echo-server.js', String(port), '--drain-ms', String(drainMs)],
    env: fault ? { LAB4_FAULT: 'no-fd3' } : {},
    traced: true,
  });
  await server.waitForLine(/\(gen 1\): serving/, 15_000);

  await lab.step(
    'B. A long-lived client, and a load of new connections',
    `The long-lived client writes a line every 250 ms on one connection. The load opens ${load.rate} new connections\n` +
      `a second for ${load.durationMs / 1000} s (at most ${load.max}); each writes one line and waits for its echo.`,
  );
  const long = await lab.startRole({ name: 'b-long', script: roleScript('long-client'), args: [String(port), '250'] });
  await long.waitForLine(/first echo/, 15_000);
  const loadRole = await startLoad(lab, 'b-load', port, load);
  await sleep(load.restartAtMs);

  await lab.step(
    'B. SIGHUP: the server starts its successor with the listener as fd 3 and --graceful',
    'The successor listens on fd 3 (no bind) and sends SIGTERM to its parent (getppid()), which closes its own fd\n' +
      '(the socket stays open in the successor), lets its connections finish, and exits. The accept queue belongs to\n' +
      'the socket, not to a process: no SYN finds the port closed, and nothing waiting in the queue is lost.',
    [
      server.manualSignalCommand('SIGHUP'),
      `${lab.runtime.kind === 'docker' ? `${server.manualShellCommand()}, then: ` : ''}ss -tanp 'sport = :${port}'   (during the drain: the listener is gen 2's fd 3; gen 1 still holds its old connections)`,
    ],
  );
  if (fault) lab.say('--fault no-fd3: this time gen 1 starts its successor WITHOUT the listener. Watch who serves.');
  await server.signal('SIGHUP');
  const taken = await waitForAny(server, [/\(gen 2\): serving on inherited fd/, /\(gen 1\): successor pid \d+ exited/], 15_000);
  if (taken === 0) await server.waitForLine(/\(gen 1\): served \d+ connections/, drainMs + 10_000);
  const cutLine = server.lines.find((l) => /\(gen 1\): drain timeout/.test(l)) ?? '';
  const graceful = resultOf<LoadResult>(await loadRole.waitForLine(/^RESULT /, load.durationMs + 15_000));
  await loadRole.wait(10_000);
  lab.say(`load: ${lossLine(graceful)}`);

  // The long-lived client was cut at the drain timeout and reconnected to gen 2: wait for that echo.
  if (taken === 0) await long.waitForLine(/^connection 2 .*first echo/, 10_000).catch(() => undefined);
  await long.signal('SIGTERM');
  const longResult = resultOf<LongResult>(await long.waitForLine(/^RESULT /, 10_000));
  await long.wait(10_000);
  const serverExit = await stop(server);

  const gen1 = /^pid (\d+) \(gen 1\): serving/.exec(server.lines.find((l) => /\(gen 1\): serving/.test(l)) ?? '')?.[1];
  const gen2 = /pid (\d+) \(gen 2\)/.exec(server.lines.find((l) => /\(gen 2\): serving/.test(l)) ?? '')?.[1];
  const old = `b-server[${gen1}]`;
  const successor = `b-server[${gen2}]`;
  // When gen 2 never served (--fault no-fd3), every row says so instead of describing a restart that did not happen.
  const gen2Failure = gen2FailureOf(server.lines);
  const noRestart = gen2 ? '' : `no restart happened: ${gen2Failure ?? 'gen 2 never served'}`;
  lab.check(
    'B: graceful restart (fd 3): refused / reset',
    failed(graceful) === 0 && graceful.answered === graceful.opened && graceful.opened > 0 && (graceful.servedBy[old] ?? 0) > 0 && (graceful.servedBy[successor] ?? 0) > 0,
    `${lossLine(graceful)}${noRestart ? `; ${noRestart}, so gen 1 answered all ${graceful.servedBy[old] ?? 0}` : ''}`,
  );
  const [dropped] = longResult.connections;
  const reconnect = longResult.connections[1];
  lab.check(
    'B: long-lived connection cut at the end of the drain',
    longResult.dropped === 1 && dropped?.servedBy === old && /server closed it/.test(dropped.ended ?? '') && /closing 1 connection/.test(cutLine) && reconnect?.servedBy === successor,
    longResult.dropped === 0
      ? `not cut: ${longResult.connections.length} connection(s), served by ${dropped?.servedBy} (${dropped?.echoes} echoes) until the client stopped; ${noRestart ? 'gen 1 never drained, because no successor took over' : 'the server closed none'}`
      : `${longResult.dropped} of ${longResult.connections.length} connections closed by the server: the one served by ${dropped?.servedBy} (${dropped?.echoes} echoes) at its ${drainMs} ms drain timeout; reconnected to ${reconnect?.servedBy ?? 'nobody'}`,
  );
  if (fault) {
    lab.check(
      'B (--fault no-fd3): gen 1 kept serving when its successor failed',
      taken === 1 && (graceful.servedBy[old] ?? 0) === graceful.answered && failed(graceful) === 0,
      `${gen2Failure ?? 'no failure seen'}; gen 1 answered ${graceful.servedBy[old] ?? 0} of ${graceful.opened}`,
    );
  }
  lab.check(
    'B: the supervisor and every generation exited',
    serverExit === 0,
    `${gen2 ? `gen 1 (pid ${gen1}) after its drain, gen 2 (pid ${gen2}) on SIGTERM` : `gen 1 (pid ${gen1}) on SIGTERM`}; supervisor exit ${serverExit}`,
  );
  lab.record('graceful', { load: graceful, long: longResult });
}

// ---------------------------------------------------------------- naive restart

async function naive(lab: LabContext, load: LoadSettings): Promise<void> {
  const port = PORTS.naive;
  const gapMs = lab.setting('gap');
  await lab.step(
    `What breaks: a naive restart on 127.0.0.1:${port} (close, wait ${gapMs} ms, bind again) under the same load`,
    'This is `systemctl restart` without socket activation: the old process closes its listener and exits, the\n' +
      'new one binds after a gap. A SYN that finds no listener is answered with RST: ECONNREFUSED. Connections that\n' +
      'were still in the accept queue when the listener closed are reset.',
  );
  const server = await lab.startRole({
    name: 'n-server',
    script: roleScript('supervisor'),
    args: ['--restart-gap-ms', String(gapMs), '--', 'echo-server.js', String(port), '--drain-ms', '2000'],
    traced: true,
  });
  await server.waitForLine(/\(gen 1\): serving/, 15_000);
  const loadRole = await startLoad(lab, 'n-load', port, load);
  await sleep(load.restartAtMs);
  await server.signal('SIGHUP');
  await waitForCount(server, /\(gen 1\): serving/, 2, 15_000);
  const result = resultOf<LoadResult>(await loadRole.waitForLine(/^RESULT /, load.durationMs + 15_000));
  await loadRole.wait(10_000);
  lab.say(`load: ${lossLine(result)}`);
  const serverExit = await stop(server);
  const servers = server.lines.filter((l) => /\(gen 1\): serving/.test(l)).length;
  lab.check(
    `naive restart (close, ${gapMs} ms, bind) loses connections, as expected`,
    result.refused + result.reset > 0 && servers === 2 && serverExit === 0,
    lossLine(result),
  );
  lab.record('naive', { load: result, gapMs });
}

// ---------------------------------------------------------------- part C

async function partC(lab: LabContext, load: LoadSettings): Promise<void> {
  const port = PORTS.handover;
  await lab.step(
    `C. The old instance serves 127.0.0.1:${port} and offers its listener on a Unix socket in the shared volume`,
    'This is how HAProxy (`stats socket ... expose-fd listeners`, the new process started with `-x`) and Envoy (hot\n' +
      'restart) keep their listeners across restarts, including into a new container: no parent and child, just a\n' +
      'Unix socket both can reach.',
  );
  const old = await lab.startRole({ name: 'c-old', script: roleScript('handover-server'), args: ['old', String(port)], traced: true });
  await old.waitForLine(/offering my listener/, 15_000);
  const loadRole = await startLoad(lab, 'c-load', port, load);
  await sleep(load.restartAtMs);

  await lab.step(
    `C. Start the new instance ${lab.runtime.kind === 'docker' ? 'in a new container' : 'as a new role (a container with Docker)'}: it asks for the listener, gets it by SCM_RIGHTS, serves`,
    'It is no child of the old one, so it cannot inherit anything: it connects to the Unix socket, asks "_getsocks",\n' +
      'and receives the listening socket in SCM_RIGHTS. The old one keeps accepting until the new one says "serving",\n' +
      'then stops accepting, drains and exits.',
    [lab.runtime.kind === 'docker' ? `${old.manualShellCommand()}, then: ls -l ${lab.runtime.sharedDir}` : `ls -l ${lab.runtime.sharedDir}`],
  );
  const successor = await lab.startRole({ name: 'c-new', script: roleScript('handover-server'), args: ['new'], traced: true });
  await successor.waitForLine(/serving on the received fd/, 15_000);
  const oldExit = (await old.wait(15_000)).exitCode;
  const result = resultOf<LoadResult>(await loadRole.waitForLine(/^RESULT /, load.durationMs + 15_000));
  await loadRole.wait(10_000);
  lab.say(`load: ${lossLine(result)}`);
  const newExit = await stop(successor);

  const oldWho = Object.keys(result.servedBy).find((w) => w.startsWith('c-old['));
  const newWho = Object.keys(result.servedBy).find((w) => w.startsWith('c-new['));
  lab.check(
    'C: listener handed to a new container: refused / reset',
    failed(result) === 0 && result.answered === result.opened && result.opened > 0 && oldWho !== undefined && newWho !== undefined,
    lossLine(result),
  );
  lab.check('C: the old instance exited after the handover, the new one on SIGTERM', oldExit === 0 && newExit === 0, `c-old exit ${oldExit}, c-new exit ${newExit}`);
  lab.record('handover', { load: result });
}

// ---------------------------------------------------------------- strace

const PORT_IN = (port: number) => `htons(${port})`;

function captureOf(captures: ReadonlyMap<string, string>, role: string): SyscallLine[] {
  const text = captures.get(role);
  return text ? syscallLines(text) : [];
}

const outcome = (call: SyscallLine | undefined) => (call ? (call.errno ? `-1 ${call.errno}` : String(call.result)) : 'not seen');

export const lab4: LabDefinition = {
  number: 4,
  title: 'keep the listener across a restart',
  source: 'seed 004 (Go: graceful restart, listener as fd 3 via ExtraFiles, --graceful, SIGTERM to the parent) and seed 003 §2.1 (inet_bind, EADDRINUSE)',
  traceSyscalls: withFdSources(['bind', 'listen', 'sendmsg', 'recvmsg', 'execve', 'kill']),
  scmRightsRoles: ['c-old', 'c-new'],
  // One short timeline per part: all five in one were 13 lanes and 269 columns.
  timeline: {
    parts: [
      { title: 'R. an unrelated restart: the new version cannot bind', roles: /^r-/ },
      { title: 'A. a parent binds, the child gets the listener as fd 3', roles: /^a-/ },
      { title: 'B. seed 004\'s graceful restart: gen 2 exec\'d with the listener as fd 3', roles: /^b-/ },
      { title: 'What breaks: close, wait, bind again', roles: /^n-/ },
      { title: 'C. the listener handed over on a Unix socket', roles: /^c-/ },
    ],
    keyCalls: [
      { what: 'R: the new version\'s bind fails while the old one listens', role: 'r-new', syscall: 'bind', summary: /EADDRINUSE$/ },
      { what: 'A: the child listens on the fd 3 it was given', role: 'a-parent', syscall: 'listen', summary: /^listen fd 3 / },
      { what: 'A: the stranger\'s bind fails', role: 'a-stranger', syscall: 'bind', summary: /EADDRINUSE$/ },
      { what: 'B: gen 2 listens on fd 3 without a bind', role: 'b-server', syscall: 'listen', summary: /^listen fd 3 / },
      { what: 'B: gen 2 tells gen 1 to go', role: 'b-server', syscall: 'kill', summary: /SIGTERM$/ },
      { what: 'naive: the port is bound anew', role: 'n-server', syscall: 'bind', summary: /\d+$/ },
      { what: 'C: c-new listens on the listener it received', role: 'c-new', syscall: 'listen', summary: /TCP/ },
    ],
  },
  settings: {
    rate: { description: 'new connections per second in each load', default: 200, min: 1, max: 1000 },
    duration: { description: 'milliseconds each load runs', default: 4000, min: 500, max: 20_000 },
    gap: { description: 'milliseconds between close and bind in the naive restart', default: 300, min: 0, max: 5000 },
  },
  faults: {
    'no-fd3': 'the successor starts without the listener: it cannot adopt fd 3 and gen 1 keeps serving',
  },

  async run(lab) {
    const load = loadSettings(lab);
    await partR(lab);
    await partA(lab);
    await partB(lab, load);
    await naive(lab, load);
    await partC(lab, load);
  },

  checkCaptures(pairs, lab, roles, captures) {
    // R: the unrelated new version's own bind fails; the old one's succeeded.
    {
      const port = PORTS.restart;
      const oldBind = captureOf(captures, 'r-old').find((c) => c.syscall === 'bind' && c.args.includes(PORT_IN(port)));
      const newBind = captureOf(captures, 'r-new').find((c) => c.syscall === 'bind' && c.args.includes(PORT_IN(port)));
      lab.check(
        'strace R: the new version\'s bind fails with EADDRINUSE while the old one listens',
        oldBind?.result === 0 && newBind?.errno === 'EADDRINUSE',
        `r-old: bind(127.0.0.1:${port}) = ${outcome(oldBind)}; r-new: bind(127.0.0.1:${port}) = ${outcome(newBind)}`,
      );
    }
    // A: the parent binds; the child's own bind fails, and it listens and accepts on fd 3.
    {
      const calls = captureOf(captures, 'a-parent');
      const port = PORTS.inherit;
      const parentBind = calls.find((c) => c.syscall === 'bind' && c.args.includes(PORT_IN(port)) && c.result === 0);
      const childPid = calls.find((c) => c.syscall === 'execve' && c.args.includes('inherited-child.js'))?.pid;
      const childBinds = calls.filter((c) => c.pid === childPid && c.syscall === 'bind' && c.args.includes(PORT_IN(port)));
      const childListen = calls.find((c) => c.pid === childPid && c.syscall === 'listen' && c.args.startsWith(`3<TCP:[127.0.0.1:${port}]>`));
      const accepts = calls.filter((c) => c.pid === childPid && c.syscall === 'accept4' && c.args.startsWith('3<') && (c.result ?? -1) >= 0).length;
      const strangerBind = captureOf(captures, 'a-stranger').find((c) => c.syscall === 'bind' && c.args.includes(PORT_IN(port)));
      lab.check(
        'strace A: the child never binds; it listens and accepts on fd 3',
        parentBind !== undefined && childPid !== undefined && childBinds.every((c) => c.errno === 'EADDRINUSE') && childListen?.result === 0 && accepts >= 1 && strangerBind?.errno === 'EADDRINUSE',
        `parent ${parentBind?.pid}: bind = ${outcome(parentBind)}; child ${childPid}: bind = ${childBinds.map(outcome).join(', ') || 'none'}, ` +
          `listen(3<TCP:[127.0.0.1:${port}]>) = ${outcome(childListen)}, ${accepts} accept4 on fd 3; stranger: bind = ${outcome(strangerBind)}`,
      );
    }
    // B: gen 2 is exec'd with --graceful, listens on fd 3 without bind, and sends SIGTERM to gen 1.
    {
      const calls = captureOf(captures, 'b-server');
      const port = PORTS.graceful;
      const gen1 = calls.find((c) => c.syscall === 'bind' && c.args.includes(PORT_IN(port)) && c.result === 0)?.pid;
      const exec = calls.find((c) => c.syscall === 'execve' && c.args.includes('--graceful') && c.result === 0);
      const gen2 = exec?.pid;
      const gen2Binds = calls.filter((c) => c.pid === gen2 && c.syscall === 'bind').length;
      const listen = calls.find((c) => c.pid === gen2 && c.syscall === 'listen' && c.args.startsWith(`3<TCP:[127.0.0.1:${port}]>`));
      const kill = calls.find((c) => c.pid === gen2 && c.syscall === 'kill' && c.args === `${gen1}, SIGTERM`);
      lab.check(
        'strace B: gen 2 exec\'d with --graceful, listens on fd 3 without bind, SIGTERMs gen 1',
        gen1 !== undefined && gen2 !== undefined && gen2Binds === 0 && listen?.result === 0 && kill?.result === 0,
        `gen 1 = pid ${gen1} (bind = 0); gen 2 = pid ${gen2}: execve(..."--graceful"]) = ${outcome(exec)}, ${gen2Binds} bind, ` +
          `listen(3<TCP:[127.0.0.1:${port}]>) = ${outcome(listen)}, kill(${gen1}, SIGTERM) = ${outcome(kill)}` +
          (listen ? '' : `; gen 2 never listened or signalled: ${gen2FailureOf(roles.get('b-server')?.lines ?? []) ?? 'it did not say why'}`),
      );
    }
    // Naive: two processes bind the port, one after the other.
    {
      const port = PORTS.naive;
      const binds = captureOf(captures, 'n-server').filter((c) => c.syscall === 'bind' && c.args.includes(PORT_IN(port)) && c.result === 0);
      const pids = [...new Set(binds.map((c) => c.pid))];
      lab.check(
        'strace naive: the port is bound anew by the new process',
        pids.length === 2,
        `bind(127.0.0.1:${port}) = 0 by ${pids.map((p, i) => `pid ${p} at ${binds.find((c) => c.pid === p)?.time}`).join(', then ')}`,
      );
    }
    // C: the listening socket itself travels from c-old to c-new.
    {
      const pair = pairs.find((p) => p.sent?.role === 'c-old' && p.received?.role === 'c-new');
      const listener = pair?.sent?.fd;
      lab.check(
        'strace C: the listener leaves c-old and arrives in c-new',
        listener?.kind === 'tcp' && listener.local === `127.0.0.1:${PORTS.handover}` && listener.remote === undefined && pair?.received?.fd !== undefined,
        pair ? formatPair(pair, lab.rolePids()) : 'no SCM_RIGHTS pair from c-old to c-new',
      );
    }
  },
};
