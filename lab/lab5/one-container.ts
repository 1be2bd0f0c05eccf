// Lab 5, part B (--set containers=1): the same upgrade inside ONE container,
// as a server is run in production. The container's command is the
// supervisor, `fdlab run`, which stays for the container's whole life and
// starts v1; `docker kill --signal SIGUSR2 <container>` reaches it, it passes
// the signal to v1, and v1's engine asks it to start the successor: the same
// command again, which reads the new code from the shared volume. In the
// process runtime the supervisor is a process, signalled with kill.
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { LabContext } from '../../src/labs/types';
import type { ExecResult, Role } from '../../src/runtime/types';
import { unseenIn } from '../../src/labs/fd-snapshot';
import type { FdPair } from '../../src/strace';
import { LabError } from '../../src/lab-error';
import { cliPath, pathInImage, roleScripts } from '../../src/project';
import { carriedSockets, clientChecks, delayCheck, pingOnThenCompare, PORT, sleep, STATS_LINE } from './shared';

const CLI = cliPath();
const roleScript = roleScripts(__dirname, ['client']);
/** A word for sh: as it is when nothing in it is special, else in single quotes. */
const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/** The pids (on this machine) of the supervisor's children: its workers. */
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * One worker of the supervisor, as a Role for lab.fdTables: its own name and
 * its pid on this machine (the supervisor's only child at that moment; null
 * when this process cannot see the container's pids, and the tables say so).
 */
async function workerView(server: Role, name: string): Promise<Role> {
  const supervisor = await server.hostPid();
  const children = supervisor === null ? [] : childrenOf(supervisor);
  const pid = children.length === 1 ? children[0] : null;
  return {
    name,
    exitCode: null,
    lines: server.lines,
    waitForLine: (pattern, timeoutMs, fromLine) => server.waitForLine(pattern, timeoutMs, fromLine),
    signal: async () => {
      throw new LabError('ERR_NOT_A_ROLE', `${name} is a worker inside ${server.name}: signal the supervisor, or kill the worker's pid from inside`);
    },
    exec: (command) => server.exec(command),
    wait: (timeoutMs) => server.wait(timeoutMs),
    manualSignalCommand: (signal) => `kill -${signal.replace(/^SIG/, '')} ${pid ?? '<pid>'}`,
    manualShellCommand: () => server.manualShellCommand(),
    hostPid: async () => pid,
    id: `${server.id}:${pid ?? '?'}`,
  };
}

/** Runs `script` with sh beside the server (docker exec into its container, or on this machine); its output, or a LabError. */
async function inside(server: Role, script: string): Promise<string> {
  const result: ExecResult = await server.exec(['sh', '-c', script]);
  if (result.exitCode !== 0) throw new LabError('ERR_ROLE_EXEC', `${script}: exit ${result.exitCode}: ${result.output.trim()}`);
  return result.output.trim();
}

export async function runOneContainer(lab: LabContext): Promise<void> {
  const connections = lab.setting('connections');
  const crashNew = lab.fault === 'crash-new';
  const shared = lab.runtime.sharedDir;
  const docker = lab.runtime.kind === 'docker';
  const where = docker ? 'container' : 'supervisor process';
  const code = `${shared}/lab5-code`;
  const runPid = `${shared}/lab5-run.pid`;
  const servePid = `${shared}/lab5.pid`;
  if (lab.options.inspect) lab.say('--inspect: part A only (v1 and v2 each a role); ignored with containers=1.');
  // The command the supervisor runs for each worker: node and the CLI as the runtime sees them; the
  // version from the volume (v1, the code the image has, until something is written there).
  const node = docker ? 'node' : process.execPath;
  const cli = docker ? pathInImage(CLI) : CLI;
  const worker =
    `exec ${quote(node)} ${quote(cli)} serve --port ${PORT} --version "$(cat ${quote(`${code}/VERSION`)} 2>/dev/null || echo v1)" ` +
    `--standby 1000 --pid-file ${quote(servePid)} --state-dir ${quote(`${shared}/lab5-upgrade`)}`;

  await lab.step(
    `Start the service: one ${docker ? 'container' : 'process'}, the supervisor \`fdlab run\`, which starts v1`,
    '`fdlab run -- sh -c "exec fdlab serve --version $(cat lab5-code/VERSION || echo v1) ..."`: the supervisor stays\n' +
      `for the ${docker ? 'container\'s' : 'service\'s'} whole life; each worker it starts runs that command anew, so it runs whatever code\n` +
      'the volume holds at that moment (until something is written there, v1: the fallback, like code built into the image).' +
      (docker ? '\nHere docker-init, the lab\'s role runner and strace come before it; in production it is PID 1 (examples/production/Dockerfile).' : ''),
  );
  const server = await lab.startRole({
    name: 'server',
    script: CLI,
    args: ['run', '--pid-file', runPid, '--', 'sh', '-c', worker],
    // The engine's fault hook (docs/handover.md): v1 passes it on to v2, which kills itself on entering 'receiving'.
    env: crashNew ? { FDLAB_HANDOVER_HOOK: 'new:receiving=kill' } : {},
    traced: true,
  });
  const v1 = Number((await server.waitForLine(/serving on 127\.0\.0\.1:7000 as pid (\d+) \(v1\)/)).match(/as pid (\d+)/)![1]);
  const supervisorBefore = await inside(server, `cat ${quote(runPid)}`);

  await lab.step(
    `Start the client: ${connections} long-lived connections, a ping every 100 ms each`,
    'It also opens a fresh connection every 100 ms, to see whether the listener keeps accepting.',
  );
  const client = await lab.startRole({ name: 'client', script: roleScript('client'), args: [String(PORT), String(connections)] });
  await client.waitForLine(/^all \d+ connections open/);
  await sleep(1500);

  const ship = `mkdir -p ${quote(code)} && echo v2 > ${quote(`${code}/VERSION`)}`;
  await lab.step(
    'Ship v2: write the new code to the volume',
    `Nothing restarts: the ${where} and v1 go on. The next worker the supervisor starts reads it. In production the\n` +
      'volume is a bind mount or a volume your deploy job writes (docs/production.md); here the shared volume.',
    [docker ? `docker exec ${server.manualSignalCommand('SIGUSR2').split(' ').at(-1)} sh -c ${quote(ship)}` : ship],
  );
  await inside(server, ship);
  const tcp = { sockets: ['tcp'] as const };
  const tablesBefore = await lab.fdTables('before', 'before the upgrade (v1, the supervisor\'s only worker)', [await workerView(server, 'worker-v1')], tcp);

  await lab.step(
    `Send SIGUSR2 to the ${where}${crashNew ? ' (with --fault crash-new: v2 dies mid-handover)' : ''}`,
    'The supervisor passes it to v1, whose engine asks the supervisor (over their IPC channel) to start its successor:\n' +
      'the same command, which now reads v2 from the volume. v2 is the supervisor\'s child, beside v1 in the same\n' +
      `${docker ? 'container' : 'process tree'}; then the handover is part A's: hello, copies, groups, commit, 1 s of standby. v1 exits; the supervisor stays.`,
    [server.manualSignalCommand('SIGUSR2')],
  );
  await server.signal('SIGUSR2');
  const outcome = await server.waitForLine(/handed over; exiting|rolled back:/, 20_000);
  const rolledBack = outcome.includes('rolled back');
  const v2 = Number((await server.waitForLine(/started worker pid (\d+) \(generation 2\)/)).match(/worker pid (\d+)/)![1]);
  const gone = rolledBack ? v2 : v1;
  const exit = await server.waitForLine(new RegExp(`worker pid ${gone} exited \\((code \\d+|SIG[A-Z0-9]+)\\)`), 15_000);
  const how = exit.match(/exited \((code (\d+)|(SIG[A-Z0-9]+))\)/)!;
  const goneStatus = how[2] !== undefined ? Number(how[2]) : 128 + (os.constants.signals[how[3] as NodeJS.Signals] ?? 0);
  const serving = rolledBack ? v1 : v2;
  if (!rolledBack) await server.waitForLine(new RegExp(`serving on 127\\.0\\.0\\.1:7000 as pid ${v2} \\(v2\\)`));
  // Inside the container's pid namespace (or on this machine): who the supervisor is, its workers, and whom the pid file names.
  const supervisorAfter = await inside(server, `cat ${quote(runPid)}`);
  const children = (await inside(server, `p=$(cat ${quote(runPid)}); cat /proc/$p/task/$p/children`)).split(/\s+/).filter(Boolean).map(Number);
  const named = Number(await inside(server, `cat ${quote(servePid)}`));
  const stillRunning = server.exitCode === null;
  const servingName = rolledBack ? 'worker-v1' : 'worker-v2';
  const tablesAfter = await lab.fdTables('after', rolledBack ? 'after the rollback (v1, the supervisor\'s only worker)' : 'after the upgrade (v2, the supervisor\'s only worker; v1 has exited)', [await workerView(server, servingName)], tcp);
  const result = await pingOnThenCompare(lab, client, rolledBack);
  // The supervisor passes on only SIGUSR2 and the stop signals: the stats line is asked of the worker itself.
  const before = server.lines.length;
  await inside(server, `kill -WINCH "$(cat ${quote(servePid)})"`);
  const stats = await server.waitForLine(STATS_LINE, 15_000, before);
  // The server stops first, while the client still holds every connection: its last stats line counts them all.
  await server.signal('SIGTERM');
  const serverExit = await server.wait(10_000);
  await client.wait(10_000); // done pinging, it exits once the server closed its connections


  clientChecks(lab, result, `${rolledBack ? 'v1' : 'v2'} (worker pid ${serving})`, stats);
  if (crashNew) {
    lab.check('v2 died mid-handover and v1 rolled back', rolledBack && goneStatus !== 0, `${outcome}; v2 exit ${goneStatus}`);
  } else {
    lab.check('v1\'s worker has exited, the supervisor stays', !rolledBack && goneStatus === 0, `v1 (worker pid ${v1}) exit ${goneStatus}; ${outcome}`);
  }
  lab.check(`one ${where} throughout: the supervisor's, the same pid`, stillRunning && supervisorAfter === supervisorBefore,
    `${docker ? `container ${server.id}` : `the server role (runner pid ${server.id})`} still running after the upgrade; supervisor pid ${supervisorBefore} before, ${supervisorAfter} after; exit ${serverExit.exitCode} at the stop`);
  lab.check('one worker after the upgrade settles', children.length === 1 && children[0] === serving && named === serving,
    `the supervisor's children: ${children.join(', ') || 'none'}; lab5.pid names ${named}`);
  delayCheck(lab, result);
  const carried = carriedSockets(tablesBefore, tablesAfter, 'worker-v1', servingName);
  const unseen = unseenIn(tablesBefore, tablesAfter);
  if (unseen) lab.skip(`fd tables from /proc: ${servingName} holds v1's listener and connections (same inodes)`, unseen);
  else lab.check(`fd tables from /proc: ${servingName} holds v1's listener and connections (same inodes)`, carried.ok && carried.connections >= connections, carried.measured);
  lab.record('client', result);
  lab.record('workers', { v1, v2, supervisor: Number(supervisorBefore) });
}

/**
 * strace -f on the supervisor follows its workers: one capture, both sides of
 * the handover, told apart by pid (as strace saw them: the container's own).
 */
export function oneContainerCaptures(pairs: readonly FdPair[], lab: LabContext, roles: ReadonlyMap<string, Role>): void {
  const lines = roles.get('server')?.lines ?? [];
  const pidIn = (pattern: RegExp) => Number(lines.map((line) => line.match(pattern)?.[1]).find(Boolean) ?? NaN);
  const v1 = pidIn(/serving on 127\.0\.0\.1:7000 as pid (\d+) \(v1\)/);
  const v2 = pidIn(/started worker pid (\d+) \(generation 2\)/);
  // Count from the messages, not the printed fds: strace -s 128 prints at
  // most 128 fds of a 253-fd batch, but cmsg_len says how many there were.
  const fromV1 = pairs.filter((p) => p.sent?.role === 'server' && p.received?.role === 'server' && p.sent.pid === v1 && p.received.pid === v2);
  const messages = [...new Map(fromV1.map((p) => [p.sent!.event.line, p.sent!.event])).values()];
  const fds = messages.reduce((sum, event) => sum + event.fdCount, 0);
  const biggest = Math.max(0, ...messages.map((event) => event.fdCount));
  lab.check('strace: v1 sent the listener and the connections to v2 in SCM_RIGHTS batches', fds > 0 && biggest <= 253,
    `${fds} fds in ${messages.length} sendmsg call(s), the largest with ${biggest}; worker pid ${v1} to worker pid ${v2}, both in server's capture`);
}
