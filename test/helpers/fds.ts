// Shared test helpers: fd accounting and temporary files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withDeadline } from '../../src/util/deadline';

/** How many fds this process has open right now (/proc/self/fd). */
export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The set of fd numbers open right now. */
export function openFds(): Set<number> {
  return new Set(fs.readdirSync('/proc/self/fd').map(Number));
}

export function isOpen(fd: number): boolean {
  return fs.existsSync(`/proc/self/fd/${fd}`);
}

const made: string[] = [];

/** A fresh temporary directory, removed when the test run ends (removeTempDirs). */
export function tempDir(prefix = 'fdlab-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** The temporary directories made so far (a process naming one belongs to this run). */
export function tempDirsMade(): readonly string[] {
  return made;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A temporary file with `content`, opened read-write; returns its path and fd. */
export function tempFile(content: string): { path: string; fd: number } {
  const file = path.join(tempDir(), 'tmp.txt');
  fs.writeFileSync(file, content);
  return { path: file, fd: fs.openSync(file, 'r+') };
}

export function readSome(fd: number, length: number): string {
  const buffer = Buffer.alloc(length);
  const n = fs.readSync(fd, buffer, 0, length, null);
  return buffer.subarray(0, n).toString();
}

/** Fails after `ms` instead of letting a hung socket stall the suite. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  return withDeadline(promise, ms, () => new Error(`timed out after ${ms} ms: ${what}`));
}

/**
 * Polls `condition` every `everyMs` until it holds; fails after `ms` with the
 * same message as within(). The deterministic replacement for "sleep a bit,
 * then assert": it waits exactly as long as needed, and no poll outlives the
 * deadline (a `within(ms, ..., loop)` would leave the loop spinning).
 * `what` may be a function: a message built when it fails (a log as it is then).
 */
export async function until(ms: number, what: string | (() => string), condition: () => boolean, everyMs = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms: ${typeof what === 'function' ? what() : what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
