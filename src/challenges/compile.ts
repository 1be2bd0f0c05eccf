// The learner's TypeScript file, compiled on every check with the TypeScript
// compiler API: type errors are reported like tsc's, and nothing stale from
// dist/ is ever run. The output goes to <workspace>/.build/, and is reused
// only while the source (and the compiler) are byte-for-byte the same.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from '../lab-error';
import { projectPath } from '../project';

type TypeScript = typeof import('typescript');

function loadTypeScript(): TypeScript {
  try {
    return require('typescript') as TypeScript;
  } catch (error) {
    throw new LabError('ERR_CHALLENGE_NO_TYPESCRIPT', 'challenges compile your file with the TypeScript compiler, which is not installed here: run `npm install` in the fdlab folder (typescript is a dev dependency)', { cause: error });
  }
}

/** Compiles `source` (a .ts file) into `outDir`; returns the .js path. Throws ERR_CHALLENGE_COMPILE with tsc-style messages. */
export function compileLearnerFile(source: string, outDir: string): string {
  const ts = loadTypeScript();
  const text = fs.readFileSync(source, 'utf8');
  const output = path.join(outDir, path.basename(source).replace(/\.ts$/, '.js'));
  const stamp = path.join(outDir, '.source-hash');
  const hash = createHash('sha256').update(ts.version).update('\0').update(source).update('\0').update(text).digest('hex');
  if (fs.existsSync(output) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) return output;

  const options: import('typescript').CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    lib: ['lib.es2022.d.ts'],
    strict: true,
    esModuleInterop: true,
    skipLibCheck: true,
    sourceMap: true,
    outDir,
    rootDir: path.dirname(source),
    // The learner's folder may be anywhere: types and `fdlab` come from this project.
    typeRoots: [projectPath('node_modules', '@types')],
    types: ['node'],
    paths: { fdlab: [projectPath('packages', 'fdlab', 'dist', 'index.d.ts')] },
  };
  fs.rmSync(stamp, { force: true });
  const program = ts.createProgram([source], options);
  const emitted = program.emit();
  const diagnostics = ts.getPreEmitDiagnostics(program).concat(emitted.diagnostics);
  const errors = diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const text = ts.formatDiagnostics(errors, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => process.cwd(),
      getNewLine: () => '\n',
    });
    throw new LabError('ERR_CHALLENGE_COMPILE', `${path.relative(process.cwd(), source) || source} does not compile; fix it and check again:\n${text.trimEnd()}`);
  }
  fs.writeFileSync(stamp, hash);
  return output;
}
