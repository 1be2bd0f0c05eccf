// Each lab's page, lab/lab<n>/README.md, for the docs tests (a module of its
// own: importing it from a .test file would run that file's tests twice).
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** lab/lab<n>/README.md of every lab folder (a folder without one fails links.test.ts). */
export function labPages(): string[] {
  return fs
    .readdirSync(path.join(ROOT, 'lab'))
    .filter((f) => /^lab\d+$/.test(f))
    .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
    .map((f) => `lab/${f}/README.md`);
}
