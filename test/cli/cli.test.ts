// The fdlab command as a user runs it: doctor, clean, and the fallback to
// the process runtime when no Docker engine answers.
import { strict as assert } from 'node:assert';
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labels } from '../../src/runtime/docker/labels';
import { labImageOrSkip } from '../helpers/docker';
import { tempDir } from '../helpers/fds';
import { freePort, listeningOnAnyPort } from '../helpers/ports';
import { collect } from '../helpers/process';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
// An engine address nobody answers on: what a user sees with dockerd stopped.
const NO_ENGINE = { DOCKER_HOST: 'unix:///tmp/fdlab-no-docker-here.sock' };

/** The CLI, with a lab's captures in a temp dir: never the learner's captures/. */
function fdlab(args: string[], env: Record<string, string> = {}) {
  if (args[0] === 'lab') args = [...args, '--captures', tempDir()];
  return collect(spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('fdlab command line', function () {
  this.timeout(60_000);

  it('doctor is green here', async function () {
    if (!(await labImageOrSkip())) return this.skip();
    const run = await fdlab(['doctor']);
    assert.equal(run.code, 0, run.stdout);
    for (const name of ['kernel', 'native module', 'strace', 'Docker engine', 'lab image']) {
      assert.match(run.stdout, new RegExp(`✔ ${name}`), `${name} is green:\n${run.stdout}`);
    }
    assert.match(run.stdout, /All green/);
  });

  it('doctor with no engine says so, names the fix, and still lets the labs run', async () => {
    const run = await fdlab(['doctor'], NO_ENGINE);
    assert.equal(run.code, 0, 'labs still run (process runtime): not a blocking problem');
    assert.match(run.stdout, /! Docker engine\s+no Docker engine answered at unix:\/\/\/tmp\/fdlab-no-docker-here\.sock .*labs fall back to the process runtime/);
    assert.match(run.stdout, /fix: start one: `dockerd/);
  });

  it('a lab with no engine falls back to the process runtime and says why', async () => {
    const run = await fdlab(['lab', '1', '--quiet'], NO_ENGINE);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /runtime: process: no Docker engine answered at [^]*?falling\s+back\s+to\s+processes/);
    assert.match(run.stdout, /Lab passed: 7 passed, 0 failed/);
    const captures = /captures, logs and summary\.json: (\S+)/.exec(run.stdout)?.[1];
    assert.ok(captures && captures.startsWith(os.tmpdir()) && captures.endsWith('/lab1'), `--captures: ${captures}`);
    assert.ok(fs.existsSync(path.join(captures, 'summary.json')));
  });

  it('--runtime docker with no engine fails with the fix instead of falling back', async () => {
    const run = await fdlab(['lab', '1', '--runtime', 'docker', '--quiet'], NO_ENGINE);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--runtime docker: no Docker engine answered .*start one/);
    assert.match(run.stderr, /\[ERR_DOCKER_UNAVAILABLE\]/);
  });

  it('refuses unknown labs and bad options with a clear message', async () => {
    const unknown = await fdlab(['lab', '9']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /there is no lab 9; available: /);
    const bad = await fdlab(['lab', '1', '--runtime', 'kubernetes']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Allowed choices are auto, docker, process/);
  });

  it('refuses an unknown fault or setting and a bad value before starting anything, listing what the lab accepts', async () => {
    const fault = await fdlab(['lab', '5', '--fault', 'nope']);
    assert.equal(fault.code, 1);
    assert.match(fault.stderr, /lab 5 has no fault 'nope'; it has: crash-new \(v2 dies/);
    const key = await fdlab(['lab', '1', '--set', 'bogus=3']);
    assert.match(key.stderr, /lab 1 has no setting 'bogus'; it accepts: none \[ERR_UNKNOWN_SETTING\]/);
    const value = await fdlab(['lab', '5', '--set', 'connections=abc']);
    assert.match(value.stderr, /connections must be a whole number from 1 to 1000 .*got 'abc' \[ERR_INVALID_SETTING\]/);
    const choice = await fdlab(['lab', '3', '--reads', 'lazy']);
    assert.match(choice.stderr, /reads must be one of exact, greedy; got 'lazy'/);
    for (const run of [fault, key, value, choice]) assert.doesNotMatch(run.stdout, /Step 1/, 'nothing started');
  });

  it('serve refuses a bad port, a port in use (with a hint) and an unwritable pid file, and exits', async () => {
    const stateDir = tempDir();
    const badPort = await fdlab(['serve', '--port', 'abc', '--pid-file', path.join(stateDir, 'x.pid'), '--state-dir', stateDir]);
    assert.notEqual(badPort.code, 0);
    assert.match(badPort.stderr, /a port from 0 to 65535/);
    const anyPortNoDir = await fdlab(['serve', '--port', '0', '--pid-file', path.join(stateDir, 'z.pid')]);
    assert.equal(anyPortNoDir.code, 1);
    assert.match(anyPortNoDir.stderr, /with --port 0, give a --state-dir too .*\[ERR_INVALID_ARG_VALUE\]/);
    // The kernel picks the busy port: no fixed number that another run (or a lab) may hold.
    const blocker = await listeningOnAnyPort();
    let busy: Awaited<ReturnType<typeof fdlab>>;
    try {
      busy = await fdlab(['serve', '--port', String(blocker.port), '--pid-file', path.join(stateDir, 'y.pid'), '--state-dir', stateDir]);
    } finally {
      blocker.server.close();
    }
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, new RegExp(`127\\.0\\.0\\.1:${blocker.port} is already in use .*pick another --port`));
    assert.equal(fs.existsSync(path.join(stateDir, 'y.pid')), false, 'no pid file for a server that never served');
    const pid = await fdlab(['serve', '--port', String(await freePort()), '--pid-file', '/nonexistent/dir/x.pid', '--state-dir', stateDir]);
    assert.equal(pid.code, 1, 'it stopped serving instead of running without a pid file');
    assert.match(pid.stderr, /cannot write the pid file \/nonexistent\/dir\/x\.pid.*stopped serving \[ERR_PID_FILE\]/);
  });

  it('--keep leaves the pod up with the volume, says how to get in, and fdlab clean removes it', async function () {
    if (!(await labImageOrSkip())) return this.skip();
    const run = await fdlab(['lab', '1', '--keep', '--quiet']);
    assert.equal(run.code, 0, run.stdout);
    const pod = run.stdout.match(/--keep: pod (fdlab-lab1-[0-9a-f]+-pod) keeps running/)?.[1];
    assert.ok(pod, run.stdout);
    assert.match(run.stdout, new RegExp(`look around: docker exec -it ${pod} sh`));
    const docker = new Docker();
    const container = docker.getContainer(pod);
    assert.equal((await container.inspect()).State.Running, true);
    const exec = await container.exec({ Cmd: ['ls', '/run/fdlab/captures'], AttachStdout: true });
    const listing = await new Promise<string>((resolve) => {
      void exec.start({}).then((stream) => {
        let text = '';
        stream.on('data', (d: Buffer) => (text += d.toString()));
        stream.on('end', () => resolve(text));
      });
    });
    assert.match(listing, /receiver\.strace/);
    const clean = await fdlab(['clean']);
    assert.match(clean.stdout, new RegExp(`removed \\d+ containers: .*${pod}`));
    await assert.rejects(container.inspect(), /no such container/i);
  });

  it('clean removes labelled leftovers and says so', async function () {
    if (!(await labImageOrSkip())) return this.skip();
    // A leftover as a killed lab leaves it: labelled, its lease gone (it never had one running).
    const run = `cli-test-${process.pid}-${Date.now().toString(36)}`;
    const volume = `fdlab-${run}`;
    const docker = new Docker();
    await docker.createVolume({ Name: volume, Labels: labels('test', run) });
    try {
      const clean = await fdlab(['clean']);
      assert.equal(clean.code, 0, clean.stderr);
      assert.match(clean.stdout, new RegExp(`removed \\d+ volumes?: (.*, )?${volume}(,|$)`, 'm'));
      await assert.rejects(docker.getVolume(volume).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
    } finally {
      await docker.getVolume(volume).remove().catch(() => undefined);
    }
  });
});
