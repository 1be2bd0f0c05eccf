// What a lab is: a declaration of roles, steps and checks. The engine
// (runner.ts) does the work: runtime, guide output, strace, captures, verdict.
import type { FdPair, KeyCall, RolePid, TimelinePart } from '../strace';
import type { LabRuntime, Role, RoleSpec } from '../runtime/types';
import type { FdFilter, FdSnapshot } from './fd-snapshot';

export interface LabOptions {
  runtime: 'auto' | 'docker' | 'process';
  keep: boolean;
  strace: boolean;
  /** Print role logs live (default true; tests turn it off). */
  echo: boolean;
  /** Print nothing at all: the outcome and summary.json still say everything (tests). */
  silent?: boolean;
  /** Where captures/<lab>/ goes (default: the project root). */
  capturesRoot?: string;
  /** The folder <lab>/ goes in, instead of <capturesRoot>/captures (--captures). */
  captures?: string;
  /** Start roles that declare an inspectPort with the Node inspector on it (--inspect). */
  inspect?: boolean;
  /** Lab settings as typed (--set key=value, --reads): checked against the lab's declaration. */
  settings?: Record<string, string>;
  /** A failure to inject (--fault): one the lab declares. */
  fault?: string;
  /** Stop the roles before each step (frozen), until Enter (--pause). */
  pause?: boolean;
}

/** A setting a lab accepts: a number in a range, or one of some words. */
export interface LabSetting {
  description: string;
  default: number | string;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

export interface CheckResult {
  name: string;
  status: 'pass' | 'fail' | 'skipped';
  measured: string;
}

export interface LabContext {
  readonly runtime: LabRuntime;
  readonly options: LabOptions;
  /** captures/lab<n>/ on this machine: a lab or a host role may write files of its own there (lab 6's screenshot). */
  readonly capturesDir: string;
  /** A numbered step: what happens, why, and what a learner could type instead; with --pause, resolves at Enter. */
  step(title: string, why: string, manual?: string[]): Promise<void>;
  /** Plain explanatory text under the current step. */
  say(text: string): void;
  /** Starts a role (traced with the lab's syscall filter unless --no-strace) and records it. */
  startRole(spec: LabRoleSpec): Promise<Role>;
  /** Records a check: pass/fail and the measured value shown in the table. */
  check(name: string, passed: boolean, measured: string): void;
  /** Records a check that cannot apply here, with why (never counted as passed). */
  skip(name: string, why: string): void;
  /** Runs `work` behind a spinner (anything that may take over a second). */
  spin<T>(text: string, work: () => Promise<T>): Promise<T>;
  /** A progress display for counted work; returns an updater. */
  progress(text: string, total: number): { tick(done: number): void; done(summary: string): void };
  /** Extra data for summary.json (e.g. latencies). */
  record(key: string, value: unknown): void;
  /**
   * Reads the fd tables of `roles` from /proc now (host pids; call it while they wait at the step),
   * prints the picture, and keeps it for fd-tables.json and timeline.html.
   */
  fdTables(key: string, title: string, roles: readonly Role[], filter: FdFilter): Promise<FdSnapshot>;
  /** A declared setting's value (already checked): a number, or one of its choices. */
  setting<T extends number | string = number>(name: string): T;
  /** The fault asked for with --fault (one the lab declares), if any. */
  readonly fault: string | undefined;
  /** The traced roles' pids read so far, in their own namespace and on this machine: for formatPair(pair, pids). */
  rolePids(): RolePid[];
}

export type LabRoleSpec = Omit<RoleSpec, 'strace'> & { traced?: boolean };

/**
 * What lab/index.ts exports: every lab, by number. src/ never imports lab/
 * (lab/ is built on src/); the CLI loads the registry at run time from its
 * compiled path (src/labs/registry.ts), and this interface types it.
 */
export interface LabRegistry {
  readonly LABS: ReadonlyMap<number, LabDefinition>;
}

export interface LabDefinition {
  number: number;
  title: string;
  /** The seed article the lab comes from, e.g. "seed 002 (Go, UnixRights)". */
  source: string;
  /** Syscalls strace records for traced roles (per-lab filter). */
  traceSyscalls: string[];
  /**
   * Roles whose capture must show SCM_RIGHTS (checked after the run); a
   * function of the settings when they change the roles (lab 5 --set containers=1).
   */
  scmRightsRoles: string[] | ((settings: Readonly<Record<string, number | string>>) => string[]);
  /**
   * Every inspectPort its roles use with --inspect (lab 5: [9229, 9230]). A
   * Docker pod publishes ports only when it is created, so they are declared here.
   */
  inspectPorts?: number[];
  /**
   * Why the lab runs only as processes in a network namespace of its own (lab 7:
   * firewall rules, addresses and a veth of its own); absent: Docker or processes.
   */
  processOnly?: string;
  /** Settings `--set key=value` may change, with their defaults and ranges. */
  settings?: Record<string, LabSetting>;
  /** Failures `--fault <name>` may inject, each with what it shows. */
  faults?: Record<string, string>;
  /**
   * The terminal timeline: the calls the lesson rests on (never folded), and
   * the parts with roles of their own, each drawn as a short timeline of its own.
   */
  timeline?: { keyCalls?: KeyCall[]; parts?: TimelinePart[] };
  run(ctx: LabContext): Promise<void>;
  /**
   * Checks on what strace saw, once the captures are in (only with strace on):
   * the SCM_RIGHTS pairs, the roles, and each traced role's capture text.
   */
  checkCaptures?(pairs: readonly FdPair[], lab: LabContext, roles: ReadonlyMap<string, Role>, captures: ReadonlyMap<string, string>): void;
}
