// fdlab's error codes are one declared set: every ERR_* code the library's
// TypeScript or C++ raises is a key of ERRORS, every key is raised somewhere
// (no dead entries), FdlabError accepts nothing else, and the README's table
// is rendered from ERRORS (a failure prints the table to paste).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERRORS, FdlabError, isErrorWithCode, type FdlabErrorCode } from 'fdlab';
import { embeddedErrorTable, ERRORS_END, ERRORS_START, renderErrorTable } from '../helpers/error-table';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LIBRARY = path.join(ROOT, 'packages', 'fdlab');
const README = path.join(LIBRARY, 'README.md');

/** Source files under dir with one of the extensions, skipping the table itself. */
function sources(dir: string, extensions: string[]): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile() && extensions.some((ext) => entry.name.endsWith(ext)))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => file !== path.join(LIBRARY, 'src', 'errors.ts'));
}

const FILES = [...sources(path.join(LIBRARY, 'src'), ['.ts']), ...sources(path.join(LIBRARY, 'native'), ['.cc', '.h'])];

/** Every quoted literal matching `pattern` (a string literal of TS or C++), with the files it is in. */
function literals(pattern: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const regex = new RegExp(`(['"\`])(${pattern})\\1`, 'g');
  for (const file of FILES) {
    for (const match of fs.readFileSync(file, 'utf8').matchAll(regex)) {
      const where = found.get(match[2]) ?? [];
      where.push(path.relative(ROOT, file));
      found.set(match[2], where);
    }
  }
  return found;
}

describe('library: error codes', function () {
  it('every ERR_* literal in packages/fdlab/src and packages/fdlab/native is a key of ERRORS', function () {
    const used = literals('ERR_[A-Z0-9_]+');
    assert.ok(used.size >= 30, `found only ${used.size} ERR_* codes: is the scan looking in the right place (${LIBRARY})?`);
    const undeclared = [...used].filter(([code]) => !(code in ERRORS)).map(([code, files]) => `${code} (${[...new Set(files)].join(', ')})`);
    assert.deepEqual(undeclared, [], 'add these codes to ERRORS in packages/fdlab/src/errors.ts');
  });

  it('every key of ERRORS is raised somewhere (no dead entries)', function () {
    const keys = Object.keys(ERRORS);
    const used = literals(keys.join('|'));
    const dead = keys.filter((code) => !used.has(code));
    assert.deepEqual(dead, [], 'nothing in packages/fdlab/src or native uses these codes: remove them from ERRORS');
  });

  it('every entry says what the code means and what to do, on one line', function () {
    for (const [code, info] of Object.entries(ERRORS)) {
      assert.match(code, /^(ERR_[A-Z0-9_]+|E[A-Z0-9]+)$/, code);
      for (const text of [info.meaning, info.action]) {
        assert.ok(text.trim().length > 10, `${code}: say more than '${text}'`);
        assert.ok(!text.includes('\n'), `${code}: one line`);
      }
    }
  });

  it('FdlabError takes only declared codes', function () {
    const code: FdlabErrorCode = 'ERR_CHANNEL_CLOSED';
    const error = new FdlabError(code, 'closed');
    assert.equal(error.code, 'ERR_CHANNEL_CLOSED');
    assert.ok(isErrorWithCode(error, 'ERR_CHANNEL_CLOSED'));
    // @ts-expect-error an undeclared code does not compile
    assert.equal(new FdlabError('ERR_NOT_A_CODE', 'typo').code, 'ERR_NOT_A_CODE');
  });

  it(`packages/fdlab/README.md holds the table rendered from ERRORS between ${ERRORS_START} and ${ERRORS_END}`, function () {
    const expected = renderErrorTable();
    const readme = fs.existsSync(README) ? fs.readFileSync(README, 'utf8') : '';
    const embedded = embeddedErrorTable(readme);
    if (embedded !== expected) {
      console.log(`\nExpected in ${path.relative(ROOT, README)} (paste between the markers):\n\n${ERRORS_START}\n${expected}\n${ERRORS_END}\n`);
    }
    assert.ok(embedded !== null, `${path.relative(ROOT, README)} has no ${ERRORS_START} ... ${ERRORS_END} section`);
    assert.equal(embedded, expected, "the README's error table is not the one rendered from ERRORS (the expected table is printed above)");
  });
});
