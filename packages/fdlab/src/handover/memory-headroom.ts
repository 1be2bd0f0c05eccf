// Room for a successor under a memory limit (issue 18, item 4). A new version
// needs about what this one holds privately (it wraps the same connections).
// If the cgroup's limit leaves less than that, the OOM killer must kill
// someone while the successor starts, and oom_score_adj cannot make it the
// successor: the score is rss + adj/1000 of the limit, and rss counts file
// pages charged to another cgroup (the node binary, cached by others).
// Measured in a v1 memory cgroup at usage + 4 MB: successor at adj 1000 with
// 7,303 pages (+ ~8,100 for the adj), old at 0 with 18,581 (10,656 of them
// file pages): the kernel killed the old one (at +8 and +15 MB, the successor). So spawnSuccessor refuses to start it (the upgrade
// rolls back; an external successor starts in a cgroup of its own).
// Reads /proc and /sys only; anything unreadable means "no limit known".
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MemoryRoom {
  /** The cgroup dir whose limit leaves the least room. */
  cgroup: string;
  limit: number;
  usage: number;
  /** What this process holds privately (RssAnon): about what its successor will need. */
  needed: number;
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Our memory cgroup's dir, and its ancestors up to the mount: [dir, version] each. */
function cgroupDirs(): { dir: string; version: 1 | 2 }[] {
  const cgroups = read('/proc/self/cgroup');
  const mountinfo = read('/proc/self/mountinfo');
  if (!cgroups || !mountinfo) return [];
  for (const line of mountinfo.trim().split('\n')) {
    const [left, right = ''] = line.split(' - ');
    const fields = left.split(' ');
    const [fstype, , options = ''] = right.split(' ');
    const v1 = fstype === 'cgroup' && options.split(',').includes('memory');
    const v2 = fstype === 'cgroup2' && (read(path.join(fields[4], 'cgroup.controllers')) ?? '').split(/\s+/).includes('memory');
    if (!v1 && !v2) continue;
    const own = cgroups.split('\n').map((l) => l.split(':')).find(([, controllers]) => (v1 ? (controllers ?? '').split(',').includes('memory') : controllers === ''));
    if (!own) continue;
    const relative = path.relative(fields[3], own[2]);
    if (relative.startsWith('..')) continue;
    const dirs: { dir: string; version: 1 | 2 }[] = [];
    for (let dir = path.join(fields[4], relative); ; dir = path.dirname(dir)) {
      dirs.push({ dir, version: v1 ? 1 : 2 });
      if (dir === fields[4] || dir === '/') break;
    }
    return dirs;
  }
  return [];
}

/** The tightest memory limit above us and what we hold privately; null if there is no limit (or none can be read). */
export function memoryRoom(): MemoryRoom | null {
  const anon = (read('/proc/self/status') ?? '').match(/^RssAnon:\s+(\d+) kB$/m);
  if (!anon) return null;
  let tightest: MemoryRoom | null = null;
  for (const { dir, version } of cgroupDirs()) {
    const limit = Number((read(path.join(dir, version === 1 ? 'memory.limit_in_bytes' : 'memory.max')) ?? 'max').trim());
    const usage = Number((read(path.join(dir, version === 1 ? 'memory.usage_in_bytes' : 'memory.current')) ?? '').trim());
    // v2 says 'max' (NaN here), v1 a number near 2^63: no limit at this level.
    if (!Number.isFinite(limit) || limit >= 2 ** 60 || !Number.isFinite(usage)) continue;
    if (!tightest || limit - usage < tightest.limit - tightest.usage) tightest = { cgroup: dir, limit, usage, needed: Number(anon[1]) * 1024 };
  }
  return tightest;
}

/** Why a successor would not fit, in words that say what to do; null if it fits (or no limit is known). */
export function memoryShortfall(): string | null {
  const room = memoryRoom();
  if (!room || room.limit - room.usage >= room.needed) return null;
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  return `the memory limit of ${room.cgroup} (${mb(room.limit)} MB, ${mb(room.usage)} MB used) leaves ${mb(room.limit - room.usage)} MB; `
    + `the new version needs about ${mb(room.needed)} MB (this version's private memory), and the OOM killer would have to kill one of the two; `
    + `raise the limit by at least ${mb(room.needed - (room.limit - room.usage))} MB (systemd MemoryMax, docker --memory) and upgrade again`;
}
