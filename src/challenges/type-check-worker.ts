// Worker entry: a learner's file off the main thread (type-check.ts): first
// the JS, posted at once so the check's roles start, then the type-check
// (measured: 1.5-2.5 s of CPU), posted when done. TypeScript is loaded here only.
import { parentPort, workerData } from 'node:worker_threads';
import { transpile, typeCheck, type TypeCheckRequest } from './type-check';

const ts = require('typescript') as typeof import('typescript');
const request = workerData as TypeCheckRequest;
const transpiled = transpile(ts, request);
parentPort!.postMessage({ kind: 'js', ...transpiled });
if (!transpiled.syntaxErrors) parentPort!.postMessage({ kind: 'checked', errors: typeCheck(ts, request, transpiled.siblings) });
