// A devcontainer built on scripts/devcontainer-check.sh's base image inherits
// its `fdlab` label; `fdlab clean` must not remove the user's editor with it.
import { strict as assert } from 'node:assert';
import Docker from 'dockerode';
import { DEVCONTAINER_LABEL, removeLeftovers } from '../../src/runtime/docker/leftovers';
import { labImageOrSkip } from '../helpers/docker';

describe('fdlab clean and devcontainers', function () {
  this.timeout(60_000);

  it('keeps a container that carries the fdlab label and the Dev Containers label, and removes its twin without the latter', async function () {
    const image = await labImageOrSkip();
    if (!image) return this.skip();
    const docker = new Docker();
    const tag = `clean-devcontainer-${process.pid}-${Date.now()}`;
    const make = (extra: Record<string, string>) =>
      docker.createContainer({ Image: image, Cmd: ['true'], Labels: { fdlab: 'devcontainer-base', 'fdlab.test': tag, ...extra } });
    const devcontainer = await make({ [DEVCONTAINER_LABEL]: '[]' });
    const leftover = await make({});
    try {
      const removed = await removeLeftovers(docker);
      const left = await docker.listContainers({ all: true, filters: { label: [`fdlab.test=${tag}`] } });
      assert.deepEqual(left.map((c) => c.Id), [devcontainer.id]);
      const name = (await devcontainer.inspect()).Name.replace(/^\//, '');
      const leftoverName = (await leftover.inspect().catch(() => ({ Name: '' }))).Name;
      assert.equal(leftoverName, '', 'the twin is gone');
      assert.ok(![...removed.containers, ...removed.inUse].includes(name), 'the devcontainer is not a lab object: neither removed nor kept as in use');
    } finally {
      await devcontainer.remove({ force: true }).catch(() => undefined);
      await leftover.remove({ force: true }).catch(() => undefined);
    }
  });
});
