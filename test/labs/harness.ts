// Runs a lab the way `npm run lab:<n>` does, silently, in one runtime, and
// hands back its outcome and summary.json for the assertions.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import Docker from 'dockerode';
import { LABS } from '../../lab';
import { runLab, type LabOutcome } from '../../src/labs/runner';
import type { CheckResult, LabDefinition } from '../../src/labs/types';
import { readFdTables, type FdSnapshot, type ProcessFds } from '../../src/labs/fd-snapshot';
import { labImageOrSkip } from '../helpers/docker';
import { tempDir } from '../helpers/fds';

export const RUNTIMES = ['process', 'docker'] as const;

export interface LabRun extends LabOutcome {
  summary: { checks: CheckResult[]; records: Record<string, unknown>; runtime: string; captures: string[]; roles: { name: string; id: string; exitCode: number | null }[] };
  check(name: string | RegExp): CheckResult;
}

/** Null when the runtime is docker and no engine answers (the caller skips). A definition runs a changed lab (an exercise's copy). */
export async function runLabForTest(
  n: number | LabDefinition,
  runtime: (typeof RUNTIMES)[number],
  extra: Record<string, string> = {},
  options: { inspect?: boolean } = {},
): Promise<LabRun | null> {
  if (runtime === 'docker' && !(await labImageOrSkip())) return null;
  const { fault, ...settings } = extra;
  const outcome = await runLab(typeof n === 'number' ? LABS.get(n)! : n, { runtime, keep: false, strace: true, echo: false, silent: true, capturesRoot: tempDir(), settings, fault, ...options });
  const summary = JSON.parse(fs.readFileSync(outcome.summaryPath, 'utf8')) as LabRun['summary'];
  const check = (name: string | RegExp) => {
    const found = summary.checks.find((c) => (typeof name === 'string' ? c.name === name : name.test(c.name)));
    if (!found) throw new Error(`no check named ${name}; checks: ${summary.checks.map((c) => c.name).join(' | ')}`);
    return found;
  };
  return { ...outcome, summary, check };
}

/** Every check passed, with the failing ones spelled out otherwise. */
export function failedChecks(run: LabRun): string {
  return run.checks
    .filter((c) => c.status !== 'pass')
    .map((c) => `${c.status}: ${c.name} (${c.measured})`)
    .join('\n');
}

/** The fd tables a lab read at its key step (captures/lab<n>/fd-tables.json), by snapshot key, and one role's fds in one. */
export function fdTables(run: LabRun): { snapshot(key: string): FdSnapshot; role(key: string, name: string): ProcessFds } {
  const snapshots = readFdTables(run.capturesDir);
  const snapshot = (key: string) => {
    const found = snapshots.find((s) => s.key === key);
    if (!found) throw new Error(`no fd snapshot '${key}' in fd-tables.json; there are: ${snapshots.map((s) => s.key).join(', ')}`);
    return found;
  };
  const role = (key: string, name: string) => {
    const found = snapshot(key).processes.find((p) => p.role === name);
    if (!found) throw new Error(`snapshot '${key}' has no role ${name}`);
    return found;
  };
  return { snapshot, role };
}

/**
 * What this run left behind: containers of its roles, or processes in its roles'
 * process groups (each process-runtime role-runner leads one; strace, the
 * supervisor and every server generation are in it), zombies aside. Only this
 * run's: other lab runs may be going on at the same time.
 */
export async function leftBehind(run: LabRun): Promise<string[]> {
  const roles = run.summary.roles;
  assert.ok(roles.length > 0, `roles recorded: ${JSON.stringify(roles)}`);
  // Docker roles are containers (a 12-hex-digit id); a process role's id is its runner's pid,
  // in Docker mode too for a role run on this machine (lab 6's browser).
  const container = (id: string) => run.runtime === 'docker' && /^[0-9a-f]{12}$/.test(id);
  const docker = new Docker();
  const containers = await Promise.all(roles.filter((r) => container(r.id)).map((r) => docker.listContainers({ all: true, filters: { id: [r.id] } })));
  // A zombie has exited and holds nothing but its pid until init reaps it (this machine's init
  // does so about once a second: chromium's zygotes outlive their parent by that much).
  const processes = roles
    .filter((r) => !container(r.id))
    .flatMap((r) => spawnSync('pgrep', ['-a', '-g', r.id], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean))
    .filter((line) => !isZombie(Number(line.split(' ')[0])));
  return [...containers.flat().map((c) => c.Names.join(',')), ...processes];
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // gone since pgrep saw it
  }
}
