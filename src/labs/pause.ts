// --pause: before each step, stop the roles (a cgroup freezer, SIGSTOP or
// docker pause), say what to look at and the exact commands that work from
// here (host pids, also in Docker mode), then wait for Enter. The lab's
// timeouts stand still meanwhile, and the roles go on at Enter.
import chalk from 'chalk';
import type { LabRuntime, PausedRoles, Role } from '../runtime/types';
import type { Guide } from './guide';
import { whilePaused } from '../util/pause';
import { wrap } from '../util/wrap';

/** Commands for one role, as this machine sees it. */
export function lookCommands(ownNetwork: boolean, pid: number): string[] {
  const fds = `ls -l /proc/${pid}/fd`;
  // In a namespace other than this machine's, ss here would not list the role's sockets.
  return ownNetwork
    ? [fds, `nsenter -t ${pid} -n ss -atxnpe`, `cat /proc/${pid}/fdinfo/<fd>`]
    : [fds, `ss -atxnpe | grep 'pid=${pid},'`, `cat /proc/${pid}/fdinfo/<fd>`];
}

let stdinEnded = false;

function enter(): Promise<void> {
  // Input that ended while we were not listening (everything piped in at once) ends the pausing too.
  if (stdinEnded || process.stdin.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      process.stdin.off('data', done);
      process.stdin.off('end', ended);
      process.stdin.pause();
      resolve();
    };
    const ended = () => {
      stdinEnded = true; // no one to press Enter: go on without pausing again
      done();
    };
    process.stdin.on('data', done);
    process.stdin.once('end', ended);
    process.stdin.resume();
  });
}

/** The roles' output has stopped growing for `quietMs` (at most `maxMs`): what they printed before the freeze is on screen. */
async function settled(roles: readonly Role[], quietMs: number, maxMs = 2000): Promise<void> {
  const count = () => roles.reduce((sum, role) => sum + role.lines.length, 0);
  const started = Date.now();
  for (let before = -1; count() !== before && Date.now() - started < maxMs; ) {
    before = count();
    await new Promise((resolve) => setTimeout(resolve, quietMs));
  }
}

export interface StepText {
  title: string;
  why: string;
  manual?: string[];
}

/**
 * --pause: stops every live role, lets what they printed reach the screen,
 * then prints the step and what is paused, and waits for Enter; the roles go
 * on at Enter. So a step's output comes before the next step's prompt, and
 * nothing of the next step runs until Enter. Without live roles: just the step.
 */
export async function pausedStep(runtime: LabRuntime, roles: readonly Role[], guide: Guide, step: StepText): Promise<void> {
  const live = roles.filter((role) => role.exitCode === null);
  if (live.length === 0) return guide.step(step.title, step.why, step.manual);
  const paused: PausedRoles = (await runtime.pauseRoles?.()) ?? { how: 'nothing', running: new Map(live.map((role) => [role, 'this runtime cannot pause roles'])) };
  try {
    // Measured: a process role's last lines arrive within a few ms of the freeze; a container's come through the engine, later.
    await settled(live, runtime.kind === 'docker' ? 250 : 50);
    guide.step(step.title, step.why, step.manual);
    await printPause(runtime, live, paused, guide);
    await whilePaused(enter);
  } finally {
    await runtime.resumeRoles?.();
  }
}

async function printPause(runtime: LabRuntime, live: readonly Role[], paused: PausedRoles, guide: Guide): Promise<void> {
  const out = (text: string) => guide.write(text);
  const seen: { role: Role; pid: number }[] = [];
  const unseen: Role[] = []; // their pids are not visible from here (a devcontainer)
  for (const role of live) {
    const pid = await role.hostPid().catch(() => null);
    if (pid) seen.push({ role, pid });
    else unseen.push(role);
  }
  const stopped = live.filter((role) => !paused.running.has(role));
  const docker = runtime.kind === 'docker';
  // Short lines (100 columns at most): one long sentence with nested parentheses was 240 wide.
  // A role and its pid stay on one line (a no-break space while wrapping).
  const say = (colour: (text: string) => string, text: string, first = '   ', rest = first) => {
    for (const line of wrap(text, first, rest)) out(`${colour(line.replace(/\u00a0/g, ' '))}\n`);
  };
  out(`   ${chalk.bgYellow.black(' paused ')} ${chalk.yellow(`before step ${guide.stepCount}`)}\n`);
  if (stopped.length) say(chalk.yellow, `the roles are stopped by ${paused.how.replace(/ /g, '\u00a0')}, not ended: their fds and sockets stay as they are`);
  else say(chalk.yellow, 'the roles run on while you look');
  if (seen.length && docker) say(chalk.yellow, 'host pids below: inside its container each role has its own, smaller pid');
  if (seen.length) say(chalk.yellow, docker ? 'run these on this machine:' : 'run these in another terminal:');
  for (const { role, pid } of seen) {
    out(`     ${chalk.bold(role.name)} ${chalk.gray(`pid ${pid}`)}\n`);
    for (const command of lookCommands(runtime.ownNetwork, pid)) out(`       ${chalk.green(command)}\n`);
    // docker exec refuses a paused container; nsenter enters its namespaces without it.
    if (docker) out(`       ${chalk.green(paused.running.has(role) ? role.manualShellCommand() : `nsenter -t ${pid} -a sh`)}\n`);
  }
  if (unseen.length) {
    say(chalk.yellow, "these roles' pids are not visible from here: another pid namespace than the engine's (a devcontainer, Docker Desktop).");
    say(chalk.yellow, 'A paused container refuses docker exec until Enter; docker unpause <container> first lets it run on while you look inside:');
    for (const role of unseen) out(`     ${chalk.bold(role.name)}\n       ${chalk.green(role.manualShellCommand())}   ${chalk.gray('then: ls -l /proc/*/fd; ss -atxnpe')}\n`);
  }
  say(chalk.gray, 'look at: which fd numbers each process has, and what they point at (socket:[inode], the file); the same inode in two processes is one open file description');
  if (runtime.ownNetwork) {
    // Lab 2's receiver (--network none) holds a TCP socket its own namespace does not list.
    say(chalk.gray, "ss lists a socket in the network namespace it was created in: one received from another role's namespace is listed there, not in the holder's");
  }
  const pidOf = (role: Role) => seen.find((s) => s.role === role)?.pid;
  const named = (role: Role) => (pidOf(role) ? `${role.name}\u00a0(pid\u00a0${pidOf(role)})` : role.name);
  if (stopped.length) say(chalk.yellow, `paused: ${stopped.map(named).join(', ')}`, '   ', '     ');
  if (paused.running.size) say(chalk.yellow, `still running: ${[...paused.running].map(([role, why]) => `${named(role)}: ${why}`).join(', ')}`, '   ', '     ');
  say(chalk.yellow, `press Enter to run step ${guide.stepCount}: ${guide.stepTitle}`, '   ', '     ');
}
