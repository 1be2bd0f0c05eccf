// Running fixtures (compiled to dist/test/fixtures) as real child processes.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '..', 'fixtures');

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function collect(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Starts a Node fixture; extra fds in `pass` become fds 3, 4, ... in the child. */
export function startFixture(name: string, args: string[] = [], pass: number[] = []): ChildProcess {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...pass];
  return spawn(process.execPath, [path.join(FIXTURES, `${name}.js`), ...args], { stdio });
}

export async function runFixture(name: string, args: string[] = [], pass: number[] = []): Promise<Finished> {
  const result = await collect(startFixture(name, args, pass));
  if (result.code !== 0) {
    throw new Error(`fixture ${name} exited ${result.code ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** Whether a process with this pid exists (a zombie counts until reaped). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
