// --pause: before each step, with the roles alive, say what to look at and
// the exact commands that work from here (host pids, also in Docker mode),
// then wait for Enter. The lab's timeouts stand still meanwhile.
import chalk from 'chalk';
import type { LabRuntime, Role } from '../runtime/types';
import { whilePaused } from '../util/pause';

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

/** Prints the pause and waits for Enter; returns at once when no role is running. */
export async function pauseBeforeStep(runtime: LabRuntime, roles: readonly Role[], out: (text: string) => void): Promise<void> {
  const alive: { role: Role; pid: number }[] = [];
  const unseen: Role[] = []; // running, but their pids are not visible from here (a devcontainer)
  for (const role of roles) {
    if (role.exitCode !== null) continue;
    const pid = await role.hostPid().catch(() => null);
    if (pid) alive.push({ role, pid });
    else unseen.push(role);
  }
  if (alive.length === 0 && unseen.length === 0) return;
  const where = runtime.kind === 'docker' ? 'host pids (inside its container each has its own, smaller pid); run these on this machine' : 'run these in another terminal';
  out(`   ${chalk.bgYellow.black(' paused ')} ${chalk.yellow(`before this step; the roles are alive${alive.length ? ` (${where})` : ''}:`)}\n`);
  for (const { role, pid } of alive) {
    out(`     ${chalk.bold(role.name)} ${chalk.gray(`pid ${pid}`)}\n`);
    for (const command of lookCommands(runtime.ownNetwork, pid)) out(`       ${chalk.green(command)}\n`);
    if (runtime.kind === 'docker') out(`       ${chalk.green(role.manualShellCommand())}\n`);
  }
  if (unseen.length) {
    out(`   ${chalk.yellow("these roles run, but this process cannot see their pids (another pid namespace than the engine's: a devcontainer, Docker Desktop); look from inside each:")}\n`);
    for (const role of unseen) out(`     ${chalk.bold(role.name)}\n       ${chalk.green(role.manualShellCommand())}   ${chalk.gray('then: ls -l /proc/*/fd; ss -atxnpe')}\n`);
  }
  out(`   ${chalk.gray('look at: which fd numbers each process has, and what they point at (socket:[inode], the file); the same inode in two processes is one open file description')}\n`);
  if (runtime.ownNetwork) {
    // Lab 2's receiver (--network none) holds a TCP socket its own namespace does not list.
    out(`   ${chalk.gray("ss lists a socket in the network namespace it was created in: one received from another role's namespace is listed there, not in the holder's")}\n`);
  }
  out(`   ${chalk.yellow('press Enter to run this step')}\n`);
  await whilePaused(enter);
}
