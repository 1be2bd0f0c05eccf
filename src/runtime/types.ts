// The one interface both runtimes implement: a lab declares roles, the
// runtime runs them (containers in a pod, or child processes) the same way.

export type RuntimeKind = 'docker' | 'process';

/** Where the roles of one lab share Unix sockets (a named volume, or a temp dir). */
export const SHARED_DIR_IN_CONTAINER = '/run/fdlab';

export interface StraceSpec {
  /** strace -e trace=... (e.g. ['sendmsg', 'recvmsg', 'connect']); empty traces everything. */
  syscalls: string[];
}

export interface RoleSpec {
  /** Short name, used as the log prefix, container name suffix and capture file name. */
  name: string;
  /**
   * The compiled script to run with node: an absolute path on this machine, as
   * roleScripts() (src/project.ts) names it from the lab's own folder (a path
   * relative to the project root is taken as such). The Docker runtime runs the
   * same file in the image's copy of the project, so it must be inside the project.
   */
  script: string;
  args?: string[];
  env?: Record<string, string>;
  /** 'pod': share the lab's loopback with the other roles; 'none': a namespace of its own with only lo. */
  network?: 'pod' | 'none';
  capAdd?: string[];
  /** Trace the role with strace -f -tt -yy -s 128; false or absent: no capture. */
  strace?: StraceSpec | false;
  /** Print the role's log lines live (default true); they are kept either way. */
  echo?: boolean;
  /** Where the lab saves the role's log (a path to print): a long RESULT line is echoed as a pointer to it. */
  logFile?: string;
  /** Start the role with the Node inspector listening on this port (Docker: published on 127.0.0.1). */
  inspectPort?: number;
  /**
   * Run it as a process on this machine even in the Docker runtime, in the pod's network (nsenter):
   * for a program the offline image does not carry (lab 6's chromium: 348 MB in /usr/lib/chromium
   * and 108 libraries, beside the image's 133 MB). Not traced; needs root and an engine on this machine.
   */
  host?: boolean;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

export interface RoleExit {
  exitCode: number;
}

export interface Role {
  readonly name: string;
  /** null while running; the exit code once it has exited. */
  readonly exitCode: number | null;
  /** Every log line so far, without prefix. */
  readonly lines: readonly string[];
  /** Resolves with the first line (existing or future, from index `fromLine` on) matching `pattern`. */
  waitForLine(pattern: RegExp | string, timeoutMs?: number, fromLine?: number): Promise<string>;
  /** Delivers a signal to the role's program (through strace, when traced). */
  signal(signal: NodeJS.Signals): Promise<void>;
  /** Runs a command beside the role: inside its container, or on the host. */
  exec(command: string[]): Promise<ExecResult>;
  /** Resolves when the role exits. */
  wait(timeoutMs?: number): Promise<RoleExit>;
  /** The manual equivalent of signal(), for a learner to type. */
  manualSignalCommand(signal: NodeJS.Signals): string;
  /** The manual way into the role (docker exec -it ... sh, or the pid). */
  manualShellCommand(): string;
  /** The role's program as this machine sees it (below docker-init, the runner, strace); null once exited. */
  hostPid(): Promise<number | null>;
  /** Container id or process id, for display. */
  readonly id: string;
}

/** What --pause stopped: how, and each live role that still runs, with why. */
export interface PausedRoles {
  how: string;
  running: Map<Role, string>;
}

export interface LabRuntime {
  readonly kind: RuntimeKind;
  /** Why this runtime was chosen, in a sentence. */
  readonly reason: string;
  /** Roles run in network namespaces of the lab's own (a Docker pod; the process runtime with a private network), not this machine's. */
  readonly ownNetwork: boolean;
  /** The shared directory as roles see it. */
  readonly sharedDir: string;
  /** Creates the pod and the shared volume (or temp dir). */
  start(): Promise<void>;
  startRole(spec: RoleSpec): Promise<Role>;
  /** Copies role captures (strace files) into `hostDir`; returns the files written. */
  collectCaptures(hostDir: string): Promise<string[]>;
  /** Removes every container, volume and temp file of this lab. Idempotent. */
  cleanup(): Promise<void>;
  /** Leave everything running at exit (--keep) and say how to get in and clean up. */
  keepInstructions(): string[];
  /**
   * --pause: stops every live role (processes: the cgroup freezer, else SIGSTOP;
   * containers: docker pause) until resumeRoles(); says what still runs.
   */
  pauseRoles?(): Promise<PausedRoles>;
  resumeRoles?(): Promise<void>;
  /** --keep: what is left running is no longer in use by this process (fdlab clean may remove it). */
  release?(): Promise<void>;
}
