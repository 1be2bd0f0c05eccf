// "Native: debug with gdb" for real: the command line of that launch.json
// configuration, run by gdb in batch mode against the Debug build, stops in
// the C++ that sends and receives fds. Building Debug must leave build/Release
// (what every other test loads) untouched.
import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'jsonc-parser';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..', '..');
const LIBRARY = path.join(ROOT, 'packages', 'fdlab');
const RELEASE = path.join(LIBRARY, 'build', 'Release', 'fdlab.node');
const DEBUG = path.join(LIBRARY, 'build', 'Debug', 'fdlab.node');

interface CppdbgConfig {
  name: string;
  program: string;
  args: string[];
  environment: Array<{ name: string; value: string }>;
  setupCommands: Array<{ text: string }>;
}

function gdbLaunch(): CppdbgConfig {
  const launch = parse(fs.readFileSync(path.join(ROOT, '.vscode', 'launch.json'), 'utf8')) as { configurations: CppdbgConfig[] };
  const config = launch.configurations.find((c) => c.name === 'Native: debug with gdb');
  assert.ok(config, 'launch.json has "Native: debug with gdb"');
  return config;
}

const expand = (value: string): string => value.replace(/\$\{workspaceFolder\}/g, ROOT);

/** The launch's MI setup commands as the gdb CLI commands they stand for. */
function cliCommand(mi: string): string {
  const pending = mi.match(/^-break-insert -f (\S+)$/);
  if (pending) return `break ${pending[1]}`;
  const set = mi.match(/^-gdb-set (.+)$/);
  if (set) return `set ${set[1]}`;
  if (mi === '-enable-pretty-printing') return 'set print pretty on';
  throw new Error(`no CLI equivalent for the MI command ${mi}`);
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** build/Debug is missing, or older than a native source. */
function debugBuildStale(): boolean {
  if (!fs.existsSync(DEBUG)) return true;
  const built = fs.statSync(DEBUG).mtimeMs;
  const sources = [path.join(LIBRARY, 'binding.gyp'), ...fs.readdirSync(path.join(LIBRARY, 'native')).map((f) => path.join(LIBRARY, 'native', f))];
  return sources.some((file) => fs.statSync(file).mtimeMs > built);
}

function hasGdb(): boolean {
  try {
    execFileSync('gdb', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Which fdlab.node a fresh node loads, with FDLAB_NATIVE_BUILD set to `build` (or not at all). */
async function loadedAddon(build?: string): Promise<string> {
  const env = { ...process.env };
  delete env.FDLAB_NATIVE_BUILD;
  if (build !== undefined) env.FDLAB_NATIVE_BUILD = build;
  const script = "require('fdlab'); console.log(Object.keys(require.cache).find((f) => f.endsWith('fdlab.node')))";
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: ROOT, env });
  return stdout.trim();
}

describe('native debugging with gdb', function () {
  this.timeout(300_000);

  before(async function () {
    if (!hasGdb()) {
      console.log('      (skipping gdb tests: gdb is not installed; apt-get install -y gdb, or use the devcontainer)');
      this.skip();
    }
    const release = fs.existsSync(RELEASE) ? sha256(RELEASE) : undefined;
    if (debugBuildStale()) {
      // About 30 s on 2 cores: node-gyp configure, then make BUILDTYPE=Debug.
      await run('npm', ['run', 'build:native:debug'], { cwd: ROOT, timeout: 280_000, maxBuffer: 16 * 1024 * 1024 });
    }
    assert.ok(fs.existsSync(DEBUG), `${DEBUG} was built`);
    if (release) assert.equal(sha256(RELEASE), release, 'building Debug left build/Release/fdlab.node as it was');
  });

  it('loads build/Release by default and build/Debug with FDLAB_NATIVE_BUILD=Debug', async () => {
    assert.equal(await loadedAddon(), RELEASE);
    assert.equal(await loadedAddon('Debug'), DEBUG);
    await assert.rejects(loadedAddon('Fast'), /FDLAB_NATIVE_BUILD must be Debug or Release/);
  });

  it('stops in fdlab::SendFdsFrom and fdlab::RecvFdsInto, with source lines, as launch.json says', async () => {
    const config = gdbLaunch();
    // The devcontainer has node at /usr/local/bin/node; elsewhere, the node running this test.
    const node = fs.existsSync(config.program) ? config.program : process.execPath;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const { name, value } of config.environment) env[name] = value;
    const setup = config.setupCommands.map((c) => cliCommand(c.text));
    assert.ok(setup.includes('break fdlab::SendFdsFrom') && setup.includes('break fdlab::RecvFdsInto'), setup.join('; '));

    const commands = [...setup, 'run', 'bt 1', 'continue', 'bt 1', 'info sharedlibrary fdlab', 'kill'];
    const { stdout, stderr } = await run('gdb', ['-batch', '-nx', ...commands.flatMap((c) => ['-ex', c]), '--args', node, ...config.args.map(expand)], {
      cwd: ROOT,
      env,
      timeout: 240_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const output = stdout + stderr;
    assert.match(output, /Breakpoint 1, fdlab::SendFdsFrom \(info=.*\) at \.\.\/native\/fdpass\.cc:\d+/, output.slice(-3000));
    assert.match(output, /Breakpoint 2, fdlab::RecvFdsInto \(info=.*\) at \.\.\/native\/fdpass\.cc:\d+/, output.slice(-3000));
    assert.ok(output.indexOf('Breakpoint 1, fdlab::SendFdsFrom') < output.indexOf('Breakpoint 2, fdlab::RecvFdsInto'), 'sent before received');
    assert.ok(output.includes(DEBUG), `gdb saw ${DEBUG} loaded:\n${output.slice(-1500)}`);
  });
});
