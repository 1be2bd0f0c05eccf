// Roles as containers of one "pod": a holder container with --network none
// owns the network namespace (only lo), roles join it, and all of them mount
// one named volume at /run/fdlab for their Unix sockets. A named volume, not a
// bind mount, so it works when the devcontainer talks to the host's engine.
import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { ROLE_RUNNER, roleEnvironment } from '../role-env';
import { SHARED_DIR_IN_CONTAINER, type LabRuntime, type Role, type RoleSpec } from '../types';
import { DockerRole } from './docker-role';
import { labels } from './labels';

export interface DockerRuntimeOptions {
  lab: string;
  image: string;
  docker?: Docker;
  reason?: string;
  echoLogs?: boolean;
}

export class DockerRuntime implements LabRuntime {
  readonly kind = 'docker' as const;
  readonly reason: string;
  readonly sharedDir = SHARED_DIR_IN_CONTAINER;
  readonly run: string;
  private readonly docker: Docker;
  private readonly volumeName: string;
  private holder?: Docker.Container;
  private readonly roles: DockerRole[] = [];
  private cleaned = false;

  constructor(private readonly options: DockerRuntimeOptions) {
    this.docker = options.docker ?? new Docker();
    this.reason = options.reason ?? 'docker runtime requested';
    this.run = `${options.lab}-${randomBytes(3).toString('hex')}`;
    this.volumeName = `fdlab-${this.run}`;
  }

  get podName(): string {
    return `fdlab-${this.run}-pod`;
  }

  async start(): Promise<void> {
    await this.docker.createVolume({ Name: this.volumeName, Labels: labels(this.options.lab, this.run) });
    this.holder = await this.docker.createContainer({
      name: this.podName,
      Image: this.options.image,
      // Holds the pod's network namespace and the volume; does nothing else.
      Cmd: ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
      Labels: labels(this.options.lab, this.run, 'pod'),
      HostConfig: { NetworkMode: 'none', Binds: [`${this.volumeName}:${SHARED_DIR_IN_CONTAINER}`], Init: true },
    });
    await this.holder.start();
    await this.holder.exec({ Cmd: ['mkdir', '-p', `${SHARED_DIR_IN_CONTAINER}/captures`] }).then((e) => e.start({}));
  }

  async startRole(spec: RoleSpec): Promise<Role> {
    if (!this.holder) throw new Error('DockerRuntime.start() must run before startRole()');
    const name = `fdlab-${this.run}-${spec.name}`;
    const env = roleEnvironment(spec, this.options.lab, this.sharedDir, this.kind);
    const container = await this.docker.createContainer({
      name,
      Image: this.options.image,
      Cmd: ['node', ROLE_RUNNER, spec.script, ...(spec.args ?? [])],
      WorkingDir: '/opt/fdlab',
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: labels(this.options.lab, this.run, spec.name),
      HostConfig: {
        NetworkMode: spec.network === 'none' ? 'none' : `container:${this.holder.id}`,
        Binds: [`${this.volumeName}:${SHARED_DIR_IN_CONTAINER}`],
        CapAdd: spec.capAdd,
        Init: true, // docker-init forwards `docker kill --signal` to the role runner
      },
    });
    const role = new DockerRole(spec.name, this.docker, container, name, (this.options.echoLogs ?? true) && spec.echo !== false);
    this.roles.push(role);
    await role.start();
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

  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const containers = [...this.roles.map((r) => r.container), ...(this.holder ? [this.holder] : [])];
    await Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => undefined)));
    await this.docker.getVolume(this.volumeName).remove().catch(() => undefined);
  }

  keepInstructions(): string[] {
    return [
      `pod ${this.podName} and roles ${this.roles.map((r) => `fdlab-${this.run}-${r.name}`).join(', ')} keep running`,
      `look around: docker exec -it ${this.podName} sh   (ss -tnp, ls -l /proc/<pid>/fd, ls ${SHARED_DIR_IN_CONTAINER})`,
      `clean up:    fdlab clean   (or: docker rm -f $(docker ps -aq --filter label=fdlab.run=${this.run}); docker volume rm ${this.volumeName})`,
    ];
  }
}
