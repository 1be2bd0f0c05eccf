// `fdlab clean`: remove what interrupted labs and tests left behind.
import Docker from 'dockerode';
import { ENGINE_FIX, probeEngine } from '../runtime/docker/engine';
import { removeLeftovers } from '../runtime/docker/leftovers';
import { removeStaleFreezers } from '../runtime/process/freezer';
import { removeOrphanSharedDirs } from '../runtime/process/leftovers';

export async function runClean(options: { all?: boolean } = {}): Promise<number> {
  // The process runtime's part first: it needs no engine.
  // Its --pause freezers of labs that are gone (kill -9 of the lab and its guard): thawed, emptied, removed.
  const freezers = await removeStaleFreezers();
  if (freezers.length) console.log(`removed ${freezers.length} frozen role cgroup(s) of labs that are gone: ${freezers.join(', ')}`);
  const orphans = removeOrphanSharedDirs();
  if (orphans.length) console.log(`removed ${orphans.length} shared dir(s) of labs or checks that were killed: ${orphans.join(', ')}`);
  const docker = new Docker();
  const engine = await probeEngine(docker);
  if (!engine.ok) {
    console.log(`${engine.detail}: nothing to clean there (${ENGINE_FIX})`);
    return 0;
  }
  const { inUse, ...removed } = await removeLeftovers(docker, options);
  const total = removed.containers.length + removed.volumes.length + removed.networks.length;
  if (total === 0) console.log(inUse.length ? 'nothing left behind to remove' : 'nothing labelled fdlab is left: clean');
  for (const [kind, names] of Object.entries(removed)) if (names.length) console.log(`removed ${names.length} ${names.length === 1 ? kind.replace(/s$/, '') : kind}: ${names.join(', ')}`);
  if (inUse.length) console.log(`kept ${inUse.length} object(s) of labs still running: ${inUse.join(', ')} (fdlab clean --all removes them too)`);
  return 0;
}
