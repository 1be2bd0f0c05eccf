// Nothing a lab starts may outlive it: runtimes register here and are
// cleaned up on normal exit paths and on Ctrl-C / SIGTERM.
import type { LabRuntime } from './types';

const active = new Set<LabRuntime>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up ${active.size} lab runtime(s)...\n`);
      void Promise.allSettled([...active].map((runtime) => runtime.cleanup())).then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
}

/**
 * Runs `body` with a started runtime and removes everything afterwards,
 * whether body succeeded, threw, or the user pressed Ctrl-C. With `keep`, a
 * successful or failed run leaves the pod up and prints how to clean it.
 */
export async function withRuntime<T>(runtime: LabRuntime, body: (runtime: LabRuntime) => Promise<T>, options: { keep?: boolean } = {}): Promise<T> {
  install();
  active.add(runtime);
  try {
    await runtime.start();
    return await body(runtime);
  } finally {
    active.delete(runtime);
    if (!options.keep) await runtime.cleanup();
    else await runtime.release?.();
  }
}
