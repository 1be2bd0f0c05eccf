// Docker availability for tests: required in CI (FDLAB_REQUIRE_DOCKER=1),
// otherwise a missing engine skips the container tests with a printed reason.
import { spawn, type ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import { probeEngine } from '../../src/runtime/docker/engine';
import { ensureLabImage } from '../../src/runtime/image/image-builder';
import { until } from './fds';

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

/** A `docker run` in the foreground whose output (stdout and stderr) the test reads as it comes. */
export interface LoggedRun {
  child: ChildProcess;
  /** Everything printed so far. */
  log(): string;
  /** The container's exit code, once `docker run` exits. */
  exited: Promise<number | null>;
  /** Waits (up to 60 s) for `pattern` in the output after character `from`. */
  waitForLog(pattern: RegExp, from?: number): Promise<RegExpMatchArray>;
}

export function dockerRunLogged(args: string[]): LoggedRun {
  const child = spawn('docker', ['run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const waitForLog = async (pattern: RegExp, from = 0): Promise<RegExpMatchArray> => {
    let match: RegExpMatchArray | null = null;
    await until(60_000, () => `${pattern} in the log:\n${log}`, () => (match = log.slice(from).match(pattern)) !== null, 20);
    return match!;
  };
  return { child, log: () => log, exited, waitForLog };
}
