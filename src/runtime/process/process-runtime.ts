// Roles as child processes of this one: for machines with no Docker engine.
// The shared volume is a temp directory. The pod's network is this machine's
// loopback (network 'host', the default: VS Code's debugger reaches the roles'
// inspectors there), or a namespace of the lab's own (FDLAB_PROCESS_NETWORK=
// private, as the tests run: fixed lab ports never meet another run's), where
// a role asking for network 'none' gets an empty namespace of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LabError } from '../../lab-error';
import { projectRoot, resolveScript } from '../../project';
import { withDeadline } from '../../util/deadline';
import { roleProgramPid } from '../host-pid';
import { RoleLog } from '../role-log';
import { ROLE_RUNNER, roleEnvironment } from '../role-env';
import { makeFreezer, type RoleFreezer } from './freezer';
import { markOwner } from './leftovers';
import { NetworkNamespace, processNetworkFromEnv, type ProcessNetwork } from './netns';
import type { ExecResult, LabRuntime, PausedRoles, Role, RoleExit, RoleSpec } from '../types';

export interface ProcessRuntimeOptions {
  lab: string;
  reason?: string;
  echoLogs?: boolean;
  /** Default: FDLAB_PROCESS_NETWORK, else 'host'. */
  network?: ProcessNetwork;
  /** --pause: make a freezer for the roles (see freezer.ts). */
  pausable?: boolean;
}

/** A role run as a child process of the lab (the process runtime's roles, and the Docker runtime's host roles). */
export class ProcessRole implements Role {
  readonly log: RoleLog;
  exitCode: number | null = null;
  private readonly exited: Promise<RoleExit>;

  constructor(readonly name: string, private readonly child: ChildProcess, echo: boolean, private readonly ownNetwork: boolean, logFile?: string) {
    this.log = new RoleLog(name, { echo, logFile });
    child.stdout!.on('data', (chunk: Buffer) => this.log.write(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.log.write(chunk));
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.log.end();
        this.exitCode = code ?? 128 + (signal ? os.constants.signals[signal] : 0);
        resolve({ exitCode: this.exitCode });
      });
    });
  }

  get id(): string {
    return String(this.child.pid);
  }

  get lines(): readonly string[] {
    return this.log.lines;
  }

  waitForLine(pattern: RegExp | string, timeoutMs?: number, fromLine?: number): Promise<string> {
    return this.log.waitForLine(pattern, timeoutMs, fromLine);
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      throw new LabError('ERR_ROLE_EXITED', `${this.name} has already exited; cannot send ${signal}`);
    }
    this.child.kill(signal);
  }

  exec(command: string[]): Promise<ExecResult> {
    // In a namespace of the lab's own, a command sees what the role sees, as docker exec does.
    const argv = this.ownNetwork ? ['nsenter', `--net=/proc/${this.rolePid()}/ns/net`, '--', ...command] : command;
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ exitCode: code ?? 1, output }));
    });
  }

  wait(timeoutMs?: number): Promise<RoleExit> {
    if (timeoutMs === undefined) return this.exited;
    return withDeadline(this.exited, timeoutMs, () => new LabError('ERR_ROLE_TIMEOUT', `${this.name} did not exit within ${timeoutMs} ms`));
  }

  manualSignalCommand(signal: NodeJS.Signals): string {
    // The role's own pid, the one --pause and the timelines show (the runner's would work too: it forwards).
    return `kill -${signal.replace(/^SIG/, '')} ${this.exitCode === null ? this.rolePid() : this.child.pid}`;
  }

  manualShellCommand(): string {
    const pid = this.rolePid();
    return `ls -l /proc/${pid}/fd   # ${this.name} runs as pid ${pid} on this machine`;
  }

  /** The runner's pid: it leads the role's process group. */
  get group(): number {
    return this.child.pid!;
  }

  /** The role's own node: below the runner (and below strace, when traced). */
  rolePid(): number {
    return roleProgramPid(this.child.pid!);
  }

  async hostPid(): Promise<number | null> {
    return this.exitCode === null ? this.rolePid() : null;
  }

  /** Kills the runner's whole process group: runner, strace and the role's node. */
  kill(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  }
}

/** Starts a role as a child process of the lab, through the role runner, after `prefix` (a network to enter). */
export async function spawnProcessRole(
  spec: RoleSpec,
  how: { lab: string; sharedDir: string; runtime: LabRuntime['kind']; prefix: string[]; echo: boolean; ownNetwork: boolean },
): Promise<ProcessRole> {
  const env = {
    ...process.env,
    ...roleEnvironment(spec, how.lab, how.sharedDir, how.runtime),
    FDLAB_EXIT_WITH_PARENT: '1',
  };
  const [command, ...args] = [...how.prefix, process.execPath, ROLE_RUNNER, resolveScript(spec.script), ...(spec.args ?? [])];
  const child = spawn(command, args, {
    cwd: projectRoot(),
    env,
    stdio: ['pipe', 'pipe', 'pipe'], // stdin stays open until we exit: see role-runner
    detached: true, // its own process group, so cleanup reaches strace and the role too
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return new ProcessRole(spec.name, child, how.echo && spec.echo !== false, how.ownNetwork, spec.logFile);
}

export class ProcessRuntime implements LabRuntime {
  readonly kind = 'process' as const;
  readonly reason: string;
  readonly sharedDir: string;
  private readonly roles: ProcessRole[] = [];
  private readonly echoLogs: boolean;
  readonly network: ProcessNetwork;
  private netns?: NetworkNamespace;
  private freezer?: RoleFreezer;

  constructor(private readonly options: ProcessRuntimeOptions) {
    this.network = options.network ?? processNetworkFromEnv();
    this.reason = (options.reason ?? 'process runtime requested') + (this.network === 'private' ? '; in a network namespace of its own' : '');
    this.sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), `fdlab-${options.lab}-`));
    this.echoLogs = options.echoLogs ?? true;
  }

  get ownNetwork(): boolean {
    return this.network === 'private';
  }

  async start(): Promise<void> {
    fs.mkdirSync(path.join(this.sharedDir, 'captures'), { recursive: true });
    markOwner(this.sharedDir); // after kill -9, `fdlab clean` knows it is nobody's
    if (this.network === 'private') this.netns = await NetworkNamespace.create();
    if (this.options.pausable) this.freezer = makeFreezer(this.options.lab);
  }

  /** The command prefix that puts a role in its network: the pod's, or (network 'none') an empty one. */
  private networkPrefix(spec: RoleSpec): string[] {
    if (!this.netns) return [];
    // lo up, as Docker's --network none has it; then exec: the same pid goes on as the role.
    return spec.network === 'none' ? ['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh'] : this.netns.enter();
  }

  async startRole(spec: RoleSpec): Promise<Role> {
    const prefix = [...(this.freezer?.prefix() ?? []), ...this.networkPrefix(spec)];
    const role = await spawnProcessRole(spec, { lab: this.options.lab, sharedDir: this.sharedDir, runtime: this.kind, prefix, echo: this.echoLogs, ownNetwork: this.ownNetwork });
    this.roles.push(role);
    return role;
  }

  async collectCaptures(hostDir: string): Promise<string[]> {
    const from = path.join(this.sharedDir, 'captures');
    fs.mkdirSync(hostDir, { recursive: true });
    const files = fs.existsSync(from) ? fs.readdirSync(from) : [];
    return files.map((file) => {
      fs.copyFileSync(path.join(from, file), path.join(hostDir, file));
      return path.join(hostDir, file);
    });
  }

  async pauseRoles(): Promise<PausedRoles> {
    const live = this.roles.filter((role) => role.exitCode === null);
    const running = new Map<Role, string>();
    if (!this.freezer) {
      for (const role of live) running.set(role, 'this runtime was made without a freezer');
      return { how: 'nothing', running };
    }
    await this.freezer.freeze(live.map((role) => role.group));
    for (const role of live) if (role.exitCode === null && !this.freezer.stopped(role.rolePid())) running.set(role, `not stopped by ${this.freezer.how}`);
    return { how: this.freezer.how, running };
  }

  async resumeRoles(): Promise<void> {
    await this.freezer?.thaw();
  }

  async cleanup(): Promise<void> {
    // SIGKILL ends a frozen or stopped process too (measured: a frozen strace and its node are gone in under 20 ms).
    for (const role of this.roles) role.kill();
    await Promise.all(this.roles.map((role) => role.wait(5000).catch(() => undefined)));
    await this.freezer?.remove();
    await this.netns?.close();
    fs.rmSync(this.sharedDir, { recursive: true, force: true });
  }

  keepInstructions(): string[] {
    return [
      'process runtime: roles are children of the lab and stop with it (use Docker to keep a pod running)',
      `kept: the shared directory ${this.sharedDir} (Unix sockets, captures)`,
      `clean up: rm -rf ${this.sharedDir}`,
    ];
  }
}
