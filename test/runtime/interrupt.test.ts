// Ctrl-C must leave nothing behind; kill -9 of a lab must not leave process
// roles running, and `fdlab clean` must find what Docker keeps.
import { strict as assert } from 'node:assert';
import Docker from 'dockerode';
import * as fs from 'node:fs';
import { removeLeftovers } from '../../src/runtime/docker/leftovers';
import { labImageOrSkip, leftovers } from '../helpers/docker';
import { until, within } from '../helpers/fds';
import { collect, startFixture } from '../helpers/process';

interface Ready {
  run: string;
  role: string;
  shared: string;
}

async function startInterruptedLab(kind: string, image = ''): Promise<{ child: ReturnType<typeof startFixture>; ready: Ready; done: ReturnType<typeof collect> }> {
  const child = startFixture('interrupted-lab', [kind, image]);
  const done = collect(child);
  const line = await within(30_000, 'lab ready', new Promise<string>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(d.toString()))));
  return { child, ready: JSON.parse(line) as Ready, done };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


describe('interrupted labs', function () {
  this.timeout(60_000);

  it('process runtime: Ctrl-C removes the roles and the shared directory', async () => {
    const { child, ready, done } = await startInterruptedLab('process');
    child.kill('SIGINT');
    assert.equal((await done).code, 130);
    assert.equal(processAlive(Number(ready.role)), false);
    assert.equal(fs.existsSync(ready.shared), false);
  });

  it('process runtime: kill -9 of the lab still takes its roles down', async () => {
    const { child, ready, done } = await startInterruptedLab('process');
    child.kill('SIGKILL');
    await done;
    await until(5000, 'role to die', () => !processAlive(Number(ready.role)), 50);
    fs.rmSync(ready.shared, { recursive: true, force: true }); // a temp dir is all that can remain
  });

  it('docker runtime: Ctrl-C removes pod, roles and volume; after kill -9, fdlab clean does', async function () {
    const image = await labImageOrSkip();
    if (!image) return this.skip();
    const first = await startInterruptedLab('docker', image);
    assert.ok((await leftovers(`fdlab.run=${first.ready.run}`)) >= 3, 'pod, role and volume exist while running');
    const whileRunning = await removeLeftovers(new Docker());
    assert.ok(whileRunning.inUse.some((name) => name.includes(first.ready.run)), 'a running lab is kept');
    assert.ok((await leftovers(`fdlab.run=${first.ready.run}`)) >= 3, 'fdlab clean did not pull the pod out from under it');
    first.child.kill('SIGINT');
    assert.equal((await first.done).code, 130);
    assert.equal(await leftovers(`fdlab.run=${first.ready.run}`), 0);

    const second = await startInterruptedLab('docker', image);
    second.child.kill('SIGKILL');
    await second.done;
    assert.ok((await leftovers(`fdlab.run=${second.ready.run}`)) >= 3, 'kill -9 gives no chance to clean');
    const removed = await removeLeftovers(new Docker());
    assert.ok(removed.containers.some((name) => name.includes(second.ready.run)));
    assert.equal(await leftovers(`fdlab.run=${second.ready.run}`), 0);
  });
});
