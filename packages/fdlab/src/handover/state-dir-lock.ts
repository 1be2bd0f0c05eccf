// One state dir, one owner. Two servers on one state dir would each replace
// the other's upgrade socket and both roll back every upgrade, forever
// (issue 18, item 13); the second is refused at start instead.
//
// The lock is flock(2) on `owner.lock` in the state dir: released by the
// kernel when the last fd of its open file description closes, so a crash
// never leaves it stale. Every version that serves holds it *shared*; a
// server started fresh must first get it *exclusive* (nobody else holds it),
// then turns that into shared. Ownership passes with an upgrade without
// sending any fd: the successor takes its own shared lock while the old
// version still holds one, so the state dir is never unowned, and an
// external successor (another container, the same state dir mounted) does the
// same. flock cannot turn exclusive into shared atomically, so a fresh start
// holds the state dir itself (a directory can be flocked) exclusive
// meanwhile: two fresh starts cannot both pass, and no second file is left.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FdlabError } from '../errors';
import { binding } from '../native/binding';
import { fileError, STATE_DIR_ALTERNATIVE } from './file-errors';

export const OWNER_LOCK_NAME = 'owner.lock';

/** How long to wait for a lock held only for an instant (a fresh start turning exclusive into shared). */
const INSTANT_MS = 2000;

export interface StateDirLock {
  /** Lets go (closes our fd); the state dir stays owned while any other version holds it. */
  release(): void;
}

function openLockFile(stateDir: string, name: string): number {
  const file = path.join(stateDir, name);
  try {
    // Read-only: flock needs no write access, and an fd open for writing would keep an operator from remounting the file system read-only (EBUSY).
    return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    throw fileError('ERR_STATE_DIR', 'cannot open the state dir lock', file, error, STATE_DIR_ALTERNATIVE);
  }
}

function openStateDir(stateDir: string): number {
  try {
    return fs.openSync(stateDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (error) {
    throw fileError('ERR_STATE_DIR', 'cannot open the state dir', stateDir, error, STATE_DIR_ALTERNATIVE);
  }
}

/** Tries `mode` until it is taken or INSTANT_MS pass. */
async function take(fd: number, mode: 'shared' | 'exclusive'): Promise<boolean> {
  const deadline = Date.now() + INSTANT_MS;
  while (!binding.tryFlock(fd, mode)) {
    if (Date.now() >= deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Pids (other than ours) with the file `file` open: who owns the state dir. Only read to say so. */
export function pidsHolding(file: string): number[] {
  let target: fs.Stats;
  try {
    target = fs.statSync(file);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      for (const fd of fs.readdirSync(`/proc/${entry}/fd`)) {
        const stat = fs.statSync(`/proc/${entry}/fd/${fd}`);
        if (stat.ino === target.ino && stat.dev === target.dev) {
          pids.push(Number(entry));
          break;
        }
      }
    } catch {
      // Gone, or not ours to look at.
    }
  }
  return pids;
}

function inUse(stateDir: string): FdlabError {
  const owners = pidsHolding(path.join(stateDir, OWNER_LOCK_NAME));
  const who = owners.length > 0 ? `pid ${owners.join(', pid ')}` : 'a process we cannot see (another pid namespace?)';
  return new FdlabError(
    'ERR_STATE_DIR_IN_USE',
    `the state dir ${stateDir} belongs to another running server (${who}): one state dir serves one server and its upgrades; give this one another stateDir (fdlab serve: --state-dir), or stop ${owners.length > 0 ? `pid ${owners[0]}` : 'the other server'} first`,
  );
}

/**
 * Owns `stateDir`: a fresh server (`successor` false) is refused with
 * ERR_STATE_DIR_IN_USE if anyone holds it; a successor shares it with the
 * version it takes over from.
 */
export async function lockStateDir(stateDir: string, successor: boolean): Promise<StateDirLock> {
  const owner = openLockFile(stateDir, OWNER_LOCK_NAME);
  let start = -1;
  try {
    if (!successor) {
      start = openStateDir(stateDir);
      if (!(await take(start, 'exclusive')) || !binding.tryFlock(owner, 'exclusive')) throw inUse(stateDir);
    }
    // A fresh start: exclusive becomes shared while the state dir's own lock keeps other fresh starts out.
    // A successor: shared with the old version (a fresh start may hold it exclusive for an instant).
    if (!(await take(owner, 'shared'))) throw inUse(stateDir);
  } catch (error) {
    fs.closeSync(owner);
    throw error;
  } finally {
    if (start >= 0) fs.closeSync(start); // releases the state dir's own lock
  }
  let held = true;
  return {
    release: () => {
      if (held) fs.closeSync(owner);
      held = false;
    },
  };
}
