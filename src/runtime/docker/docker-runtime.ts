// Roles as containers of one "pod": a holder container with --network none
// owns the network namespace (only lo), roles join it, and all of them mount
// one named volume at /run/fdlab for their Unix sockets. A named volume, not a
// bind mount, so it works when the devcontainer talks to the host's engine.
//
// Debugging (--inspect): roles that join `container:<holder>` cannot publish
// ports, and a --network none pod cannot be reached at all. So when a run
// needs inspector ports, the holder is created on a bridge network of the
// run's own, without outbound NAT, and publishes each port on 127.0.0.1 only.
import Docker from 'dockerode';
import { LabError } from '../../lab-error';
import { pathInImage, PROJECT_DIR_IN_IMAGE } from '../../project';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import * as os from 'node:os';
import { seesRoleProcess } from '../host-pid';
import { spawnProcessRole, type ProcessRole } from '../process/process-runtime';
import { ROLE_RUNNER, roleEnvironment } from '../role-env';
import { SHARED_DIR_IN_CONTAINER, type LabRuntime, type PausedRoles, type Role, type RoleSpec } from '../types';
import { DockerRole } from './docker-role';
import { labels } from './labels';
import { Lease } from './lease';

export interface DockerRuntimeOptions {
  lab: string;
  image: string;
  docker?: Docker;
  reason?: string;
  echoLogs?: boolean;
  /**
   * Ports that roles of this run will ask for with RoleSpec.inspectPort, known
   * before start(): the pod can only publish ports when it is created. Each is
   * published as 127.0.0.1:<port> on the engine's host. Empty or absent: the
   * pod is --network none, as always.
   */
  inspectPorts?: number[];
}

/** Where a debugger reaches a role's inspector, from the machine the engine runs on. */
export function inspectorEndpoint(port: number): string {
  return `127.0.0.1:${port}`;
}

export class DockerRuntime implements LabRuntime {
  readonly kind = 'docker' as const;
  readonly ownNetwork = true;
  readonly reason: string;
  readonly sharedDir = SHARED_DIR_IN_CONTAINER;
  readonly run: string;
  private readonly docker: Docker;
  private readonly volumeName: string;
  private holder?: Docker.Container;
  private lease?: Lease;
  private network?: Docker.Network;
  /** Inspector ports the pod publishes on 127.0.0.1 (empty: --network none). */
  readonly inspectPorts: readonly number[];
  private readonly roles: DockerRole[] = [];
  /** Roles run on this machine in the pod's network (RoleSpec.host), and the directory they get as the shared one. */
  private readonly hostRoles: ProcessRole[] = [];
  private hostShared?: string;
  private cleaned = false;
  /** Containers docker-paused by pauseRoles(), unpaused by resumeRoles(). */
  private paused: DockerRole[] = [];

  constructor(private readonly options: DockerRuntimeOptions) {
    this.docker = options.docker ?? new Docker();
    this.reason = options.reason ?? 'docker runtime requested';
    this.run = `${options.lab}-${randomBytes(3).toString('hex')}`;
    this.volumeName = `fdlab-${this.run}`;
    this.inspectPorts = [...new Set(options.inspectPorts ?? [])];
    for (const port of this.inspectPorts) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new LabError('ERR_INVALID_ARG_VALUE', `inspector port must be an integer from 1 to 65535; got ${port}`);
      }
    }
  }

  /** The run's bridge network, only created when inspector ports are published. */
  get networkName(): string {
    return `fdlab-${this.run}-inspect`;
  }

  get podName(): string {
    return `fdlab-${this.run}-pod`;
  }

  async start(): Promise<void> {
    // The lease first: while it runs, `fdlab clean` keeps every object of this run.
    this.lease = await Lease.acquire(this.docker, this.options.image, this.options.lab, this.run);
    await this.docker.createVolume({ Name: this.volumeName, Labels: labels(this.options.lab, this.run) });
    const inspect = await this.inspectorNetwork();
    this.holder = await this.docker.createContainer({
      name: this.podName,
      Image: this.options.image,
      // Holds the pod's network namespace and the volume; does nothing else.
      Cmd: ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
      Labels: labels(this.options.lab, this.run, 'pod'),
      ExposedPorts: inspect.exposedPorts,
      HostConfig: {
        NetworkMode: inspect.networkMode,
        PortBindings: inspect.portBindings,
        Binds: [`${this.volumeName}:${SHARED_DIR_IN_CONTAINER}`],
        Init: true,
      },
    });
    try {
      await this.holder.start();
    } catch (error) {
      const message = (error as Error).message;
      if (this.inspectPorts.length > 0 && /port is already allocated|address already in use/i.test(message)) {
        throw new LabError(
          'ERR_INSPECT_PORT_BUSY',
          `an inspector port (${this.inspectPorts.map(inspectorEndpoint).join(', ')}) is already taken on the Docker host; ` +
            `stop whatever listens there (another debugged node, a kept lab: fdlab clean) and try again. Engine said: ${message.trim()}`,
          { cause: error },
        );
      }
      throw error;
    }
    await this.holder.exec({ Cmd: ['mkdir', '-p', `${SHARED_DIR_IN_CONTAINER}/captures`] }).then((e) => e.start({}));
  }

  /**
   * Without inspector ports: --network none. With: a bridge network of this
   * run's own (no masquerading, so no way out; published ports default to
   * 127.0.0.1) and a 127.0.0.1 binding per port on the holder.
   */
  private async inspectorNetwork(): Promise<{
    networkMode: string;
    exposedPorts?: Record<string, Record<string, never>>;
    portBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  }> {
    if (this.inspectPorts.length === 0) return { networkMode: 'none' };
    this.network = await this.docker.createNetwork({
      Name: this.networkName,
      Driver: 'bridge',
      CheckDuplicate: true,
      Labels: labels(this.options.lab, this.run),
      Options: {
        'com.docker.network.bridge.enable_ip_masquerade': 'false',
        'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1',
      },
    });
    const exposedPorts: Record<string, Record<string, never>> = {};
    const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const port of this.inspectPorts) {
      exposedPorts[`${port}/tcp`] = {};
      portBindings[`${port}/tcp`] = [{ HostIp: '127.0.0.1', HostPort: String(port) }];
    }
    return { networkMode: this.networkName, exposedPorts, portBindings };
  }

  async startRole(spec: RoleSpec): Promise<Role> {
    if (!this.holder) throw new Error('DockerRuntime.start() must run before startRole()');
    if (spec.host) return this.startHostRole(spec, this.holder);
    if (spec.inspectPort !== undefined) {
      if (spec.network === 'none') {
        throw new LabError('ERR_INSPECT_PORT_NOT_PUBLISHED', `role ${spec.name} has network 'none': no debugger can reach an inspector in it`);
      }
      if (!this.inspectPorts.includes(spec.inspectPort)) {
        throw new LabError(
          'ERR_INSPECT_PORT_NOT_PUBLISHED',
          `role ${spec.name} asks for inspector port ${spec.inspectPort}, but this pod publishes ` +
            `${this.inspectPorts.length ? this.inspectPorts.join(', ') : 'none'}. A pod publishes ports only when it is created: ` +
            `list every port in DockerRuntimeOptions.inspectPorts (a lab declares them in its definition's inspectPorts).`,
        );
      }
    }
    const name = `fdlab-${this.run}-${spec.name}`;
    let script: string;
    try {
      script = pathInImage(spec.script);
    } catch (error) {
      throw new LabError('ERR_SCRIPT_NOT_IN_IMAGE', `role ${spec.name}: ${(error as Error).message}`, { cause: error });
    }
    const env = roleEnvironment(spec, this.options.lab, this.sharedDir, this.kind);
    const container = await this.docker.createContainer({
      name,
      Image: this.options.image,
      Cmd: ['node', pathInImage(ROLE_RUNNER), script, ...(spec.args ?? [])],
      WorkingDir: PROJECT_DIR_IN_IMAGE,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: labels(this.options.lab, this.run, spec.name),
      HostConfig: {
        NetworkMode: spec.network === 'none' ? 'none' : `container:${this.holder.id}`,
        Binds: [`${this.volumeName}:${SHARED_DIR_IN_CONTAINER}`],
        CapAdd: spec.capAdd,
        Init: true, // docker-init forwards `docker kill --signal` to the role runner
      },
    });
    const role = new DockerRole(spec.name, this.docker, container, name, (this.options.echoLogs ?? true) && spec.echo !== false, spec.logFile);
    this.roles.push(role);
    await role.start();
    return role;
  }

  /**
   * A role as a process on this machine that joins the pod's network namespace
   * (nsenter --net=/proc/<holder pid>/ns/net): it reaches the roles on the pod's
   * 127.0.0.1 and nothing else, like a container of the pod would.
   */
  private async startHostRole(spec: RoleSpec, holder: Docker.Container): Promise<Role> {
    const unreachable = (why: string) =>
      new LabError('ERR_HOST_ROLE_UNREACHABLE', `role ${spec.name} runs on this machine in the pod's network, but ${why}; run the lab with --runtime process instead`);
    if (spec.strace) throw new LabError('ERR_INVALID_ARG_VALUE', `role ${spec.name} runs on this machine (host: true): it cannot be traced in the pod`);
    if (process.getuid?.() !== 0) throw unreachable('entering the pod\'s network namespace needs root (nsenter)');
    const pid = (await holder.inspect()).State?.Pid;
    if (!pid || !seesRoleProcess(pid)) {
      throw unreachable(`this machine cannot see the pod's processes (pid ${pid ?? 'none'}: the engine runs in another pid namespace, e.g. a devcontainer on the host's engine or Docker Desktop's VM)`);
    }
    this.hostShared ??= fs.mkdtempSync(path.join(os.tmpdir(), `fdlab-${this.run}-host-`));
    const role = await spawnProcessRole(spec, {
      lab: this.options.lab,
      sharedDir: this.hostShared,
      runtime: this.kind,
      prefix: ['nsenter', `--net=/proc/${pid}/ns/net`, '--'],
      echo: (this.options.echoLogs ?? true) && spec.echo !== false,
      ownNetwork: true,
    });
    this.hostRoles.push(role);
    return role;
  }

  async collectCaptures(hostDir: string): Promise<string[]> {
    if (!this.holder) return [];
    fs.mkdirSync(hostDir, { recursive: true });
    const archive = await this.holder.getArchive({ path: `${SHARED_DIR_IN_CONTAINER}/captures/.` });
    const written: string[] = [];
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const base = path.basename(header.name);
      if (header.type !== 'file' || base.startsWith('.')) {
        stream.resume();
        stream.on('end', next);
        return;
      }
      const target = path.join(hostDir, base);
      stream.pipe(fs.createWriteStream(target)).on('finish', () => {
        written.push(target);
        next();
      });
    });
    await new Promise<void>((resolve, reject) => {
      extract.on('finish', resolve);
      extract.on('error', reject);
      archive.pipe(extract);
    });
    return written;
  }

  /**
   * docker pause: the engine's cgroup freezer stops every process of each role's
   * container (strace inside sees nothing of it); `docker rm -f` still removes
   * a paused container, so cleanup and `fdlab clean` need nothing more. Roles on
   * this machine (lab 6's browser) run on.
   */
  async pauseRoles(): Promise<PausedRoles> {
    const running = new Map<Role, string>();
    for (const role of this.hostRoles) if (role.exitCode === null) running.set(role, 'runs on this machine beside the pod (not in a container): not paused');
    await Promise.all(
      this.roles
        .filter((role) => role.exitCode === null)
        .map((role) =>
          role.container.pause().then(
            () => void this.paused.push(role),
            (error: Error) => void running.set(role, `docker pause failed: ${error.message.trim()}`),
          ),
        ),
    );
    return { how: 'docker pause (the engine\'s cgroup freezer)', running };
  }

  async resumeRoles(): Promise<void> {
    const paused = this.paused.splice(0);
    await Promise.all(paused.map((role) => role.container.unpause().catch(() => undefined)));
  }

  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const role of this.hostRoles) role.kill();
    await Promise.all(this.hostRoles.map((role) => role.wait(5000).catch(() => undefined)));
    if (this.hostShared) fs.rmSync(this.hostShared, { recursive: true, force: true });
    const containers = [...this.roles.map((r) => r.container), ...(this.holder ? [this.holder] : [])];
    await Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => undefined)));
    await removeVolume(this.docker.getVolume(this.volumeName));
    // After the containers: a network with endpoints cannot be removed.
    await this.network?.remove().catch(() => undefined);
    await this.lease?.release(); // last: until everything is gone, it is still in use
  }

  /** --keep: this process no longer uses the pod, so `fdlab clean` may remove it. */
  async release(): Promise<void> {
    await this.lease?.release();
  }

  keepInstructions(): string[] {
    const network = this.network ? `; docker network rm ${this.networkName}` : '';
    return [
      `pod ${this.podName} keeps running (its network namespace and the volume ${this.volumeName})`,
      `roles: ${this.roles.map((r) => `fdlab-${this.run}-${r.name} (${r.exitCode === null ? 'running' : `exited ${r.exitCode}`})`).join(', ')}`,
      ...(this.hostRoles.length ? [`roles on this machine (${this.hostRoles.map((r) => r.name).join(', ')}) stop with the lab: only containers are kept`] : []),
      `look around: docker exec -it ${this.podName} sh   (ss -tnp, ls -l /proc/<pid>/fd, ls ${SHARED_DIR_IN_CONTAINER})`,
      ...(this.inspectPorts.length
        ? [`debugger:    attach to ${this.inspectPorts.map(inspectorEndpoint).join(', ')} (VS Code: "Lab 5: attach to v1/v2"; remoteRoot /opt/fdlab)`]
        : []),
      `clean up:    fdlab clean   (in this repository: npm run fdlab -- clean; or by hand: docker rm -f $(docker ps -aq --filter label=fdlab.run=${this.run}); docker volume rm ${this.volumeName}${network})`,
    ];
  }
}

/**
 * A volume whose last container is still being removed answers 409 ("in use")
 * for a moment, more so on a busy engine: try again for up to 5 s.
 */
async function removeVolume(volume: Docker.Volume): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await volume.remove();
      return;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 409) return; // gone already (404), or not ours to fix
      await delay(100);
    }
  }
}
