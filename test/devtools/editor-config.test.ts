// The devcontainer and VS Code files parse (JSON with comments, as the
// editor reads them) and everything they name is real: programs, paths,
// tasks, npm scripts, CLI options, native functions, the lab image layout.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { NATIVE_BUILD_ENV } from 'fdlab';
import { LABS } from '../../lab';
import { PROJECT_DIR } from '../../src/runtime/image/rootfs';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FILES = ['.devcontainer/devcontainer.json', '.devcontainer/dind/devcontainer.json', '.vscode/launch.json', '.vscode/tasks.json'];
// What ${relativeFileDirname}/${fileBasenameNoExtension} stand for when this file is open.
const OPEN_FILE = 'test/devtools/editor-config.test.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function readJsonc(file: string): Json {
  const errors: ParseError[] = [];
  const value = parse(fs.readFileSync(path.join(ROOT, file), 'utf8'), errors, { allowTrailingComma: false, disallowComments: false });
  assert.deepEqual(
    errors.map((e) => `${printParseErrorCode(e.error)} at offset ${e.offset}`),
    [],
    `${file} is valid JSON with comments`,
  );
  return value as Json;
}

const packageJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/** VS Code's variables, as they resolve with this repository open and OPEN_FILE in the editor. */
function expand(value: string): string {
  return value
    .replace(/\$\{workspaceFolder\}/g, ROOT)
    .replace(/\$\{relativeFileDirname\}/g, path.dirname(OPEN_FILE))
    .replace(/\$\{fileBasenameNoExtension\}/g, path.basename(OPEN_FILE, '.ts'));
}

/** Every string anywhere in a parsed document. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

function assertNpmRunsDefined(file: string, document: Json): void {
  for (const text of strings(document)) {
    for (const [, script] of text.matchAll(/npm run ([\w.-]+(?::[\w.-]+)*)/g)) {
      assert.ok(packageJson.scripts[script], `${file} runs 'npm run ${script}', which package.json defines`);
    }
  }
}

/** The part of a glob before its first wildcard exists. */
function assertGlobBase(glob: string, where: string): void {
  const base = expand(glob).split(/[*?[{]/)[0];
  assert.ok(fs.existsSync(base), `${where}: ${glob} starts in ${base}, which exists`);
}

describe('devcontainer and VS Code files', () => {
  const documents = new Map<string, Json>();

  before(() => {
    for (const file of FILES) documents.set(file, readJsonc(file));
  });

  it('every file parses as JSON with comments, and every npm run it calls is a script in package.json', () => {
    for (const [file, document] of documents) assertNpmRunsDefined(file, document);
  });

  describe('.devcontainer', () => {
    it('builds from a Dockerfile whose base image is a build argument, with no registry features', () => {
      const config = documents.get('.devcontainer/devcontainer.json')!;
      const dir = path.join(ROOT, '.devcontainer');
      const dockerfile = path.join(dir, config.build.dockerfile);
      assert.ok(fs.existsSync(dockerfile), dockerfile);
      assert.ok(fs.statSync(path.join(dir, config.build.context)).isDirectory());
      assert.equal(config.features, undefined, 'no devcontainer features fetched from a registry');

      const text = fs.readFileSync(dockerfile, 'utf8');
      const argDefault = text.match(/^ARG BASE_IMAGE=(\S+)$/m)?.[1];
      assert.equal(argDefault, 'node:24-bookworm');
      assert.match(text, /^FROM \$\{BASE_IMAGE\}$/m);
      assert.equal(config.build.args.BASE_IMAGE, '${localEnv:FDLAB_DEVCONTAINER_BASE_IMAGE:node:24-bookworm}');
      for (const pkg of ['build-essential', 'python3', 'strace', 'gdb', 'iproute2', 'busybox-static', 'docker.io', 'util-linux', 'ca-certificates']) {
        assert.match(text, new RegExp(`\\s${pkg.replace('.', '\\.')}\\s`), `the Dockerfile installs ${pkg}`);
      }
      // launch.json's gdb configurations name this node.
      assert.match(text, /ln -s "\$node_bin" \/usr\/local\/bin\/node/);
      // It copies only files of its own folder, so that folder is context enough.
      const copied = [...text.matchAll(/^(?:COPY|ADD)\s+(\S+)/gm)].map((m) => m[1]);
      assert.deepEqual(copied, ['fdlab-devcontainer-init.sh']);
      for (const file of copied) {
        assert.ok(fs.existsSync(path.join(dir, config.build.context, file)), file);
        execFileSync('sh', ['-n', path.join(dir, config.build.context, file)]);
      }
      // node-gyp's nodedir not where npm 11 warns about it (npmrc, npm_config_nodedir).
      assert.match(text, /^ENV npm_package_config_node_gyp_nodedir=\/usr\/local$/m);
      assert.doesNotMatch(text, /^(?!#).*(npm_config_nodedir|nodedir=\$|globalconfig)/m);
    });

    it('runs as a non-root user that reaches the socket, trusts the host CA, and waits for the entrypoint', () => {
      const config = documents.get('.devcontainer/devcontainer.json')!;
      assert.equal(config.remoteUser, 'node');
      assert.equal(config.overrideCommand, false, 'the image entrypoint (socket group, host CA) runs');
      for (const command of [config.initializeCommand, config.onCreateCommand, config.postStartCommand]) {
        const script = command.match(/^sh (\S+)/)?.[1];
        assert.ok(script && fs.existsSync(path.join(ROOT, script)), `${command}: ${script} exists`);
        execFileSync('sh', ['-n', path.join(ROOT, script)]);
      }
      assert.equal(config.containerEnv.FDLAB_HOST_CA, '${containerWorkspaceFolder}/.devcontainer/host-ca.crt');
      assert.match(fs.readFileSync(path.join(ROOT, '.gitignore'), 'utf8'), /^\.devcontainer\/host-ca\.crt$/m);
    });

    it('talks to the host engine through its socket, with ptrace, and installs with the README command', () => {
      const config = documents.get('.devcontainer/devcontainer.json')!;
      assert.ok(config.runArgs.includes('--cap-add=SYS_PTRACE'));
      assert.equal(config.runArgs[config.runArgs.indexOf('--security-opt') + 1], 'seccomp=unconfined');
      assert.ok(config.mounts.some((m: string) => /source=\/var\/run\/docker\.sock,target=\/var\/run\/docker\.sock,type=bind/.test(m)));
      assert.equal(config.containerEnv.FDLAB_HOST_WORKSPACE, '${localWorkspaceFolder}');
      const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      assert.match(readme, new RegExp(`^${config.postCreateCommand} && npm run lab:1`, 'm'), 'the README quick start begins with it');
      const extensions: string[] = config.customizations.vscode.extensions;
      for (const id of ['ms-vscode.cpptools', 'dbaeumer.vscode-eslint']) assert.ok(extensions.includes(id), id);
      assert.ok(extensions.some((id) => /mocha/.test(id)), 'a mocha test explorer');
      for (const id of extensions) assert.match(id, /^[\w-]+\.[\w-]+$/);
    });

    it('has a docker-in-docker variant that starts dockerd from a script that exists and parses', () => {
      const config = documents.get('.devcontainer/dind/devcontainer.json')!;
      const dir = path.join(ROOT, '.devcontainer', 'dind');
      assert.ok(fs.existsSync(path.join(dir, config.build.dockerfile)));
      assert.ok(config.runArgs.includes('--privileged'));
      const script = config.postStartCommand.match(/&& sh (\S+)$/)?.[1];
      assert.ok(script && fs.existsSync(path.join(ROOT, script)), `postStartCommand runs ${script} from the workspace folder`);
      execFileSync('sh', ['-n', path.join(ROOT, script)]);
      assert.match(fs.readFileSync(path.join(ROOT, script), 'utf8'), /dockerd/);
      assert.equal(config.postCreateCommand, documents.get('.devcontainer/devcontainer.json')!.postCreateCommand);
    });
  });

  describe('.vscode', () => {
    const configs = (): Json[] => documents.get('.vscode/launch.json')!.configurations;
    const byName = (name: string): Json => {
      const config = configs().find((c) => c.name === name);
      assert.ok(config, `launch.json has "${name}"`);
      return config;
    };
    const taskLabels = (): string[] => documents.get('.vscode/tasks.json')!.tasks.map((t: Json) => t.label);

    it('every task runs a script package.json defines and depends on tasks that exist', () => {
      for (const task of documents.get('.vscode/tasks.json')!.tasks as Json[]) {
        if (task.type === 'npm') assert.ok(packageJson.scripts[task.script], `task "${task.label}": npm script ${task.script}`);
        if (task.type === 'shell') {
          const [tool] = task.command.split(' ');
          if (tool === 'npx') assert.ok(fs.existsSync(path.join(ROOT, 'node_modules', '.bin', task.command.split(' ')[1])), task.command);
        }
        for (const dependency of task.dependsOn ?? []) assert.ok(taskLabels().includes(dependency), `task "${task.label}" depends on "${dependency}"`);
        const location = task.problemMatcher?.fileLocation;
        if (location) assert.ok(fs.existsSync(expand(location[1])), `${task.label}: ${location[1]}`);
      }
    });

    it('every program, cwd, outFiles, preLaunchTask and compound member exists', () => {
      for (const config of configs()) {
        const where = `launch "${config.name}"`;
        if (config.preLaunchTask) assert.ok(taskLabels().includes(config.preLaunchTask), `${where}: task ${config.preLaunchTask}`);
        if (config.cwd) assert.ok(fs.statSync(expand(config.cwd)).isDirectory(), `${where}: cwd`);
        for (const glob of config.outFiles ?? []) assertGlobBase(glob, where);
        if (config.type === 'node' && config.request === 'launch') {
          assert.ok(fs.existsSync(expand(config.program)), `${where}: ${config.program}`);
          for (const arg of config.args as string[]) {
            if (arg.includes('${workspaceFolder}')) assert.ok(fs.existsSync(expand(arg)), `${where}: ${arg} -> ${expand(arg)}`);
          }
        }
        if (config.type === 'cppdbg') {
          // /usr/local/bin/node: the devcontainer's node (its Dockerfile guarantees the path).
          assert.ok(fs.existsSync(config.program) || config.program === '/usr/local/bin/node', `${where}: ${config.program}`);
          for (const arg of config.args ?? []) assert.ok(fs.existsSync(expand(arg)), `${where}: ${arg}`);
        }
      }
      for (const compound of documents.get('.vscode/launch.json')!.compounds as Json[]) {
        for (const member of compound.configurations) byName(member);
      }
    });

    it('"Lab 1" ... "Lab 7" run `fdlab lab <n>` with options the CLI has, from compiled TypeScript with source maps; the pick list has every lab', () => {
      const help = execFileSync(process.execPath, [path.join(ROOT, 'dist/src/cli/main.js'), 'lab', '--help'], { encoding: 'utf8' });
      const picks = (documents.get('.vscode/launch.json')!.inputs as Json[]).find((i) => i.id === 'labNumber')!.options;
      assert.deepEqual(picks, [...LABS.keys()].map(String));
      for (const n of LABS.keys()) {
        const config = byName(`Lab ${n}`);
        assert.equal(expand(config.program), path.join(ROOT, 'dist/src/cli/main.js'));
        assert.deepEqual(config.args.slice(0, 2), ['lab', String(n)]);
        assert.equal(config.sourceMaps, true);
        assert.deepEqual(config.outFiles, ['${workspaceFolder}/dist/**/*.js']);
        assert.equal(config.preLaunchTask, 'fdlab: build (tsc)');
      }
      for (const config of configs().filter((c) => c.program?.endsWith('/dist/src/cli/main.js'))) {
        for (const option of (config.args as string[]).filter((a) => a.startsWith('--'))) {
          assert.ok(help.includes(option), `${config.name}: fdlab lab has ${option}`);
        }
        assert.equal(JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')).compilerOptions.sourceMap, true);
      }
      const inputs: Json[] = documents.get('.vscode/launch.json')!.inputs;
      for (const text of strings(configs())) {
        for (const [, id] of text.matchAll(/\$\{input:(\w+)\}/g)) assert.ok(inputs.some((i) => i.id === id), `input ${id}`);
      }
    });

    it('lab 5 attaches to v1 on 9229 and v2 on 9230 with the lab image layout, and a compound runs them together', () => {
      for (const [name, port] of [['Lab 5: attach to v1', 9229], ['Lab 5: attach to v2', 9230]] as const) {
        const config = byName(name);
        assert.equal(config.request, 'attach');
        assert.equal(config.port, port);
        assert.equal(config.address, '127.0.0.1', 'where the pod publishes inspector ports');
        assert.equal(config.localRoot, '${workspaceFolder}');
        assert.equal(config.remoteRoot, PROJECT_DIR);
      }
      const launch = byName('Lab 5: Docker with --inspect');
      assert.deepEqual(launch.args, ['lab', '5', '--runtime', 'docker', '--inspect']);
      const help = execFileSync(process.execPath, [path.join(ROOT, 'dist/src/cli/main.js'), 'lab', '--help'], { encoding: 'utf8' });
      assert.match(help.replace(/\s+/g, ' '), /v1 on 9229, v2 on 9230/);
      const compound = (documents.get('.vscode/launch.json')!.compounds as Json[]).find((c) => c.name === 'Lab 5 (launch + attach v1 and v2)');
      assert.deepEqual(compound?.configurations, ['Lab 5: Docker with --inspect', 'Lab 5: attach to v1', 'Lab 5: attach to v2']);
    });

    it('"Mocha: current test file" runs the compiled twin of the open file with .mocharc.json minus its spec', () => {
      const config = byName('Mocha: current test file');
      assert.ok(fs.existsSync(expand(config.program)));
      const file = expand(config.args[config.args.length - 1]);
      assert.equal(file, path.join(ROOT, 'dist/test/devtools/editor-config.test.js'));
      const settingsFile = expand(config.args[config.args.indexOf('--config') + 1]);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const settings = require(settingsFile) as Json;
      const { spec, ...repo } = JSON.parse(fs.readFileSync(path.join(ROOT, '.mocharc.json'), 'utf8')) as Json;
      assert.ok(spec);
      assert.deepEqual(settings, repo);
      for (const required of repo.require) assert.ok(fs.existsSync(path.join(ROOT, required)), required);
      assert.ok(fs.existsSync(path.join(ROOT, repo.reporter)), repo.reporter);
      // And mocha, so configured, runs that one file only.
      const listed = execFileSync(process.execPath, [expand(config.program), '--config', settingsFile, '--dry-run', '--reporter', 'json', file], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      const report = JSON.parse(listed.slice(listed.indexOf('{'))) as { tests: Array<{ file: string }> };
      assert.ok(report.tests.length > 0);
      assert.deepEqual([...new Set(report.tests.map((t) => t.file))], [file]);
    });

    it('"Native: debug with gdb" builds Debug, loads it, and breaks in C++ functions that exist', () => {
      const config = byName('Native: debug with gdb');
      assert.equal(config.type, 'cppdbg');
      assert.equal(config.MIMode, 'gdb');
      assert.equal(config.preLaunchTask, 'fdlab: build for gdb');
      const task = (documents.get('.vscode/tasks.json')!.tasks as Json[]).find((t) => t.label === config.preLaunchTask)!;
      const scripts = task.dependsOn.map((label: string) => (documents.get('.vscode/tasks.json')!.tasks as Json[]).find((t) => t.label === label)!.script);
      assert.deepEqual(scripts, ['build', 'build:native:debug']);
      assert.deepEqual(config.environment, [{ name: NATIVE_BUILD_ENV, value: 'Debug' }]);
      const native = fs.readdirSync(path.join(ROOT, 'packages', 'fdlab', 'native')).filter((f) => f.endsWith('.cc')).map((f) => fs.readFileSync(path.join(ROOT, 'packages', 'fdlab', 'native', f), 'utf8')).join('\n');
      const breaks = (config.setupCommands as Json[]).map((c) => c.text.match(/^-break-insert -f fdlab::(\w+)$/)?.[1]).filter(Boolean);
      assert.deepEqual(breaks, ['SendFdsFrom', 'RecvFdsInto']);
      assert.match(native, /^namespace fdlab \{/m);
      for (const fn of breaks) assert.match(native, new RegExp(`^Napi::Value ${fn}\\(const Napi::CallbackInfo& info\\) \\{`, 'm'), fn);
    });
  });
});
