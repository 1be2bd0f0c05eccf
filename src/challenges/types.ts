// What a challenge is: a task a learner does in a file of their own, a check
// that runs that file for real, hints given one at a time, and a solution
// kept apart (challenges/lab<n>/<task>/solution.ts).
import type { LabRuntime, Role } from '../runtime/types';

export interface ChallengeContext {
  /** Roles run as processes of this machine, in a fresh shared dir (FDLAB_SHARED); in their own network namespace when the challenge's network is 'private'. */
  readonly runtime: LabRuntime;
  /** The learner's file, compiled just now: run it as a role's script. */
  readonly script: string;
  /** Starts a role; `traced` records these syscalls with strace into capture(name). */
  startRole(name: string, script: string, options?: { args?: string[]; env?: Record<string, string>; traced?: string[] }): Promise<Role>;
  /** A traced role's strace capture (complete once the role has exited). */
  capture(name: string): string;
}

export interface CheckOutcome {
  passed: boolean;
  /** What was measured, one line each. */
  measured: string[];
  /** Failed: what went wrong, in words that point at the fix (never the fix itself). */
  problem?: string;
}

export interface Challenge {
  lab: number;
  /** Short name: `fdlab challenge <lab> <id>`. */
  id: string;
  title: string;
  /** What to do, as the learner reads it. */
  goal: string;
  /** The file the learner edits, inside the workspace's lab<n>/<id>/. */
  file: string;
  /** The starting state, relative to the project root (challenges/...). */
  start: string;
  /** The solution, relative to the project root; never copied. */
  solution: string;
  /** 'private': the roles run in a network namespace the check makes (and removes): for firewall rules and addresses. Default: this machine's. */
  network?: 'host' | 'private';
  /** Progressive hints: each `fdlab hint` shows the next. */
  hints: string[];
  check(ctx: ChallengeContext): Promise<CheckOutcome>;
}
