// A devcontainer built on scripts/devcontainer-check.sh's base image, and every
// step of its build, inherits that image's `fdlab` label; `fdlab clean` must
// remove neither the user's editor nor a build in progress.
import { strict as assert } from 'node:assert';
import Docker from 'dockerode';
import { DEVCONTAINER_BASE, DEVCONTAINER_LABEL, removeLeftovers } from '../../src/runtime/docker/leftovers';
import { labImageOrSkip } from '../helpers/docker';

describe('fdlab clean and devcontainers', function () {
  this.timeout(60_000);

  it('keeps a devcontainer and a container of the devcontainer base image, and removes their twin with only the fdlab label', async function () {
    const image = await labImageOrSkip();
    if (!image) return this.skip();
    const docker = new Docker();
    const tag = `clean-devcontainer-${process.pid}-${Date.now()}`;
    const make = (labels: Record<string, string>) => docker.createContainer({ Image: image, Cmd: ['true'], Labels: { 'fdlab.test': tag, ...labels } });
    const devcontainer = await make({ fdlab: 'devcontainer-check', [DEVCONTAINER_LABEL]: '[]' });
    const buildStep = await make({ fdlab: DEVCONTAINER_BASE });
    const leftover = await make({ fdlab: 'devcontainer-check' });
    try {
      const removed = await removeLeftovers(docker);
      const left = await docker.listContainers({ all: true, filters: { label: [`fdlab.test=${tag}`] } });
      assert.deepEqual(left.map((c) => c.Id).sort(), [devcontainer.id, buildStep.id].sort());
      const names = await Promise.all([devcontainer, buildStep].map(async (c) => (await c.inspect()).Name.replace(/^\//, '')));
      const leftoverName = (await leftover.inspect().catch(() => ({ Name: '' }))).Name;
      assert.equal(leftoverName, '', 'the twin is gone');
      for (const name of names) assert.ok(![...removed.containers, ...removed.inUse].includes(name), `${name} is no lab object: neither removed nor kept as in use`);
    } finally {
      for (const c of [devcontainer, buildStep, leftover]) await c.remove({ force: true }).catch(() => undefined);
    }
  });
});
