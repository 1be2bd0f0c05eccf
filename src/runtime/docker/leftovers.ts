// `fdlab clean`: remove whatever an interrupted lab or test left behind,
// found by the `fdlab` label every object carries. Objects of a lab that is
// still running (its lease container runs, see lease.ts) are kept unless
// `all` is asked for, whoever started that lab and from wherever.
import type Docker from 'dockerode';
import { LABEL_KEY, LEASE_LABEL, OWNER_LABEL, ownerAlive } from './labels';
import { liveLeases } from './lease';

export interface Removed {
  containers: string[];
  volumes: string[];
  networks: string[];
  /** Objects kept because the lab that owns them is still running. */
  inUse: string[];
}

type Labels = Record<string, string> | undefined;

/**
 * Containers that carry the `fdlab` key but are no lab's objects, so `clean`
 * leaves them alone: a container labels itself with its image's labels, and
 * the base image of scripts/devcontainer-check.sh is labelled
 * `fdlab=devcontainer-base`. Every container made from it (the steps of a
 * devcontainer build, the devcontainer) inherits that; and a devcontainer
 * (the Dev Containers CLI and VS Code put `devcontainer.metadata` on it) is the
 * user's editor, whatever its `fdlab` value.
 */
export const DEVCONTAINER_BASE = 'devcontainer-base';
export const DEVCONTAINER_LABEL = 'devcontainer.metadata';

export async function removeLeftovers(docker: Docker, options: { all?: boolean } = {}): Promise<Removed> {
  const filters = { label: [LABEL_KEY] };
  // Objects first, leases after: a lab creates its lease before anything
  // else, so every object listed here has its lease in the later list unless
  // that lab has ended.
  const containers = await docker.listContainers({ all: true, filters });
  const { Volumes: volumes = [] } = await docker.listVolumes({ filters });
  const networks = await docker.listNetworks({ filters });
  const live = options.all ? new Set<string>() : await liveLeases(docker);
  // Objects made before leases existed are judged the old way, by host:pid.
  const inUse = (labels: Labels) => !options.all && (labels?.[LEASE_LABEL] ? live.has(labels[LEASE_LABEL]) : ownerAlive(labels?.[OWNER_LABEL]));

  const removed: Removed = { containers: [], volumes: [], networks: [], inUse: [] };
  const sweep = async (kind: 'containers' | 'volumes' | 'networks', labels: Labels, name: string, remove: () => Promise<unknown>) => {
    if (inUse(labels)) return void removed.inUse.push(name);
    await remove().catch(() => undefined);
    removed[kind].push(name);
  };
  for (const c of containers) {
    if (c.Labels?.[DEVCONTAINER_LABEL] !== undefined || c.Labels?.[LABEL_KEY] === DEVCONTAINER_BASE) continue;
    const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
    await sweep('containers', c.Labels, name, () => docker.getContainer(c.Id).remove({ force: true }));
  }
  // Volumes and networks go after the containers that used them.
  for (const v of volumes) await sweep('volumes', v.Labels as Labels, v.Name, () => docker.getVolume(v.Name).remove());
  for (const n of networks) await sweep('networks', n.Labels, n.Name, () => docker.getNetwork(n.Id).remove());
  return removed;
}
