// Docker availability for tests: required in CI (FDLAB_REQUIRE_DOCKER=1),
// otherwise a missing engine skips the container tests with a printed reason.
import Docker from 'dockerode';
import { probeEngine } from '../../src/runtime/docker/engine';
import { ensureLabImage } from '../../src/runtime/image/image-builder';

let cached: Promise<string | null> | undefined;

/** The lab image tag, or null when no engine answers (and Docker is not required). */
export function labImageOrSkip(): Promise<string | null> {
  cached ??= (async () => {
    const docker = new Docker();
    const engine = await probeEngine(docker);
    if (!engine.ok) {
      if (process.env.FDLAB_REQUIRE_DOCKER === '1') {
        throw new Error(`FDLAB_REQUIRE_DOCKER=1 but ${engine.detail}`);
      }
      console.log(`      (skipping container tests: ${engine.detail}; set FDLAB_REQUIRE_DOCKER=1 to make this a failure)`);
      return null;
    }
    return (await ensureLabImage(docker)).tag;
  })();
  return cached;
}

/** Containers and volumes still carrying a label, e.g. 'fdlab.run=lab1-abc123'. */
export async function leftovers(label: string): Promise<number> {
  const docker = new Docker();
  const filters = { label: [label] };
  const containers = await docker.listContainers({ all: true, filters });
  const { Volumes } = await docker.listVolumes({ filters });
  return containers.length + (Volumes?.length ?? 0);
}
