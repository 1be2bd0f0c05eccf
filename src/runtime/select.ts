// --runtime auto|docker|process: auto uses Docker when an engine answers and
// the lab image can be had, else the process runtime, and says why.
import Docker from 'dockerode';
import { LabError } from '../lab-error';
import { ENGINE_FIX, probeEngine } from './docker/engine';
import { DockerRuntime } from './docker/docker-runtime';
import { ensureLabImage } from './image/image-builder';
import { ProcessRuntime } from './process/process-runtime';
import type { LabRuntime } from './types';

export type RuntimeChoice = 'auto' | 'docker' | 'process';

export interface SelectOptions {
  lab: string;
  runtime?: RuntimeChoice;
  echoLogs?: boolean;
  /** Docker: inspector ports the pod must publish on 127.0.0.1 (see DockerRuntimeOptions). */
  inspectPorts?: number[];
  onProgress?: (message: string) => void;
  /** The lab runs only as processes in a private network namespace, for this reason (lab 7). */
  processOnly?: string;
  /** --pause: the process runtime makes a freezer (a cgroup) for its roles. */
  pausable?: boolean;
}

export async function selectRuntime(options: SelectOptions): Promise<LabRuntime> {
  const choice = options.runtime ?? 'auto';
  if (!['auto', 'docker', 'process'].includes(choice)) {
    throw new LabError('ERR_INVALID_ARG_VALUE', `--runtime must be auto, docker or process; got '${choice}'`);
  }
  // --inspect: a debugger on this machine must reach the roles' inspectors, so they share its network.
  const network = options.inspectPorts?.length ? 'host' : undefined;
  if (options.processOnly) {
    if (choice === 'docker') throw new LabError('ERR_LAB_RUNTIME', `--runtime docker: ${options.lab} runs in the process runtime only: ${options.processOnly}`);
    return new ProcessRuntime({ lab: options.lab, reason: `${options.lab} runs as processes: ${options.processOnly}`, echoLogs: options.echoLogs, network: 'private', pausable: options.pausable });
  }
  if (choice === 'process') return new ProcessRuntime({ lab: options.lab, reason: 'asked for with --runtime process', echoLogs: options.echoLogs, network, pausable: options.pausable });

  const docker = new Docker();
  const engine = await probeEngine(docker);
  if (!engine.ok) {
    if (choice === 'docker') throw new LabError('ERR_DOCKER_UNAVAILABLE', `--runtime docker: ${engine.detail}; ${ENGINE_FIX}`);
    return new ProcessRuntime({ lab: options.lab, reason: `${engine.detail}; falling back to processes on this machine`, echoLogs: options.echoLogs, network, pausable: options.pausable });
  }
  try {
    const image = await ensureLabImage(docker, { onProgress: options.onProgress });
    const how = image.built ? `built ${image.tag} in ${image.seconds.toFixed(1)} s` : `image ${image.tag} up to date`;
    return new DockerRuntime({
      lab: options.lab,
      image: image.tag,
      docker,
      reason: `${engine.detail}; ${how}`,
      echoLogs: options.echoLogs,
      inspectPorts: options.inspectPorts,
    });
  } catch (error) {
    if (choice === 'docker') throw error;
    return new ProcessRuntime({
      lab: options.lab,
      reason: `${engine.detail}, but the lab image could not be built (${(error as Error).message}); falling back to processes`,
      echoLogs: options.echoLogs,
      network,
      pausable: options.pausable,
    });
  }
}
