// The learner's TypeScript file, compiled on every check: type errors are
// reported like tsc's, and nothing stale from dist/ is ever run. The output
// goes to <workspace>/.build/, and is reused only while the source (and the
// compiler) are byte-for-byte the same.
//
// Why in two parts: the full program (@types/node, strict) took 2.5 s on a
// quiet machine and 5-7 s under load, before a check's roles could start. The
// JS is the same file by file (measured: byte-identical JS and maps for every
// starting file and solution), so it is transpiled at once (~60 ms) and the
// type-check runs in a worker beside the roles; the verdict waits for it
// (run.ts), and a syntax error stops the check before anything runs (~0.3 s).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LabError } from '../lab-error';
import { formatErrors, learnerOptions, type TypeCheckRequest } from './type-check';

type TypeScript = typeof import('typescript');

/** The compiler's version, without loading the compiler (~200 ms): the worker loads its own meanwhile. */
function typeScriptVersion(): string {
  try {
    return (require('typescript/package.json') as { version: string }).version;
  } catch (error) {
    throw new LabError('ERR_CHALLENGE_NO_TYPESCRIPT', 'challenges compile your file with the TypeScript compiler, which is not installed here: run `npm install` in the fdlab folder (typescript is a dev dependency)', { cause: error });
  }
}

export interface Compilation {
  /** The .js to run: written already, type-checked or not yet. */
  script: string;
  /** Resolves once the type-check passed (and the build is stamped); rejects with ERR_CHALLENGE_COMPILE. */
  typeChecked: Promise<void>;
  /** Ends the type-check if it still runs (the check ended some other way). */
  stop(): void;
}

function compileError(source: string, errors: string): LabError {
  return new LabError('ERR_CHALLENGE_COMPILE', `${path.relative(process.cwd(), source) || source} does not compile; fix it and check again:\n${errors}`);
}

/** The full type-check of `request`, in a worker thread: resolves with tsc-style errors ('' for none). */
function typeCheckInWorker(request: TypeCheckRequest): { errors: Promise<string>; stop(): void } {
  const worker = new Worker(path.join(__dirname, 'type-check-worker.js'), { workerData: request });
  const errors = new Promise<string>((resolve, reject) => {
    worker.once('message', (message: { errors: string }) => resolve(message.errors));
    worker.once('error', (error) => reject(new LabError('ERR_CHALLENGE_COMPILE', `the type-check of ${request.source} failed: ${error.message}`, { cause: error })));
    worker.once('exit', (code) => reject(new LabError('ERR_CHALLENGE_COMPILE', `the type-check of ${request.source} stopped (exit code ${code}) before it gave a verdict`)));
  });
  return { errors, stop: () => void worker.terminate() };
}

/**
 * Writes `source`'s JS into `outDir` now and type-checks it alongside.
 * Throws ERR_CHALLENGE_COMPILE at once for a syntax error (nothing to run).
 */
export async function compileLearnerFile(source: string, outDir: string): Promise<Compilation> {
  const version = typeScriptVersion();
  const text = fs.readFileSync(source, 'utf8');
  const output = path.join(outDir, path.basename(source).replace(/\.ts$/, '.js'));
  const stamp = path.join(outDir, '.source-hash');
  const hash = createHash('sha256').update(version).update('\0').update(source).update('\0').update(text).digest('hex');
  if (fs.existsSync(output) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) {
    return { script: output, typeChecked: Promise.resolve(), stop: () => undefined };
  }
  fs.rmSync(stamp, { force: true });

  // The type-check first: it is the longer road (2-4 s), and the JS is ready long before it.
  let check = typeCheckInWorker({ source, text, outDir, emit: false });
  const ts = require('typescript') as TypeScript;
  const verdict = async () => {
    const errors = await check.errors;
    if (errors) throw compileError(source, errors);
    fs.writeFileSync(stamp, hash);
  };
  // A file importing a sibling ('./x') needs the whole program's emit: the old, sequential way.
  if (ts.preProcessFile(text).importedFiles.some((i) => i.fileName.startsWith('.'))) {
    check.stop();
    check.errors.catch(() => undefined);
    check = typeCheckInWorker({ source, text, outDir, emit: true });
    await verdict();
    return { script: output, typeChecked: Promise.resolve(), stop: () => undefined };
  }

  const options = learnerOptions(ts, source, outDir);
  const transpiled = ts.transpileModule(text, { fileName: source, compilerOptions: options, reportDiagnostics: true });
  // A syntax error: nothing runs, and tsc too prints only the syntax errors when there are any.
  const syntaxErrors = formatErrors(ts, (transpiled.diagnostics ?? []).filter((d) => d.file));
  if (syntaxErrors) {
    check.stop();
    check.errors.catch(() => undefined);
    throw compileError(source, syntaxErrors);
  }
  const map = JSON.parse(transpiled.sourceMapText!) as { sources: string[] };
  map.sources = [path.relative(outDir, path.resolve(source))]; // as the program's emit writes it
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(`${output}.map`, JSON.stringify(map));
  fs.writeFileSync(output, transpiled.outputText);
  const typeChecked = verdict();
  typeChecked.catch(() => undefined); // awaited by run.ts; never an unhandled rejection if the check ends first
  return { script: output, typeChecked, stop: check.stop };
}

