// Entry point of every lab role, in a container or as a child process:
//   node role-runner.js <script> [args...]
// It starts the role's script, under strace when FDLAB_STRACE is set, and
// forwards signals to it. Forwarding matters: strace itself dies of SIGUSR2,
// so `docker kill --signal SIGUSR2` must reach the traced node, not strace.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const FORWARDED: NodeJS.Signals[] = ['SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGHUP', 'SIGTERM', 'SIGINT'];

const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('usage: role-runner <script> [args...]');
  process.exit(2);
}
const nodeArgs = ['--enable-source-maps'];
const inspectPort = process.env.FDLAB_INSPECT_PORT;
if (inspectPort) {
  // In a container the inspector must answer on the pod's bridge address, where
  // the engine's published 127.0.0.1 port forwards to; as a process, on loopback only.
  const host = process.env.FDLAB_RUNTIME === 'docker' ? '0.0.0.0' : '127.0.0.1';
  // FDLAB_INSPECT_BRK=1: wait for a debugger before the role's first line runs.
  const flag = process.env.FDLAB_INSPECT_BRK === '1' ? '--inspect-brk' : '--inspect';
  nodeArgs.push(`${flag}=${host}:${inspectPort}`);
}
// The runtimes hand over an absolute path (a relative one is from the cwd, the project root in both).
nodeArgs.push(path.resolve(script), ...args);

const traceList = process.env.FDLAB_STRACE;
const traceOut = process.env.FDLAB_STRACE_OUT;
let child: ChildProcess;
if (traceList !== undefined && traceOut) {
  fs.mkdirSync(path.dirname(traceOut), { recursive: true });
  // --seccomp-bpf: only the traced syscalls stop the role, so a busy role
  // (lab 3's 100,000 handovers) is not slowed by every epoll_wait.
  const filter = traceList === '' ? [] : ['--seccomp-bpf', '-e', `trace=${traceList}`];
  child = spawn('strace', ['-f', '-tt', '-yy', '-s', '128', ...filter, '-o', traceOut, '--', process.execPath, ...nodeArgs], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
} else {
  child = spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
}
const traced = traceList !== undefined && traceOut !== undefined;

/** The role's own node process: strace's first child when traced. */
function rolePid(): number | undefined {
  if (!traced) return child.pid;
  try {
    const children = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
    return children[0] ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

for (const signal of FORWARDED) {
  process.on(signal, () => {
    const pid = rolePid();
    if (pid) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone: its exit is on its way to us.
      }
    }
  });
}

// A process-runtime role must not outlive the lab that started it, even if
// the lab was killed: the lab holds our stdin pipe, and its end is our cue.
if (process.env.FDLAB_EXIT_WITH_PARENT === '1') {
  // The process runtime made us a process group leader: take the group down.
  process.stdin.on('end', () => process.kill(-process.pid, 'SIGKILL'));
  process.stdin.resume();
}

child.on('error', (error) => {
  console.error(`role-runner: cannot start ${traced ? 'strace' : 'node'}: ${error.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
});
