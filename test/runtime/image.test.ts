// The offline lab image must run everything a lab needs: node with the native
// addon, strace, ss and a busybox shell (testcontainers' wait strategy execs
// /bin/sh with cat/awk/grep).
import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { ensureLabImage, LAB_IMAGE_LATEST, type LabImage } from '../../src/runtime/image/image-builder';

async function dockerAnswers(docker: Docker): Promise<string | undefined> {
  try {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref());
    await Promise.race([docker.ping(), timeout]);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

async function exec(container: Docker.Container, cmd: string[]): Promise<{ exitCode: number; output: string }> {
  const execution = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await execution.start({ hijack: true, stdin: false });
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (chunk: Buffer) => chunks.push(chunk));
  container.modem.demuxStream(stream, sink, sink);
  await new Promise<void>((resolve, reject) => stream.on('end', resolve).on('error', reject));
  const { ExitCode } = await execution.inspect();
  return { exitCode: ExitCode ?? -1, output: Buffer.concat(chunks).toString() };
}

describe('offline lab image', function () {
  const docker = new Docker();
  let image: LabImage;
  let container: Docker.Container | undefined;

  before(async function () {
    this.timeout(120_000);
    const unreachable = await dockerAnswers(docker);
    if (unreachable !== undefined) {
      if (process.env.FDLAB_REQUIRE_DOCKER === '1') throw new Error(`FDLAB_REQUIRE_DOCKER=1 but Docker did not answer: ${unreachable}`);
      console.log(`      skipped: no Docker engine answers (${unreachable}); set FDLAB_REQUIRE_DOCKER=1 to fail instead`);
      this.skip();
    }
    image = await ensureLabImage(docker);
    console.log(`      ${image.tag}: ${(image.bytes / 1e6).toFixed(1)} MB, ${image.built ? 'built' : 'already up to date'} in ${image.seconds.toFixed(2)} s`);
    // One long-lived container for all checks; AutoRemove cleans up even if `after` never runs.
    container = await docker.createContainer({
      Image: image.tag,
      Cmd: ['sleep', '300'],
      Labels: { fdlab: 'test' },
      HostConfig: { AutoRemove: true },
    });
    await container.start();
  });

  after(async function () {
    this.timeout(30_000);
    await container?.remove({ force: true }).catch(() => undefined);
  });

  it('is tagged with its input hash and as latest, and labelled fdlab', async function () {
    const hashed = await docker.getImage(image.tag).inspect();
    const latest = await docker.getImage(LAB_IMAGE_LATEST).inspect();
    assert.equal(latest.Id, hashed.Id);
    assert.equal(hashed.Config.Labels?.fdlab, 'image');
    assert.equal(hashed.Config.WorkingDir, '/opt/fdlab');
  });

  it('loads the native addon in node', async function () {
    const result = await exec(container!, ['node', '-e', "const [a, b] = require('fdlab').socketpair(); console.log(a >= 0 && b >= 0)"]);
    assert.equal(result.exitCode, 0, result.output);
    assert.equal(result.output.trim(), 'true');
  });

  it('runs strace', async function () {
    const result = await exec(container!, ['strace', '-f', '-e', 'trace=none', 'true']);
    assert.equal(result.exitCode, 0, result.output);
    assert.match(result.output, /exited with 0/);
  });

  it('runs ss', async function () {
    const result = await exec(container!, ['ss', '-tlnx']);
    assert.equal(result.exitCode, 0, result.output);
    assert.match(result.output, /Local Address/);
  });

  it('has /bin/sh with the tools testcontainers uses', async function () {
    const script = 'cat /proc/net/tcp | awk \'NR > 1 { print $2 }\' | grep -c . ; ls /tmp /run/fdlab && ps && grep ^root: /etc/passwd';
    const result = await exec(container!, ['/bin/sh', '-c', script]);
    assert.equal(result.exitCode, 0, result.output);
    assert.match(result.output, /root:x:0:0/);
  });

  it('skips the build when nothing changed', async function () {
    this.timeout(30_000);
    const again = await ensureLabImage(docker);
    console.log(`      second call: ${again.seconds.toFixed(2)} s`);
    assert.equal(again.built, false);
    assert.equal(again.tag, image.tag);
  });
});
