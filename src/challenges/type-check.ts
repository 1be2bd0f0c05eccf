// The full TypeScript program for a learner's file, as every check had it
// before (strict, @types/node, `fdlab` from this project): tsc-style errors.
// It runs in a worker beside the check's roles (type-check-worker.ts) and is
// handed the very text that was transpiled, so the verdict is about what ran.
import * as path from 'node:path';
import type * as TypeScript from 'typescript';
import { projectPath } from '../project';

export interface TypeCheckRequest {
  source: string;
  text: string;
  outDir: string;
  /** Emit too (a file that imports a sibling: one transpiled file is not enough). */
  emit: boolean;
}

/** The options every learner's file is checked (and emitted) with. */
export function learnerOptions(ts: typeof TypeScript, source: string, outDir: string): TypeScript.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    lib: ['lib.es2022.d.ts'],
    strict: true,
    esModuleInterop: true,
    // What runs is transpiled one file at a time: a construct that needs the
    // other files' types to emit (a re-exported type, an ambient const enum) is an error.
    isolatedModules: true,
    skipLibCheck: true,
    sourceMap: true,
    outDir,
    rootDir: path.dirname(source),
    // The learner's folder may be anywhere: types and `fdlab` come from this project.
    typeRoots: [projectPath('node_modules', '@types')],
    types: ['node'],
    paths: { fdlab: [projectPath('packages', 'fdlab', 'dist', 'index.d.ts')] },
  };
}

export function formatErrors(ts: typeof TypeScript, diagnostics: readonly TypeScript.Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length === 0) return '';
  return ts
    .formatDiagnostics(errors, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => process.cwd(),
      getNewLine: () => '\n',
    })
    .trimEnd();
}

/** The errors tsc would print for `text` as `source` ('' when there are none). */
export function typeCheck(ts: typeof TypeScript, request: TypeCheckRequest): string {
  const options = learnerOptions(ts, request.source, request.outDir);
  if (!request.emit) options.noEmit = true;
  const host = ts.createCompilerHost(options);
  const target = path.resolve(request.source);
  const { getSourceFile, readFile } = host;
  // The text that was hashed and transpiled, not whatever the file holds by now.
  host.getSourceFile = (file, language, ...rest) =>
    path.resolve(file) === target ? ts.createSourceFile(file, request.text, language) : getSourceFile.call(host, file, language, ...rest);
  host.readFile = (file) => (path.resolve(file) === target ? request.text : readFile.call(host, file));
  const program = ts.createProgram([request.source], options, host);
  const emitted = request.emit ? program.emit().diagnostics : [];
  return formatErrors(ts, ts.getPreEmitDiagnostics(program).concat(emitted));
}
