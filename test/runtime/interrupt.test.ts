// Ctrl-C must leave nothing behind; kill -9 of a lab must not leave process
// roles running, and `fdlab clean` must find what Docker keeps.
import { strict as assert } from 'node:assert';
import Docker from 'dockerode';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeLeftovers } from '../../src/runtime/docker/leftovers';
import { labImageOrSkip, leftovers } from '../helpers/docker';
import { until, within } from '../helpers/fds';
import { FIXTURES, collect, processAlive, startFixture } from '../helpers/process';
import { cliPath } from '../../src/project';

const CLI = cliPath();

interface Ready {
  run: string;
  role: string;
  shared: string;
}

type Child = ReturnType<typeof startFixture>;

async function startInterruptedLab(kind: string, image = '', start = (): Child => startFixture('interrupted-lab', [kind, image])): Promise<{ child: Child; ready: Ready; done: ReturnType<typeof collect> }> {
  const child = start();
  const done = collect(child);
  const line = await within(30_000, 'lab ready', new Promise<string>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(d.toString()))));
  return { child, ready: JSON.parse(line) as Ready, done };
}

/** Resolves once the run's lease container is gone (call before killing the lab). */
function leaseEnded(run: string): Promise<unknown> {
  return within(30_000, `lease of ${run} to end with its lab`, new Docker().getContainer(`fdlab-${run}-lease`).wait({ condition: 'removed' }));
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
    const gone = leaseEnded(second.ready.run);
    second.child.kill('SIGKILL');
    await second.done;
    await gone; // the engine notices the lab is gone: its lease ends
    assert.ok((await leftovers(`fdlab.run=${second.ready.run}`)) >= 3, 'kill -9 gives no chance to clean');
    const removed = await removeLeftovers(new Docker());
    assert.ok(removed.containers.some((name) => name.includes(second.ready.run)));
    assert.equal(await leftovers(`fdlab.run=${second.ready.run}`), 0);
  });

  it('docker runtime: fdlab clean spares a lab running in another pid namespace and host name, and removes it once that lab is killed', async function () {
    const image = await labImageOrSkip();
    if (!image) return this.skip();
    const unshare = spawnSync('unshare', ['-p', '-f', '--mount-proc', '-u', 'true']);
    if (unshare.status !== 0) {
      if (process.env.FDLAB_REQUIRE_DOCKER === '1') assert.fail(`unshare -p -f --mount-proc -u failed here: ${unshare.stderr}`);
      console.log(`      (skipping: unshare -p -f --mount-proc -u needs CAP_SYS_ADMIN: ${String(unshare.stderr).trim()})`);
      return this.skip();
    }
    // The lab's pid and host name mean nothing here, as for a lab started in
    // a devcontainer or on another machine: only the engine can tell.
    const script = `hostname fdlab-elsewhere && exec "$0" "$@"`;
    const lab = await startInterruptedLab('docker', image, () =>
      spawn('unshare', ['-p', '-f', '--mount-proc', '-u', '--kill-child', 'sh', '-c', script, process.execPath, path.join(FIXTURES, 'interrupted-lab.js'), 'docker', image], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const run = `fdlab.run=${lab.ready.run}`;
    const docker = new Docker();
    const owners = (await docker.listContainers({ all: true, filters: { label: [run] } })).map((c) => c.Labels['fdlab.owner']);
    assert.ok(owners.length >= 3 && owners.every((o) => o.startsWith('fdlab-elsewhere:')), `owned from elsewhere: ${owners.join(', ')}`);
    const before = await leftovers(run);

    const clean = await collect(spawn(process.execPath, [CLI, 'clean'], { env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, new RegExp(`kept \\d+ object\\(s\\) of labs still running: .*fdlab-${lab.ready.run}-pod`));
    assert.doesNotMatch(clean.stdout, new RegExp(`removed .*${lab.ready.run}`));
    assert.equal(await leftovers(run), before, 'nothing of the running lab was removed');
    const states = (await docker.listContainers({ all: true, filters: { label: [run] } })).map((c) => `${c.Names[0]} ${c.State}`);
    assert.ok(states.every((s) => s.endsWith(' running')), `all still running: ${states.join(', ')}`);

    // kill -9 of unshare takes the lab (pid 1 of its namespace) with it; its lease ends on its own.
    const gone = leaseEnded(lab.ready.run);
    lab.child.kill('SIGKILL');
    await lab.done;
    await gone;
    const removed = await removeLeftovers(docker);
    assert.ok(removed.containers.includes(`fdlab-${lab.ready.run}-pod`), `removed: ${removed.containers.join(', ')}`);
    assert.ok(!removed.inUse.some((name) => name.includes(lab.ready.run)));
    assert.equal(await leftovers(run), 0);
  });
});
