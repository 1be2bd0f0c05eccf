// Lab 5: hot upgrade of long-lived connections on SIGUSR2 (seed 003), with
// the state seed 003's demo leaves out: unprocessed bytes and sessions.
import { withFdSources } from '../../src/strace/fd-sources';
import * as path from 'node:path';
import type { LabContext, LabDefinition } from '../../src/labs/types';
import type { Role } from '../../src/runtime/types';
import { unseenIn } from '../../src/labs/fd-snapshot';
import type { FdPair } from '../../src/strace';
import { cliPath, roleScripts } from '../../src/project';
import { runOneContainer, oneContainerCaptures } from './one-container';
import { acceptedAll, carriedSockets, clientChecks, delayCheck, logTime, pingOnThenCompare, PORT, sleep, STATS_LINE } from './shared';

/** v1's upgrade deadline under --pause: an hour for the learner at the pause before "Start v2". */
const PAUSED_UPGRADE_TIMEOUT_MS = 60 * 60_000;
/** v1 and v2 are the lab tool's own `fdlab serve`; the client is the role script beside this file. */
const CLI = cliPath();
const roleScript = roleScripts(__dirname, ['client']);

export const lab5: LabDefinition = {
  number: 5,
  title: 'hot upgrade of long-lived connections on SIGUSR2',
  source: 'seed 003 (Go: SIGUSR2, conn.sock, send every connection\'s fd and state, "ping"/"pong")',
  traceSyscalls: withFdSources(['sendmsg', 'recvmsg', 'bind', 'listen']),
  timeline: {
    keyCalls: [{ what: 'v1 binds the listener that every version serves', role: /^server/, syscall: 'bind', summary: /TCP .*:\d+$/ }],
  },
  // With containers=1 one role, 'server', holds the supervisor and both versions: its capture shows both sides.
  scmRightsRoles: (settings) => (settings.containers === 1 ? ['server'] : ['server-v1', 'server-v2']),
  settings: {
    connections: { description: 'long-lived client connections', default: 100, min: 1, max: 1000 },
    containers: {
      description: 'containers for the service: 2, v1 and v2 each in its own (part A); 1, `fdlab run` as its command, upgraded in place (part B)',
      default: 2,
      min: 1,
      max: 2,
    },
  },
  faults: {
    'crash-new': 'v2 dies as the connections arrive, before it acknowledges: v1 rolls back',
  },
  inspectPorts: [9229, 9230], // --inspect: server-v1 and server-v2 (Docker publishes them on 127.0.0.1)

  async run(lab) {
    if (lab.setting('containers') === 1) return runOneContainer(lab);
    return runTwoContainers(lab);
  },

  checkCaptures(pairs, lab, roles) {
    if (lab.setting('containers') === 1) return oneContainerCaptures(pairs, lab, roles);
    return twoContainerCaptures(pairs, lab);
  },
};

/** Part A: v1 and v2 each a role of its own (two containers in the pod, or two processes); the lab starts v2. */
async function runTwoContainers(lab: LabContext): Promise<void> {
  const connections = lab.setting('connections');
  const crashNew = lab.fault === 'crash-new';
  const shared = lab.runtime.sharedDir;
  // --inspect: v2 waits for a debugger before its first line, and v1 gives the upgrade 120 s instead of
  // 10 s, so a learner can attach and stop at a breakpoint without v1 rolling back meanwhile.
  const inspecting = lab.options.inspect === true;
  const upgradeTimeoutMs = inspecting ? 120_000 : 10_000;
  const serve = (version: string) => [
    'serve', '--port', String(PORT), '--version', version, '--successor', 'external', '--standby', '1000', '--upgrade-timeout', String(upgradeTimeoutMs),
    '--pid-file', `${shared}/lab5.pid`, '--state-dir', `${shared}/lab5-upgrade`,
    // --pause: v1 waits for v2 while the learner looks around; its own 10 s deadline must not roll it back meanwhile.
    ...(lab.options.pause ? ['--upgrade-timeout', String(PAUSED_UPGRADE_TIMEOUT_MS)] : []),
  ];

  await lab.step(
    'Start server v1: the ping/pong service on 127.0.0.1:7000',
    'It is `fdlab serve`, the hot-upgrade engine from src/handover: any Node TCP server can use it.',
  );
  const v1 = await lab.startRole({ name: 'server-v1', script: CLI, args: serve('v1'), traced: true, inspectPort: 9229 });
  await v1.waitForLine(/serving on 127\.0\.0\.1:7000/);

  await lab.step(
    `Start the client: ${connections} long-lived connections, a ping every 100 ms each`,
    'It also opens a fresh connection every 100 ms, to see whether the listener keeps accepting.',
  );
  const client = await lab.startRole({ name: 'client', script: roleScript('client'), args: [String(PORT), String(connections)] });
  await client.waitForLine(/^all \d+ connections open/);
  await acceptedAll(v1, connections);
  await sleep(1500); // the steady state the delays are compared with

  await lab.step(
    'Send SIGUSR2 to v1',
    'v1 opens an upgrade socket (mode 0600) on the shared volume and waits for its successor.',
    [v1.manualSignalCommand('SIGUSR2')],
  );
  const signalAt = Date.now();
  await v1.signal('SIGUSR2');
  await v1.waitForLine(/waiting for the successor/);
  // v1 waits for its successor here, so its table holds still enough to read (probes come and go).
  const tcp = { sockets: ['tcp'] as const };
  const tablesBefore = await lab.fdTables('before', 'before the handover (v1 waits for v2)', [v1], tcp);

  await lab.step(
    `Start v2${lab.runtime.kind === 'docker' ? ' in a new container' : ''}${crashNew ? ' (with --fault crash-new: it dies mid-handover)' : ''}`,
    'v2 connects; v1 checks its uid (SO_PEERCRED) and the one-time token in its hello. Then v1 stops\n' +
      'accepting, stops reading every connection at the handle level, and sends the listener and all\n' +
      'connections in batches of up to 253 fds, each with its state: unprocessed bytes, unsent pongs and\n' +
      'the session (id, pings served, connected since). v2 wraps each fd in a socket that does not read\n' +
      'yet and acknowledges; it serves only at v1\'s commit. Before the commit v1 owns everything and can\n' +
      'roll back; after it, v1 stands by for 1 s with its copies and takes everything back if v2 dies\n' +
      '(docs/handover.md).',
    [`strace -f -e trace=sendmsg,recvmsg -p <pid>   (or read ${path.join(path.relative(process.cwd(), lab.capturesDir) || '.', 'server-v1.strace')} afterwards)`],
  );
  const v2 = await lab.startRole({
    name: 'server-v2',
    script: CLI,
    args: serve('v2'),
    env: {
      FDLAB_UPGRADE_SOCKET: `${shared}/lab5-upgrade/upgrade.sock`,
      // The engine's fault hook (docs/handover.md): v2 kills itself on entering 'receiving'.
      ...(crashNew ? { FDLAB_HANDOVER_HOOK: 'new:receiving=kill' } : {}),
      ...(inspecting ? { FDLAB_INSPECT_BRK: '1' } : {}),
    },
    traced: true,
    inspectPort: 9230,
  });
  if (inspecting) lab.say('--inspect: v2 waits for a debugger on 127.0.0.1:9230 before its first line; v1 waits up to 120 s for the upgrade.');
  const outcome = await v1.waitForLine(/handed over; exiting|rolled back:/, upgradeTimeoutMs + 10_000);
  const rolledBack = outcome.includes('rolled back');
  const serving: Role = rolledBack ? v1 : v2;
  const oldExit = rolledBack ? await v2.wait(10_000) : await v1.wait(10_000);
  if (!rolledBack) await v2.waitForLine(/serving on 127\.0\.0\.1:7000/);
  const tablesAfter = await lab.fdTables('after', rolledBack ? 'after the rollback' : 'after the handover (v1 has exited)', [v1, v2], tcp);
  const result = await pingOnThenCompare(lab, client, rolledBack);
  // Only a stats line printed after this SIGWINCH counts (a rollback prints one too).
  const before = serving.lines.length;
  await serving.signal('SIGWINCH');
  const stats = await serving.waitForLine(STATS_LINE, 15_000, before);
  // The server stops first, while the client still holds every connection: its last stats line then
  // counts them all, as the one above does (stopped together, it counted 21: those not yet closed).
  // The client, done pinging, then exits by itself: its closed connections were all that kept it running.
  await serving.signal('SIGTERM');
  await serving.wait(10_000);
  await client.wait(10_000);

  clientChecks(lab, result, serving.name, stats);
  if (crashNew) {
    lab.check('v2 died mid-handover and v1 rolled back', rolledBack && oldExit.exitCode !== 0, `${outcome}; v2 exit ${oldExit.exitCode}`);
  } else {
    lab.check(`v1's ${lab.runtime.kind === 'docker' ? 'container' : 'process'} has exited`, !rolledBack && oldExit.exitCode === 0, `exit ${oldExit.exitCode}; ${outcome}`);
  }
  // The window the delay check looks at: from the signal to v1's last group switched (or its rollback).
  const end = [/switched all \d+ connections/, /committed: /, /rolled back:/].map((p) => v1.lines.find((l) => p.test(l))).find((l) => l !== undefined);
  const gap = v1.lines.map((l) => /committed: .*\(gap (\d+) ms/.exec(l)).find((m) => m !== null);
  delayCheck(lab, result, { from: signalAt, to: (end === undefined ? null : logTime(end, signalAt)) ?? Date.now(), gapMs: gap ? Number(gap[1]) : null });
  const carried = carriedSockets(tablesBefore, tablesAfter, 'server-v1', serving.name);
  const unseen = unseenIn(tablesBefore, tablesAfter);
  if (unseen) lab.skip(`fd tables from /proc: ${serving.name} holds v1's listener and connections (same inodes)`, unseen);
  else lab.check(`fd tables from /proc: ${serving.name} holds v1's listener and connections (same inodes)`, carried.ok && carried.connections >= connections, carried.measured);
  lab.record('client', result);
}

function twoContainerCaptures(pairs: readonly FdPair[], lab: LabContext): void {
  // Count from the messages, not the printed fds: strace -s 128 prints at
  // most 128 fds of a 253-fd batch, but cmsg_len says how many there were.
  const fromV1 = pairs.filter((p) => p.sent?.role === 'server-v1' && p.received?.role === 'server-v2');
  const messages = [...new Map(fromV1.map((p) => [p.sent!.event.line, p.sent!.event])).values()];
  const fds = messages.reduce((sum, event) => sum + event.fdCount, 0);
  const biggest = Math.max(0, ...messages.map((event) => event.fdCount));
  lab.check('strace: v1 sent the listener and the connections to v2 in SCM_RIGHTS batches', fds > 0 && biggest <= 253,
    `${fds} fds in ${messages.length} sendmsg call(s), the largest with ${biggest}`);
}
