// A lab's lease: a tiny container whose only process reads its stdin until
// EOF, with that stdin attached by the lab process. The engine closes the
// container's stdin when the attaching connection goes away (StdinOnce), so
// the lease ends, and removes itself, when the lab process exits or is killed,
// from whatever machine, pid namespace or devcontainer it ran. `fdlab clean`
// asks the engine which leases still run: that is the only liveness it trusts.
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { LABEL_KEY, LEASE_LABEL, ROLE_LABEL, labels, leaseName } from './labels';

export const LEASE_ROLE = 'lease';
/** A lease created but not yet started counts as live this long (its lab is starting). */
export const LEASE_START_GRACE_S = 60;
/** How long release() waits for the engine to report the lease removed. */
const RELEASE_WAIT_MS = 10_000;

export class Lease {
  private constructor(
    readonly name: string,
    private readonly container: Docker.Container,
    private readonly stdin: Duplex,
  ) {}

  /** Creates, attaches and starts the lease; before any other object of the run exists. */
  static async acquire(docker: Docker, image: string, lab: string, run: string): Promise<Lease> {
    const name = leaseName(run);
    const container = await docker.createContainer({
      name,
      Image: image,
      Cmd: ['sh', '-c', 'while read -r _; do :; done'],
      Labels: labels(lab, run, LEASE_ROLE),
      OpenStdin: true,
      StdinOnce: true, // the engine closes stdin when our attach connection ends
      AttachStdin: true,
      HostConfig: { NetworkMode: 'none', AutoRemove: true },
    });
    try {
      const stdin = (await container.attach({ stream: true, stdin: true, hijack: true })) as Duplex & { unref?: () => void };
      stdin.on('error', () => undefined); // the engine going away ends the lease; nothing to report here
      stdin.unref?.(); // holding the lease must not keep the lab process alive
      await container.start();
      return new Lease(name, container, stdin);
    } catch (error) {
      await container.remove({ force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Gives the lease up: the lease ends and removes itself; our objects are then leftovers. */
  async release(): Promise<void> {
    // Ending stdin starts the engine's own AutoRemove; a remove of ours that
    // meets it answers 409 ("removal already in progress") at once, before the
    // container is gone. So wait for "removed" itself (bounded: never hang on
    // an engine that cannot remove it), watching before the removal can start.
    const removed = this.container.wait({ condition: 'removed', abortSignal: AbortSignal.timeout(RELEASE_WAIT_MS) }).catch(() => undefined);
    this.stdin.end();
    this.stdin.destroy();
    await this.container.remove({ force: true }).catch(() => undefined);
    await removed;
  }
}

/** Names of the leases whose lab is still running, as the engine sees them now. */
export async function liveLeases(docker: Docker): Promise<Set<string>> {
  const leases = await docker.listContainers({ all: true, filters: { label: [`${ROLE_LABEL}=${LEASE_ROLE}`, LABEL_KEY] } });
  const now = Date.now() / 1000;
  const live = new Set<string>();
  for (const c of leases) {
    const starting = c.State === 'created' && now - c.Created < LEASE_START_GRACE_S;
    if (starting || ['running', 'paused', 'restarting'].includes(c.State)) live.add(c.Labels?.[LEASE_LABEL] ?? (c.Names[0] ?? '').replace(/^\//, ''));
  }
  return live;
}
