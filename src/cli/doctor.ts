// `fdlab doctor`: everything the labs need, checked on this machine, with
// the fix for each failure. Exit code 1 when anything needed is missing.
import chalk from 'chalk';
import Docker from 'dockerode';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENGINE_FIX, probeEngine } from '../runtime/docker/engine';
import { LAB_IMAGE_LATEST } from '../runtime/image/image-builder';

interface Finding {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** Labs still run without it (e.g. no engine: the process runtime). */
  optional?: boolean;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = os.release().split('.').map((n) => parseInt(n, 10));
  return a > major || (a === major && b >= minor);
}

function checkNative(): Finding {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { socketpair, closeQuietly } = require('fdlab') as typeof import('fdlab');
    closeQuietly(socketpair());
    // The file node-gyp-build chose (packages/fdlab/build/Release, or a prebuilt one).
    const addon = Object.keys(require.cache).find((file) => file.endsWith('.node')) ?? 'fdlab.node';
    return { name: 'native module', ok: true, detail: `${path.relative(process.cwd(), addon) || addon} loads and makes a socketpair` };
  } catch (error) {
    return { name: 'native module', ok: false, detail: (error as Error).message.split('\n')[0], fix: 'npm install (needs python3, make, g++)' };
  }
}

function checkStrace(): Finding {
  const run = spawnSync('strace', ['-f', '-e', 'trace=none', 'true'], { encoding: 'utf8' });
  if (run.error) return { name: 'strace', ok: false, detail: 'not installed', fix: 'apt-get install -y strace' };
  if (run.status !== 0) {
    return {
      name: 'strace',
      ok: false,
      detail: run.stderr.trim().split('\n')[0],
      fix: 'allow ptrace: run the devcontainer with --cap-add SYS_PTRACE --security-opt seccomp=unconfined',
    };
  }
  return { name: 'strace', ok: true, detail: 'can trace a child process' };
}

function checkTool(name: string, command: string[], fix: string, optional = false): Finding {
  const run = spawnSync(command[0], command.slice(1), { encoding: 'utf8' });
  const ok = !run.error && run.status === 0;
  return { name, ok, detail: ok ? `${command[0]} works` : `${command[0]} is missing`, fix, optional };
}

async function checkEngineAndImage(): Promise<Finding[]> {
  const docker = new Docker();
  const engine = await probeEngine(docker);
  if (!engine.ok) {
    return [
      { name: 'Docker engine', ok: false, detail: `${engine.detail}; labs fall back to the process runtime`, fix: ENGINE_FIX, optional: true },
    ];
  }
  const findings: Finding[] = [{ name: 'Docker engine', ok: true, detail: engine.detail }];
  try {
    const image = await docker.getImage(LAB_IMAGE_LATEST).inspect();
    findings.push({ name: 'lab image', ok: true, detail: `${LAB_IMAGE_LATEST}, ${(image.Size / 1e6).toFixed(0)} MB (rebuilt automatically when the project changes)` });
  } catch {
    findings.push({ name: 'lab image', ok: false, detail: 'not built yet', fix: 'npm run images (offline, about 3 s)', optional: true });
  }
  return findings;
}

export async function runDoctor(): Promise<number> {
  const findings: Finding[] = [
    {
      name: 'kernel',
      ok: kernelAtLeast(5, 6),
      detail: `Linux ${os.release()}${kernelAtLeast(5, 6) ? '' : ': pidfd_getfd needs 5.6; the rest works'}`,
      fix: 'use a newer kernel (Docker Desktop and WSL2 kernels are new enough)',
      optional: true,
    },
    checkNative(),
    checkStrace(),
    checkTool('busybox-static', ['/bin/busybox', 'true'], 'apt-get install -y busybox-static (the lab image is built from it)', true),
    checkTool('ss (iproute2)', ['ss', '-V'], 'apt-get install -y iproute2', true),
    checkTool('python3', ['python3', '--version'], 'apt-get install -y python3 (interop tests)', true),
    ...(await checkEngineAndImage()),
    {
      name: 'shared volume path',
      ok: true,
      detail: fs.existsSync('/run/fdlab') ? '/run/fdlab exists here too' : 'roles use /run/fdlab in containers, a temp dir in the process runtime',
    },
  ];
  for (const f of findings) {
    const mark = f.ok ? chalk.green('✔') : f.optional ? chalk.yellow('!') : chalk.red('✖');
    console.log(`${mark} ${chalk.bold(f.name.padEnd(18))} ${f.detail}`);
    if (!f.ok && f.fix) console.log(`  ${' '.repeat(18)} ${chalk.cyan('fix:')} ${f.fix}`);
  }
  const blocking = findings.filter((f) => !f.ok && !f.optional);
  const warnings = findings.filter((f) => !f.ok && f.optional);
  console.log(
    blocking.length
      ? chalk.red(`\n${blocking.length} problem(s) stop the labs: fix them first.`)
      : warnings.length
        ? chalk.yellow(`\nThe labs will run, with ${warnings.length} limitation(s) above.`)
        : chalk.green('\nAll green: npm run lab:1'),
  );
  return blocking.length ? 1 : 0;
}
