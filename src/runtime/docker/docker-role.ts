// One lab role running in a container: logs, signals, exec, exit.
import type Docker from 'dockerode';
import { Writable } from 'node:stream';
import { LabError } from '../../lab-error';
import { withDeadline } from '../../util/deadline';
import { roleProgramPid, seesRoleProcess } from '../host-pid';
import { RoleLog } from '../role-log';
import type { ExecResult, Role, RoleExit } from '../types';

function into(log: RoleLog): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      log.write(chunk);
      done();
    },
  });
}

export class DockerRole implements Role {
  readonly log: RoleLog;
  private exited?: Promise<RoleExit>;
  exitCode: number | null = null;

  constructor(
    readonly name: string,
    private readonly docker: Docker,
    readonly container: Docker.Container,
    private readonly containerName: string,
    echo: boolean,
    logFile?: string,
  ) {
    this.log = new RoleLog(name, { echo, logFile });
  }

  /** Attaches to output before the start, so not one line is missed, then starts. */
  async start(): Promise<void> {
    const stream = await this.container.attach({ stream: true, stdout: true, stderr: true, logs: true });
    const out = into(this.log);
    this.docker.modem.demuxStream(stream, out, out);
    const ended = new Promise<void>((resolve) => stream.once('end', resolve));
    await this.container.start();
    this.exited = this.container.wait().then(async (result: { StatusCode: number }) => {
      await Promise.race([ended, new Promise((r) => setTimeout(r, 1000))]);
      this.log.end();
      this.exitCode = result.StatusCode;
      return { exitCode: result.StatusCode };
    });
  }

  get id(): string {
    return this.container.id.slice(0, 12);
  }

  get lines(): readonly string[] {
    return this.log.lines;
  }

  waitForLine(pattern: RegExp | string, timeoutMs?: number, fromLine?: number): Promise<string> {
    return this.log.waitForLine(pattern, timeoutMs, fromLine);
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    try {
      await this.container.kill({ signal });
    } catch (error) {
      throw new LabError('ERR_ROLE_EXITED', `${this.name}: cannot send ${signal}: ${(error as Error).message}`, { cause: error });
    }
  }

  async exec(command: string[]): Promise<ExecResult> {
    const exec = await this.container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    let output = '';
    const collect = new Writable({
      write(chunk: Buffer, _encoding, done) {
        output += chunk.toString();
        done();
      },
    });
    this.docker.modem.demuxStream(stream, collect, collect);
    await new Promise<void>((resolve) => stream.once('end', resolve));
    const inspected = await exec.inspect();
    return { exitCode: inspected.ExitCode ?? 1, output };
  }

  wait(timeoutMs?: number): Promise<RoleExit> {
    if (!this.exited) return Promise.reject(new LabError('ERR_ROLE_NOT_STARTED', `${this.name} was never started`));
    if (timeoutMs === undefined) return this.exited;
    return withDeadline(this.exited, timeoutMs, () => new LabError('ERR_ROLE_TIMEOUT', `${this.name} did not exit within ${timeoutMs} ms`));
  }

  manualSignalCommand(signal: NodeJS.Signals): string {
    return `docker kill --signal ${signal} ${this.containerName}`;
  }

  /** The role's node as the host sees it (a container's pids are its own). */
  async hostPid(): Promise<number | null> {
    if (this.exitCode !== null) return null;
    const pid = (await this.container.inspect().catch(() => null))?.State?.Pid;
    return pid && seesRoleProcess(pid) ? roleProgramPid(pid) : null;
  }

  manualShellCommand(): string {
    return `docker exec -it ${this.containerName} sh`;
  }
}
