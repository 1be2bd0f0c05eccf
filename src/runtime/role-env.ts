// The environment every role gets, whichever runtime starts it.
import * as path from 'node:path';
import type { RoleSpec } from './types';

/** The compiled role runner, beside this module (absolute, on this machine; pathInImage() maps it into the image). */
export const ROLE_RUNNER = path.join(__dirname, 'role-runner.js');

export function captureFileName(role: string): string {
  return `${role}.strace`;
}

export function roleEnvironment(spec: RoleSpec, lab: string, sharedDir: string, runtime: string): Record<string, string> {
  const env: Record<string, string> = {
    FDLAB_LAB: lab,
    FDLAB_ROLE: spec.name,
    FDLAB_SHARED: sharedDir,
    FDLAB_RUNTIME: runtime,
    ...spec.env,
  };
  if (spec.strace) {
    env.FDLAB_STRACE = spec.strace.syscalls.join(',');
    env.FDLAB_STRACE_OUT = path.posix.join(sharedDir, 'captures', captureFileName(spec.name));
  }
  if (spec.inspectPort) env.FDLAB_INSPECT_PORT = String(spec.inspectPort);
  return env;
}

/** A path in the lab's shared directory, as the running role sees it. */
export function sharedPath(name: string): string {
  return path.join(process.env.FDLAB_SHARED ?? '/run/fdlab', name);
}
