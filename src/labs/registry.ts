// The labs, as the CLI finds them. lab/ is built on src/ (the engine, the
// runtimes), so src/ does not import lab/: the registry, lab/index.ts, is
// loaded here at run time from its compiled path and checked against
// LabRegistry, the one place src/ says what it expects of lab/.
import { LabError } from '../lab-error';
import { compiledPath } from '../project';
import type { LabDefinition, LabRegistry } from './types';

/** lab/index.ts, compiled. */
export function labRegistryPath(): string {
  return compiledPath('lab/index.ts');
}

/** Every lab, by number, from lab/index.ts. */
export function loadLabs(): ReadonlyMap<number, LabDefinition> {
  const file = labRegistryPath();
  let registry: Partial<LabRegistry>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    registry = require(file) as Partial<LabRegistry>;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && (error as Error).message.includes(file);
    if (!missing) throw error;
    throw new LabError('ERR_LABS_NOT_BUILT', `the labs are not compiled (${file} is missing). Run 'npm run build'.`, { cause: error });
  }
  if (!(registry.LABS instanceof Map)) throw new LabError('ERR_LABS_NOT_BUILT', `${file} exports no LABS map of lab definitions`);
  return registry.LABS;
}
