// Running `fdlab serve` as a real process for the hot-upgrade tests.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { within } from './fds';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

export function startServe(port: number, dir: string, extra: string[] = []): { child: ChildProcess; pidFile: string; log: () => string } {
  const pidFile = path.join(dir, 'serve.pid');
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--pid-file', pidFile, '--state-dir', path.join(dir, 'state'), ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return { child, pidFile, log: () => log };
}

export async function waitForPidFile(pidFile: string): Promise<number> {
  return within(10_000, 'pid file', (async () => {
    while (!fs.existsSync(pidFile)) await new Promise((r) => setTimeout(r, 20));
    return Number(fs.readFileSync(pidFile, 'utf8'));
  })());
}

/** Whoever serves at the end (a successor, detached) is stopped too. */
export function stopServing(pidFile: string): void {
  try {
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGTERM');
  } catch {
    // Already gone.
  }
}

