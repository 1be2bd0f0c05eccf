// Real strace captures of the pass-fds fixture, made as the lab runner makes
// them: strace -f -tt -yy -s 128 -e trace=sendmsg,recvmsg -o FILE -- node ...
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closeQuietly, socketpair } from '../../src';
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
      `${command} ${args.join(' ')} exited ${result.code ?? result.signal} (strace needs ptrace: in Docker, --cap-add SYS_PTRACE; ` +
        `unshare -n needs root or CAP_SYS_ADMIN):\n${result.stderr}`,
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
 * Sender and receiver under their own strace, the receiver in a new, empty
 * network namespace (unshare -n), as in a --network none container: strace
 * cannot look up sockets made outside it, so its capture shows the received
 * TCP socket and the channel by inode only.
 */
export async function captureTwoRoles(): Promise<{ sender: string; receiver: string; report: PassFdsReport }> {
  const dir = tempDir('fdlab-strace-test-');
  const [a, b] = socketpair('stream');
  try {
    const runs = [
      run('strace', traced(path.join(dir, 'sender.strace'), 'sender'), [a]),
      run('unshare', ['-n', 'strace', ...traced(path.join(dir, 'receiver.strace'), 'receiver')], [b]),
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
