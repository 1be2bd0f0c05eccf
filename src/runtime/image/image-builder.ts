// Builds the lab image without a registry: the rootfs from rootfs.ts is
// streamed as a tar straight into `docker import`. The tag is a hash of
// everything packed, so an unchanged project costs one inspect, not a build.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type Docker from 'dockerode';
import * as tar from 'tar-stream';
import { LabError } from '../../lab-error';
import { projectRoot } from '../../project';
import { collectRootfs, PROJECT_DIR, type RootfsEntry } from './rootfs';

export const LAB_IMAGE_REPO = 'fdlab-lab';
export const LAB_IMAGE_LATEST = `${LAB_IMAGE_REPO}:latest`;

// Kept in sync with docker/Dockerfile so both ways give the same image.
const CHANGES = [
  'LABEL fdlab=image',
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  `WORKDIR ${PROJECT_DIR}`,
  'CMD ["/bin/sh"]',
];

// Bump when how files are packed changes but no packed file does.
const FORMAT_VERSION = '1';

export interface EnsureLabImageOptions {
  onProgress?: (message: string) => void;
  /** Build even when an image with the same input hash exists. */
  force?: boolean;
}

export interface LabImage {
  /** fdlab-lab:<input hash>; fdlab-lab:latest points at the same image. */
  tag: string;
  built: boolean;
  seconds: number;
  /** Image size as Docker reports it. */
  bytes: number;
}

function fingerprint(entries: RootfsEntry[]): string {
  const hash = createHash('sha256').update(`format ${FORMAT_VERSION}\n${CHANGES.join('\n')}\n`);
  for (const entry of entries) {
    let identity: string;
    switch (entry.type) {
      case 'directory': identity = entry.mode.toString(8); break;
      case 'symlink': identity = entry.target; break;
      case 'data': identity = `${entry.mode.toString(8)} ${createHash('sha256').update(entry.data).digest('hex')}`; break;
      case 'file': identity = `${entry.mode.toString(8)} ${entry.stat.size} ${entry.stat.mtimeMs} ${entry.stat.ino}`; break;
    }
    hash.update(`${entry.type} ${entry.path} ${identity}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

function addEntry(pack: tar.Pack, entry: RootfsEntry): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null): void => (error ? reject(error) : resolve());
    const header = { name: entry.path.slice(1), uid: 0, gid: 0, mtime: new Date(0) };
    switch (entry.type) {
      case 'directory': pack.entry({ ...header, type: 'directory', mode: entry.mode }, done); break;
      case 'symlink': pack.entry({ ...header, type: 'symlink', mode: 0o777, linkname: entry.target }, done); break;
      case 'data': pack.entry({ ...header, type: 'file', mode: entry.mode }, entry.data, done); break;
      case 'file': {
        const sink = pack.entry({ ...header, type: 'file', mode: entry.mode, size: entry.stat.size, mtime: entry.stat.mtime }, done);
        // Without a listener a size mismatch (file changed since stat) would be an uncaught exception.
        sink.on('error', reject);
        fs.createReadStream(entry.source).on('error', reject).pipe(sink);
        break;
      }
    }
  });
}

async function writeTar(pack: tar.Pack, entries: RootfsEntry[], onProgress: (message: string) => void): Promise<void> {
  const total = entries.reduce((sum, e) => sum + (e.type === 'file' ? e.stat.size : 0), 0);
  let sent = 0;
  let reported = 0;
  for (const entry of entries) {
    await addEntry(pack, entry);
    if (entry.type !== 'file') continue;
    sent += entry.stat.size;
    if (sent - reported >= 16 * 2 ** 20) {
      reported = sent;
      onProgress(`importing ${megabytes(sent)} / ${megabytes(total)} MB`);
    }
  }
  pack.finalize();
}

async function importTar(docker: Docker, entries: RootfsEntry[], hash: string, onProgress: (message: string) => void): Promise<void> {
  const pack = tar.pack();
  // tar-stream packs are streamx streams; docker-modem only needs on('error') and pipe().
  const importing = docker.importImage(pack as unknown as NodeJS.ReadableStream, { repo: LAB_IMAGE_REPO, tag: hash, changes: CHANGES });
  // If Docker refuses early nobody reads the tar, so stop writing it.
  importing.catch((error: Error) => pack.destroy(error));
  const writing = writeTar(pack, entries, onProgress).catch((error: Error) => {
    pack.destroy(error);
    throw error;
  });
  const [response] = await Promise.all([importing, writing]);
  // Docker reports failures inside the 200 response body, not as a status.
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(response, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

async function inspectImage(docker: Docker, tag: string): Promise<{ Id: string; Size: number } | undefined> {
  try {
    return await docker.getImage(tag).inspect();
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw new LabError('ERR_FDLAB_DOCKER_UNAVAILABLE', `The Docker engine did not answer: ${(error as Error).message}`, { cause: error });
  }
}

// Every rebuild leaves a 100+ MB image behind. Drop earlier builds (tagged
// only fdlab-lab:<hash>, or no longer tagged at all) unless a container still
// uses them; a user's own tag such as fdlab-lab:dockerfile keeps its image.
const BUILD_TAG = new RegExp(`^${LAB_IMAGE_REPO}:[0-9a-f]{16}$`);

/**
 * An older lab image may still be about to be used: another checkout (a second
 * learner, CI, a worktree) on the same engine checked it moments ago and is
 * starting containers from it. Only images older than this are removed.
 */
const PRUNE_AFTER_S = 60 * 60;

export async function pruneOldImages(docker: Docker, keepId: string): Promise<void> {
  const images = await docker.listImages({ filters: { label: ['fdlab=image'] } });
  const cutoff = Date.now() / 1000 - PRUNE_AFTER_S;
  const stale = images.filter((image) => image.Id !== keepId && image.Created < cutoff &&
    (image.RepoTags ?? []).every((t) => t === '<none>:<none>' || BUILD_TAG.test(t)));
  await Promise.all(stale.map((image) => docker.getImage(image.Id).remove().catch(() => undefined)));
}

/** Makes sure fdlab-lab:<hash of inputs> exists (and is :latest), building it only when inputs changed. */
export async function ensureLabImage(docker: Docker, options: EnsureLabImageOptions = {}): Promise<LabImage> {
  const started = process.hrtime.bigint();
  const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  const progress = options.onProgress ?? ((): void => undefined);

  progress('collecting files');
  const entries = collectRootfs(projectRoot());
  const hash = fingerprint(entries);
  const tag = `${LAB_IMAGE_REPO}:${hash}`;

  let image = options.force ? undefined : await inspectImage(docker, tag);
  const built = image === undefined;
  if (!image) {
    progress(`building ${tag} from ${entries.length} entries`);
    try {
      await importTar(docker, entries, hash, progress);
    } catch (error) {
      if (error instanceof LabError) throw error;
      throw new LabError('ERR_FDLAB_IMAGE_IMPORT', `docker import of ${tag} failed: ${(error as Error).message}`, { cause: error });
    }
    image = await inspectImage(docker, tag);
    if (!image) throw new LabError('ERR_FDLAB_IMAGE_IMPORT', `docker import finished but ${tag} does not exist`);
  }
  await docker.getImage(tag).tag({ repo: LAB_IMAGE_REPO, tag: 'latest' });
  if (built) await pruneOldImages(docker, image.Id);
  return { tag, built, seconds: seconds(), bytes: image.Size };
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
