// A rebuild prunes earlier lab images, but never one that another checkout on
// the same engine may be about to start containers from: only images older
// than an hour go. Real images, loaded into the engine with a chosen creation
// time (a one-file layer, so it costs nothing).
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import Docker from 'dockerode';
import { pack } from 'tar-stream';
import { LAB_IMAGE_REPO, pruneOldImages } from '../../src/runtime/image/image-builder';
import { labImageOrSkip } from '../helpers/docker';

async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const archive = pack();
  for (const [name, content] of Object.entries(files)) archive.entry({ name }, content);
  archive.finalize();
  return buffer(archive);
}

/** Loads a tiny image labelled as a lab build, created at `created`; returns its tag. */
async function loadImage(docker: Docker, created: Date): Promise<string> {
  const tag = `${LAB_IMAGE_REPO}:${randomBytes(8).toString('hex')}`;
  const layer = await tarOf({ hello: Buffer.from(`made for ${tag}\n`) });
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: created.toISOString(),
    config: { Labels: { fdlab: 'image' }, Cmd: ['/hello'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(layer).digest('hex')}`] },
  };
  const manifest = [{ Config: 'config.json', RepoTags: [tag], Layers: ['layer.tar'] }];
  const archive = await tarOf({
    'layer.tar': layer,
    'config.json': Buffer.from(JSON.stringify(config)),
    'manifest.json': Buffer.from(JSON.stringify(manifest)),
  });
  const stream = await docker.loadImage(archive as unknown as NodeJS.ReadableStream);
  await buffer(stream);
  return tag;
}

async function exists(docker: Docker, tag: string): Promise<boolean> {
  return docker.getImage(tag).inspect().then(() => true, () => false);
}

describe('lab image pruning', function () {
  this.timeout(60_000);
  const docker = new Docker();
  const made: string[] = [];

  before(async function () {
    if ((await labImageOrSkip()) === null) this.skip();
  });

  after(async () => {
    await Promise.all(made.map((tag) => docker.getImage(tag).remove({ force: true }).catch(() => undefined)));
  });

  it('removes a build older than an hour and keeps one made just now (another checkout may be starting from it)', async () => {
    const old = await loadImage(docker, new Date('2020-01-01T00:00:00Z'));
    const fresh = await loadImage(docker, new Date());
    made.push(old, fresh);
    assert.ok(await exists(docker, old), 'the old image was loaded');
    await pruneOldImages(docker, 'sha256:none');
    assert.equal(await exists(docker, old), false, 'the two-year-old build is pruned');
    assert.equal(await exists(docker, fresh), true, 'the build made a moment ago is kept');
  });
});
