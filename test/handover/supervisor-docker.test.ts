// Issue 20, item 3: the supervisor as a container's PID 1, in the lab image
// (built offline from this machine's node, busybox and this build: no
// registry), from examples/production/Dockerfile. `docker kill -s USR2` upgrades in place, three times, under 300
// connections: 0 lost, one container, `docker top` shows the supervisor and
// one worker after each upgrade settles. The new code comes from a volume:
// the worker's command reads the version from a bind-mounted file, changed
// before each upgrade. `docker stop` ends it all with exit 0. Before, with
// `fdlab serve` as the container's command, the old version's exit ended
// the container and the successor with it.
import { strict as assert } from 'node:assert';
import { execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir, until } from '../helpers/fds';
import { dockerRunLogged, labImageOrSkip } from '../helpers/docker';
import { Pinger } from '../helpers/pinger';
import { projectPath } from '../../src/project';

const exec = promisify(execFile);
const CONNECTIONS = 300;
const docker = async (...args: string[]) => (await exec('docker', args)).stdout;

describe('fdlab run as PID 1 of a container (issue 20)', function () {
  this.timeout(180_000);
  const name = `fdlab-run-test-${process.pid}`;
  let child: ChildProcess | null = null;
  let pinger: Pinger | null = null;
  const builtImage = `fdlab-run-test:${process.pid}`;

  afterEach(async () => {
    pinger?.close();
    pinger = null;
    await docker('rm', '-f', name).catch(() => '');
    await docker('rmi', builtImage).catch(() => '');
    child?.kill('SIGKILL');
    child = null;
  });

  it(`docker kill -s USR2, three times, ${CONNECTIONS} connections: 0 lost, one container, one worker after each; new code from a volume; docker stop exits 0 (examples/production/Dockerfile)`, async function () {
    const image = await labImageOrSkip();
    if (!image) return this.skip();
    // examples/production/Dockerfile, built on this build's lab image (no registry).
    await docker('build', '-q', '-t', builtImage, '--build-arg', `BASE=${image}`, projectPath('examples', 'production'));
    const code = tempDir();
    fs.writeFileSync(path.join(code, 'VERSION'), 'v1');
    // --network host: fdlab serve listens on 127.0.0.1, which is then the host's too. Its CMD, as built.
    const run = dockerRunLogged(['--rm', '--name', name, '--label', 'fdlab.test=supervisor', '--network', 'host', '-e', 'PORT=0', '-v', `${code}:/code:ro`, builtImage]);
    child = run.child;
    const { exited, waitForLog } = run;
    const serving = await waitForLog(/serving on 127\.0\.0\.1:(\d+) as pid (\d+) \(v1\)/);
    assert.equal((await docker('exec', name, 'cat', '/tmp/run.pid')).trim(), '1', 'the supervisor is PID 1');
    pinger = await Pinger.connect(Number(serving[1]), CONNECTIONS);
    pinger.start();
    let workerPid = Number(serving[2]);
    for (const version of ['v2', 'v3', 'v4']) {
      fs.writeFileSync(path.join(code, 'VERSION'), version); // the new code, shipped to the volume
      const from = run.log().length;
      await docker('kill', '-s', 'USR2', name);
      const next = Number((await waitForLog(new RegExp(`worker pid ${workerPid} exited \\(code 0\\); serving: (\\d+)\\n`), from))[1]);
      assert.match(run.log().slice(from), new RegExp(`serving on 127\\.0\\.0\\.1:\\d+ as pid ${next} \\(${version}\\)`));
      workerPid = next;
      // docker top: host pids; the supervisor and exactly one worker.
      const top = (await docker('top', name, '-o', 'pid,args')).trim().split('\n').slice(1);
      assert.equal(top.length, 2, `the supervisor and one worker:\n${top.join('\n')}`);
      assert.ok(top.some((line) => / run --pid-file /.test(line)) && top.some((line) => / serve --version /.test(line)), top.join('\n'));
    }
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, run.log());
    assert.equal(counts.pongs, counts.pings, 'every ping answered once');
    assert.equal((await docker('ps', '-q', '--filter', `name=^${name}$`)).trim().split('\n').length, 1, 'one container, the same');
    await docker('stop', '-t', '30', name);
    assert.equal(await exited, 0, run.log());
    await until(5000, () => `every connection closed by the server (${pinger!.disconnects})`, () => pinger!.disconnects === CONNECTIONS);
  });
});
