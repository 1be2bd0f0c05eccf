// A small tmpfs for tests of a full or read-only file system. We run as root,
// and mode bits do not stop root: only a read-only mount (EROFS) or a full
// one (ENOSPC) does. Every mount made here is unmounted by unmountAll(), which
// the tests call whatever happened (an `after` hook and each test's finally).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const mounted = new Set<string>();

/** Why tmpfs mounts cannot be made here, or null if they can (root, and mount works). */
export function cannotMount(probeDir: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  try {
    const probe = SmallTmpfs.mount(path.join(probeDir, 'probe'), 16);
    probe.unmount();
    return null;
  } catch (error) {
    return `cannot mount a tmpfs: ${(error as Error).message}`;
  }
}

export class SmallTmpfs {
  private constructor(readonly dir: string) {}

  /** Mounts a tmpfs of `kb` KB on `dir` (created if missing). */
  static mount(dir: string, kb: number): SmallTmpfs {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k,mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
    mounted.add(dir);
    return new SmallTmpfs(dir);
  }

  readOnly(): void {
    execFileSync('mount', ['-o', 'remount,ro', this.dir], { stdio: 'pipe' });
  }

  readWrite(): void {
    execFileSync('mount', ['-o', 'remount,rw', this.dir], { stdio: 'pipe' });
  }

  /** Writes a filler file until the file system is full (ENOSPC); returns the bytes written. */
  fill(): number {
    const fd = fs.openSync(path.join(this.dir, 'filler'), 'w');
    const chunk = Buffer.alloc(4096, 0x66);
    let written = 0;
    try {
      for (;;) written += fs.writeSync(fd, chunk);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOSPC') throw error;
    } finally {
      fs.closeSync(fd);
    }
    return written;
  }

  /** Frees what fill() took. */
  free(): void {
    fs.rmSync(path.join(this.dir, 'filler'), { force: true });
  }

  unmount(): void {
    unmount(this.dir);
  }
}

function unmount(dir: string): void {
  if (!mounted.has(dir)) return;
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' }); // lazy: a process still in it does not keep it
  } catch {
    // Not mounted any more.
  }
  mounted.delete(dir);
}

/** Unmounts everything mounted here (safe to call twice). */
export function unmountAll(): void {
  for (const dir of [...mounted]) unmount(dir);
}
