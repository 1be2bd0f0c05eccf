// `fdlab lab <n>`: run one lab and turn its verdict into an exit code.
import * as path from 'node:path';
import { LabError } from '../lab-error';
import { loadLabs } from '../labs/registry';
import { runLab } from '../labs/runner';

export interface LabCommandOptions {
  runtime: 'auto' | 'docker' | 'process';
  keep: boolean;
  strace: boolean;
  quiet: boolean;
  fault?: string;
  reads?: string;
  inspect: boolean;
  set?: Record<string, string>;
  pause: boolean;
  captures?: string;
}

export async function runLabCommand(n: number, options: LabCommandOptions): Promise<number> {
  const LABS = loadLabs();
  const lab = LABS.get(n);
  if (!lab) {
    throw new LabError('ERR_NO_SUCH_LAB', `there is no lab ${n}; available: ${[...LABS.keys()].join(', ')} (see labs.md: a page per lab)`);
  }
  const outcome = await runLab(lab, {
    runtime: options.runtime,
    keep: options.keep,
    strace: options.strace,
    echo: !options.quiet,
    inspect: options.inspect,
    settings: { ...options.set, ...(options.reads ? { reads: options.reads } : {}) },
    fault: options.fault,
    pause: options.pause,
    captures: options.captures && path.resolve(options.captures),
  });
  // --pause read Enter from stdin: a pipe that is still open would keep us running after the lab.
  if (options.pause) process.stdin.destroy();
  return outcome.ok ? 0 : 1;
}
