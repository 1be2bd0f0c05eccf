// `fdlab clean`: remove whatever an interrupted lab or test left behind,
// found by the `fdlab` label every object carries.
import type Docker from 'dockerode';
import { LABEL_KEY } from './labels';

export interface Removed {
  containers: string[];
  volumes: string[];
  networks: string[];
}

export async function removeLeftovers(docker: Docker): Promise<Removed> {
  const filters = { label: [LABEL_KEY] };
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  const { Volumes: volumes = [] } = await docker.listVolumes({ filters });
  await Promise.all(volumes.map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
  const networks = await docker.listNetworks({ filters });
  await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
  return {
    containers: containers.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, '')),
    volumes: volumes.map((v) => v.Name),
    networks: networks.map((n) => n.Name),
  };
}
