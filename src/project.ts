// The one module that knows where the project is: the folder whose
// package.json is named "fdlab-lab" (this checkout on the host, /opt/fdlab in
// the lab image), found by walking up from this compiled file. Everything else
// asks here instead of counting '..' from its own __dirname; role scripts are
// named from their own folder (roleScripts) and mapped into the image here too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from './lab-error';

/** The package.json name that marks the project root. */
export const PROJECT_PACKAGE_NAME = 'fdlab-lab';

/** Where the lab image holds the project (same layout: dist/, node_modules/, package.json). */
export const PROJECT_DIR_IN_IMAGE = '/opt/fdlab';

function isProjectRoot(dir: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === PROJECT_PACKAGE_NAME;
  } catch {
    return false;
  }
}

/** The nearest folder at or above `from` whose package.json is named "fdlab-lab". */
export function findProjectRoot(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (isProjectRoot(dir)) return dir;
    if (path.dirname(dir) === dir) {
      throw new LabError('ERR_PROJECT_ROOT_NOT_FOUND', `no package.json named "${PROJECT_PACKAGE_NAME}" in ${from} or any folder above it: is fdlab's dist/ inside its project?`);
    }
  }
}

let root: string | undefined;

/** The project root (where package.json, dist/ and packages/ are). */
export function projectRoot(): string {
  return (root ??= findProjectRoot());
}

/** A path in the project: projectPath('packages', 'fdlab'). */
export function projectPath(...parts: string[]): string {
  return path.join(projectRoot(), ...parts);
}

/**
 * Where tsc puts a source file or folder of the project, relative to the root:
 * compiledPath('src/cli/main.ts') -> <root>/dist/src/cli/main.js;
 * compiledPath('lab/lab1') -> <root>/dist/lab/lab1.
 */
export function compiledPath(source: string): string {
  const relative = source.split('/').join(path.sep).replace(/\.ts$/, '.js');
  return path.join(projectRoot(), 'dist', relative);
}

/** The lab tool's compiled entry point (`node <cliPath()> lab 1`). */
export function cliPath(): string {
  return compiledPath('src/cli/main.js');
}

/**
 * The role scripts beside a module, named without folder or extension:
 *   const role = roleScripts(__dirname, ['sender', 'receiver']);
 *   lab.startRole({ name: 'sender', script: role('sender') });
 * role('sender') is <dir>/sender.js, the compiled file next to the caller, so a
 * compiled copy of a lab (test/exercises) runs its own roles. Only the listed
 * names type-check.
 */
export function roleScripts<const Name extends string>(dir: string, names: readonly Name[]): (name: Name) => string {
  return (name) => {
    if (!names.includes(name)) throw new LabError('ERR_NO_SUCH_ROLE_SCRIPT', `${name} is not one of the role scripts in ${dir}: ${names.join(', ')}`);
    return path.join(dir, `${name}.js`);
  };
}

/** A role script as given (absolute, or relative to the project root), as an absolute path on this machine. */
export function resolveScript(script: string): string {
  return path.resolve(projectRoot(), script);
}

/**
 * A file of the project as a container of the lab image sees it:
 * <root>/dist/lab/lab1/sender.js -> /opt/fdlab/dist/lab/lab1/sender.js.
 * Throws for a path outside the project (a temp copy, a learner's file): the image holds only the project.
 */
export function pathInImage(hostPath: string): string {
  const relative = path.relative(projectRoot(), resolveScript(hostPath));
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new LabError(
      'ERR_SCRIPT_NOT_IN_IMAGE',
      `${hostPath} is outside the project (${projectRoot()}), so the lab image (the project at ${PROJECT_DIR_IN_IMAGE}) does not hold it: run it with the process runtime`,
    );
  }
  return path.posix.join(PROJECT_DIR_IN_IMAGE, ...relative.split(path.sep));
}
