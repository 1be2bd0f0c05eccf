// An exercise's code edit, made the way the lab's page tells a learner to make it,
// but on a copy: the shipped files are never touched. Each edit names the
// exact text the page quotes, which must occur exactly once, so an exercise
// that no longer matches the code fails here instead of silently testing
// nothing. The copy is compiled with TypeScript, next to copies of the lab's
// other files; imports that leave the lab's folder point at dist/, and
// 'fdlab' at the library package.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import type { LabDefinition } from '../../src/labs/types';
import { compiledPath, projectPath, resolveScript } from '../../src/project';
import { tempDir } from '../helpers/fds';

/** [text to find, text to put instead] */
export type Edit = [string, string];

export function applyEdits(source: string, edits: readonly Edit[], file: string): string {
  let text = source;
  for (const [find, replace] of edits) {
    const count = text.split(find).length - 1;
    if (count !== 1) throw new Error(`${file}: the exercise's text occurs ${count} times, not once: ${find}`);
    text = text.replace(find, () => replace);
  }
  return text;
}

/** Import paths that leave `dir` (a folder under the project) made absolute, under dist/; 'fdlab' is the library package. */
function importsToDist(source: string, dir: string): string {
  return source
    .replace(/(from |import\(|require\()'(\.\.\/[^']+)'/g, (_, lead: string, spec: string) => `${lead}'${path.resolve(compiledPath(dir), spec)}'`)
    .replace(/(from |import\(|require\()'fdlab'/g, (_, lead: string) => `${lead}'${projectPath('packages', 'fdlab')}'`);
}

/**
 * Compiles every .ts file of `dir` (e.g. 'lab/lab1') into a temp folder, with
 * `edits` applied to the named files; returns that folder.
 */
export function patchedCopy(dir: string, edits: Record<string, readonly Edit[]>): string {
  const out = tempDir('fdlab-exercise-');
  const sources = fs.readdirSync(projectPath(dir)).filter((f) => f.endsWith('.ts'));
  for (const name of Object.keys(edits)) if (!sources.includes(name)) throw new Error(`${dir} has no ${name}`);
  for (const name of sources) {
    const original = fs.readFileSync(projectPath(dir, name), 'utf8');
    const edited = importsToDist(applyEdits(original, edits[name] ?? [], `${dir}/${name}`), dir);
    const { outputText, diagnostics } = ts.transpileModule(edited, {
      fileName: name,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    if (diagnostics?.length) throw new Error(`${dir}/${name} after the edit does not compile: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, '\n')}`);
    fs.writeFileSync(path.join(out, name.replace(/\.ts$/, '.js')), outputText);
  }
  return out;
}

/**
 * The lab as it runs its roles, but each role script of `dir` (compiled: dist/<dir>/<name>.js)
 * taken from the compiled copy in `copy`. A lab defined by the copy's own lab.js names its roles
 * from the copy already (roleScripts(__dirname, ...)); this covers a definition loaded from dist/.
 */
export function withRolesFrom(lab: LabDefinition, dir: string, copy: string): LabDefinition {
  const compiled = compiledPath(dir) + path.sep;
  const fromCopy = (script: string) => {
    const file = resolveScript(script);
    return file.startsWith(compiled) ? path.join(copy, file.slice(compiled.length)) : script;
  };
  return {
    ...lab,
    run: (ctx) => lab.run({ ...ctx, startRole: (spec) => ctx.startRole({ ...spec, script: fromCopy(spec.script) }) }),
  };
}

/** A patched copy of lab <n>: its definition (from the copy's lab.js) running its roles from the copy too. */
export function patchedLab(n: number, edits: Record<string, readonly Edit[]>): LabDefinition {
  const dir = `lab/lab${n}`;
  const copy = patchedCopy(dir, edits);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const module = require(path.join(copy, 'lab.js')) as Record<string, LabDefinition>;
  return withRolesFrom(module[`lab${n}`], dir, copy);
}
