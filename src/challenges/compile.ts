// The learner's TypeScript file, compiled on every check: type errors are
// reported like tsc's, and nothing stale from dist/ is ever run. The output
// goes to <workspace>/.build/, and is reused only while the source (and the
// compiler) are byte-for-byte the same.
//
// Why in two parts: the full program (@types/node, strict) took 2.5 s on a
// quiet machine and 5-7 s under load, before a check's roles could start. The
// JS is the same file by file (measured: byte-identical JS and maps for every
// starting file and solution), so a worker transpiles it at once (~60 ms, after
// loading TypeScript) and then type-checks it while the roles run; the verdict
// waits for it (run.ts), and a syntax error stops the check before anything runs.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LabError } from '../lab-error';
import type { Transpiled, TypeCheckRequest } from './type-check';

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

/** `request` in a worker thread: its JS first, then its type-check (tsc-style errors, '' for none). */
function compileInWorker(request: TypeCheckRequest): { js: Promise<Transpiled>; errors: Promise<string>; stop(): void } {
  const worker = new Worker(path.join(__dirname, 'type-check-worker.js'), { workerData: request });
  let onJs!: (t: Transpiled) => void;
  let onErrors!: (errors: string) => void;
  const fails: ((error: Error) => void)[] = []; // a settled promise ignores a later rejection
  const js = new Promise<Transpiled>((resolve, reject) => ((onJs = resolve), fails.push(reject)));
  const errors = new Promise<string>((resolve, reject) => ((onErrors = resolve), fails.push(reject)));
  errors.catch(() => undefined); // not awaited when the check ends some other way
  worker.on('message', (message: ({ kind: 'js' } & Transpiled) | { kind: 'checked'; errors: string }) => {
    if (message.kind === 'js') onJs(message);
    else onErrors(message.errors);
  });
  const fail = (error: Error) => fails.forEach((reject) => reject(error));
  worker.once('error', (error) => fail(new LabError('ERR_CHALLENGE_COMPILE', `the type-check of ${request.source} failed: ${error.message}`, { cause: error })));
  worker.once('exit', (code) => fail(new LabError('ERR_CHALLENGE_COMPILE', `the type-check of ${request.source} stopped (exit code ${code}) before it gave a verdict`)));
  return { js, errors, stop: () => void worker.terminate() };
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

  const worker = compileInWorker({ source, text, outDir });
  const verdict = async () => {
    const errors = await worker.errors;
    if (errors) throw compileError(source, errors);
    fs.writeFileSync(stamp, hash);
  };
  const transpiled = await worker.js;
  if (transpiled.syntaxErrors) {
    worker.stop();
    throw compileError(source, transpiled.syntaxErrors);
  }
  if (transpiled.siblings) {
    await verdict(); // the worker emits the whole program: the old, sequential way
    return { script: output, typeChecked: Promise.resolve(), stop: () => undefined };
  }
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(`${output}.map`, transpiled.map);
  fs.writeFileSync(output, transpiled.js);
  const typeChecked = verdict();
  typeChecked.catch(() => undefined); // awaited by run.ts; never an unhandled rejection if the check ends first
  return { script: output, typeChecked, stop: worker.stop };
}
