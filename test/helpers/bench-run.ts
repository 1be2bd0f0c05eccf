// Running a benchmark of bench/ as a real process in a test, and checking
// what it leaves behind: a well formed chart, no process of its own.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collect, type Finished } from './process';

/** Runs dist/bench/<name>.js with `args`. */
export function runBench(name: string, args: string[]): Promise<Finished> {
  const script = path.resolve(__dirname, '..', '..', 'bench', `${name}.js`);
  return collect(spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Well formed enough: one <svg> root, every tag closed in order, no NaN. */
export function assertBalancedSvg(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const open: string[] = [];
  for (const [, closing, name, selfClosing] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (!closing) open.push(name);
    else assert.equal(open.pop(), name, `</${name}> closes <${open[open.length] ?? '?'}>`);
  }
  assert.deepEqual(open, [], 'unclosed tags');
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
}

/** Exited (a zombie counts as gone: its parent has not reaped it yet). */
export function gone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
