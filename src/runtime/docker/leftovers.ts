// `fdlab clean`: remove whatever an interrupted lab or test left behind,
// found by the `fdlab` label every object carries. Objects whose owning lab
// process is still running are kept unless `all` is asked for.
import type Docker from 'dockerode';
import { LABEL_KEY, OWNER_LABEL, ownerAlive } from './labels';

export interface Removed {
  containers: string[];
  volumes: string[];
  networks: string[];
  /** Objects kept because the lab that owns them is still running. */
  inUse: string[];
}

export async function removeLeftovers(docker: Docker, options: { all?: boolean } = {}): Promise<Removed> {
  const filters = { label: [LABEL_KEY] };
  const removed: Removed = { containers: [], volumes: [], networks: [], inUse: [] };
  const keep = (labels: Record<string, string> | undefined, name: string) => {
    if (options.all || !ownerAlive(labels?.[OWNER_LABEL])) return false;
    removed.inUse.push(name);
    return true;
  };

  const containers = await docker.listContainers({ all: true, filters });
  for (const c of containers) {
    const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
    if (keep(c.Labels, name)) continue;
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    removed.containers.push(name);
  }
  // Volumes and networks go after the containers that used them.
  const { Volumes: volumes = [] } = await docker.listVolumes({ filters });
  for (const v of volumes) {
    if (keep(v.Labels as Record<string, string>, v.Name)) continue;
    await docker.getVolume(v.Name).remove().catch(() => undefined);
    removed.volumes.push(v.Name);
  }
  for (const n of await docker.listNetworks({ filters })) {
    if (keep(n.Labels, n.Name)) continue;
    await docker.getNetwork(n.Id).remove().catch(() => undefined);
    removed.networks.push(n.Name);
  }
  return removed;
}
