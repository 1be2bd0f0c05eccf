// Real strace captures of the pass-fds fixture, made as the lab runner makes
// them: strace -f -tt -yy -s 128 -e trace=sendmsg,recvmsg -o FILE -- node ...
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closeQuietly, socketpair } from 'fdlab';
import type { PassFdsReport } from '../fixtures/strace/pass-fds';
import { tempDir } from '../helpers/fds';
import { collect, FIXTURES } from '../helpers/process';

const FIXTURE = path.join(FIXTURES, 'strace', 'pass-fds.js');

function traced(output: string, role?: string): string[] {
  const filter = ['-e', 'trace=sendmsg,recvmsg'];
  return ['-f', '-tt', '-yy', '-s', '128', ...filter, '-o', output, '--', process.execPath, FIXTURE, ...(role ? [role] : [])];
}

async function run(command: string, args: string[], pass: number[] = []): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', ...pass] });
  const result = await collect(child).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? new Error(`${command} not found: the strace tests need strace and unshare (apt-get install strace util-linux)`) : error;
  });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.code ?? result.signal} (strace needs ptrace: in Docker, --cap-add SYS_PTRACE):\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** Sender and receiver (its child) under one strace -f: one capture. */
export async function captureOneRun(): Promise<{ capture: string; report: PassFdsReport }> {
  const dir = tempDir('fdlab-strace-test-');
  try {
    const stdout = await run('strace', traced(path.join(dir, 'both.strace')));
    return { capture: fs.readFileSync(path.join(dir, 'both.strace'), 'utf8'), report: JSON.parse(stdout) as PassFdsReport };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * How to give a process a new, empty network namespace here: `unshare -n`
 * needs CAP_SYS_ADMIN (root on a host, not a devcontainer's user); `unshare -rn`
 * makes a user namespace first, which an unprivileged user may do where the
 * kernel and seccomp allow it. A string when neither works: the reason.
 */
export function netnsUnshare(): string[] | string {
  const tried: string[] = [];
  for (const flags of [['-n'], ['-rn']]) {
    const probe = spawnSync('unshare', [...flags, 'true'], { encoding: 'utf8' });
    if (probe.status === 0) return flags;
    tried.push(`unshare ${flags.join(' ')}: ${probe.error?.message ?? probe.stderr.trim()}`);
  }
  return `no new network namespace here (${tried.join('; ')})`;
}

/**
 * Sender and receiver under their own strace, the receiver in a new, empty
 * network namespace (unshare -n), as in a --network none container: strace
 * cannot look up sockets made outside it, so its capture shows the received
 * TCP socket and the channel by inode only.
 */
export async function captureTwoRoles(unshareFlags: string[]): Promise<{ sender: string; receiver: string; report: PassFdsReport }> {
  const dir = tempDir('fdlab-strace-test-');
  const [a, b] = socketpair('stream');
  try {
    const runs = [
      run('strace', traced(path.join(dir, 'sender.strace'), 'sender'), [a]),
      run('unshare', [...unshareFlags, 'strace', ...traced(path.join(dir, 'receiver.strace'), 'receiver')], [b]),
    ];
    closeQuietly([a, b]); // the children hold their own copies
    const [stdout] = await Promise.all(runs);
    return {
      sender: fs.readFileSync(path.join(dir, 'sender.strace'), 'utf8'),
      receiver: fs.readFileSync(path.join(dir, 'receiver.strace'), 'utf8'),
      report: JSON.parse(stdout) as PassFdsReport,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
