// Two products in one tree, and the line between them is a folder: the
// library's source is packages/fdlab/src and nothing else; it decides what it
// is from its arguments, not from the process's environment (one edge file
// reads it); and everything outside imports it as 'fdlab', never by a
// relative path into it. Read from the sources, so a change that crosses the
// line fails here with the file and line that crossed it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LIBRARY = path.join(ROOT, 'packages', 'fdlab');
const LIBRARY_SRC = path.join(LIBRARY, 'src');
/** The one file of the library allowed to read process.env. */
const EDGE = path.join(LIBRARY_SRC, 'environment.ts');

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** `file:line: text` for every line of `files` that matches. */
function linesMatching(files: string[], pattern: RegExp): string[] {
  return files.flatMap((file) =>
    fs.readFileSync(file, 'utf8').split('\n').flatMap((line, i) => (pattern.test(line) ? [`${path.relative(ROOT, file)}:${i + 1}: ${line.trim()}`] : [])),
  );
}

/** Module specifiers of import/export-from statements, import() and require() calls. */
function specifiers(text: string): string[] {
  return [
    ...[...text.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s+'([^']+)'/gm)].map((m) => m[1]),
    ...[...text.matchAll(/\b(?:require|import)\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]),
  ];
}

describe('the library stands on its own (packages/fdlab)', () => {
  const librarySources = tsFiles(LIBRARY_SRC);

  it('the library source is packages/fdlab/src, and root src/ has none of its folders', () => {
    assert.ok(librarySources.length > 20, `packages/fdlab/src holds the library (${librarySources.length} files)`);
    for (const dir of ['native', 'fd', 'socket', 'channel', 'handover']) {
      assert.ok(fs.existsSync(path.join(LIBRARY_SRC, dir)), `packages/fdlab/src/${dir} exists`);
      assert.ok(!fs.existsSync(path.join(ROOT, 'src', dir)), `root src/${dir} is gone`);
    }
    assert.ok(fs.existsSync(path.join(LIBRARY, 'native', 'fdpass.cc')) && fs.existsSync(path.join(LIBRARY, 'binding.gyp')), 'native/ and binding.gyp sit beside it');
    assert.ok(!fs.existsSync(path.join(ROOT, 'native')) && !fs.existsSync(path.join(ROOT, 'binding.gyp')), 'and not at the root');
  });

  it('only environment.ts reads process.env; nothing in the library writes it, signals its own process or knows the fault hook', () => {
    assert.ok(fs.readFileSync(EDGE, 'utf8').includes('process.env'), 'the edge helper is where the environment is read (the scan sees it)');
    const others = librarySources.filter((file) => file !== EDGE);
    assert.deepEqual(linesMatching(others, /process\.env\b/), [], 'process.env outside the edge helper');
    assert.deepEqual(linesMatching(librarySources, /process\.env(\.\w+|\[[^\]]+\])\s*=[^=]|delete\s+process\.env/), [], 'the library writes the environment');
    assert.deepEqual(linesMatching(librarySources, /FDLAB_HANDOVER_HOOK/), [], 'the fault hook is the CLI\'s');
    assert.deepEqual(linesMatching(librarySources, /process\.kill\(\s*process\.pid/), [], 'the library signals its own process');
  });

  it('the library logs only through the logger it is given: no console calls', () => {
    assert.deepEqual(linesMatching(librarySources, /\bconsole\.(log|error|warn|info|debug)\(/), []);
  });

  it('nothing outside the library reaches into it by a relative path', () => {
    const outside = ['src', 'lab', 'test', 'bench', 'examples', 'challenges'].flatMap((dir) => tsFiles(path.join(ROOT, dir)));
    assert.ok(outside.length > 100, `the scan covers the lab tool, tests, benchmarks and examples (${outside.length} files)`);
    const crossings = outside.flatMap((file) =>
      specifiers(fs.readFileSync(file, 'utf8'))
        .filter((spec) => spec.startsWith('.') && !path.relative(LIBRARY, path.resolve(path.dirname(file), spec)).startsWith('..'))
        .map((spec) => `${path.relative(ROOT, file)}: '${spec}'`),
    );
    assert.deepEqual(crossings, [], "import 'fdlab' (or 'fdlab/wire', 'fdlab/testing') instead");
    // The scan itself: a file that does import the library by name is seen.
    assert.ok(outside.some((file) => specifiers(fs.readFileSync(file, 'utf8')).includes('fdlab')));
  });

  it('no library file imports lab-tool code by a relative path out of packages/fdlab/src', () => {
    const escapes = librarySources.flatMap((file) =>
      specifiers(fs.readFileSync(file, 'utf8'))
        .filter((spec) => spec.startsWith('.') && path.relative(LIBRARY_SRC, path.resolve(path.dirname(file), spec)).startsWith('..'))
        .map((spec) => `${path.relative(ROOT, file)}: '${spec}'`),
    );
    assert.deepEqual(escapes, []);
  });
});
