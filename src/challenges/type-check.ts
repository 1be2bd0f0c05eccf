// A learner's file in two steps, both in a worker (type-check-worker.ts):
// transpiled alone (~60 ms: the JS to run), then the full TypeScript program
// as every check had it before (strict, @types/node, `fdlab` from this
// project) for tsc-style errors, on the very text that was transpiled.
import * as path from 'node:path';
import type * as TypeScript from 'typescript';
import { projectPath } from '../project';

export interface TypeCheckRequest {
  source: string;
  text: string;
  outDir: string;
}

export interface Transpiled {
  js: string;
  map: string;
  /** tsc-style syntax errors ('' for none): nothing to run. */
  syntaxErrors: string;
  /** It imports a sibling ('./x'): one transpiled file is not enough, the program emits them all. */
  siblings: boolean;
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

/** The JS for `text` alone (byte-identical to the program's emit for every challenge file: measured). */
export function transpile(ts: typeof TypeScript, request: TypeCheckRequest): Transpiled {
  const siblings = ts.preProcessFile(request.text).importedFiles.some((i) => i.fileName.startsWith('.'));
  const options = learnerOptions(ts, request.source, request.outDir);
  const out = ts.transpileModule(request.text, { fileName: request.source, compilerOptions: options, reportDiagnostics: true });
  const map = JSON.parse(out.sourceMapText!) as { sources: string[] };
  map.sources = [path.relative(request.outDir, path.resolve(request.source))]; // as the program's emit writes it
  // tsc too prints only the syntax errors when there are any.
  const syntaxErrors = formatErrors(ts, (out.diagnostics ?? []).filter((d) => d.file));
  return { js: out.outputText, map: JSON.stringify(map), syntaxErrors, siblings };
}

/** The errors tsc would print for `text` as `source` ('' when there are none); `emit` writes the program's JS too. */
export function typeCheck(ts: typeof TypeScript, request: TypeCheckRequest, emit: boolean): string {
  const options = learnerOptions(ts, request.source, request.outDir);
  if (!emit) options.noEmit = true;
  const host = ts.createCompilerHost(options);
  const target = path.resolve(request.source);
  const { getSourceFile, readFile } = host;
  // The text that was hashed and transpiled, not whatever the file holds by now.
  host.getSourceFile = (file, language, ...rest) =>
    path.resolve(file) === target ? ts.createSourceFile(file, request.text, language) : getSourceFile.call(host, file, language, ...rest);
  host.readFile = (file) => (path.resolve(file) === target ? request.text : readFile.call(host, file));
  const program = ts.createProgram([request.source], options, host);
  const emitted = emit ? program.emit().diagnostics : [];
  return formatErrors(ts, ts.getPreEmitDiagnostics(program).concat(emitted));
}
