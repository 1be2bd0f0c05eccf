// What goes into the offline lab image: this machine's node, strace, ss and
// busybox with the libraries they link, plus the built project at /opt/fdlab.
// No registry is needed because nothing is pulled: every byte comes from here.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from '../../lab-error';
import { PROJECT_DIR_IN_IMAGE } from '../../project';

export const PROJECT_DIR = PROJECT_DIR_IN_IMAGE;
export const INSTALL_HINT = 'apt-get install -y busybox-static strace iproute2';

export type RootfsEntry =
  | { type: 'directory'; path: string; mode: number }
  | { type: 'symlink'; path: string; target: string }
  // Host system files are streamed at pack time and identified by their stat:
  // they only change when a package is upgraded, and node alone is 100 MB.
  | { type: 'file'; path: string; mode: number; source: string; stat: fs.Stats }
  // Project files are read up front: every `tsc` run rewrites them, so only
  // their content says whether they changed, and packing the very bytes that
  // were hashed keeps a concurrent build from corrupting the tar.
  | { type: 'data'; path: string; mode: number; data: Buffer };

const posix = path.posix;

class Rootfs {
  readonly entries = new Map<string, RootfsEntry>();

  directory(dir: string, mode = 0o755): string {
    const real = this.ensureParent(dir);
    if (!this.entries.has(real)) this.entries.set(real, { type: 'directory', path: real, mode });
    return real;
  }

  symlink(at: string, target: string): void {
    const real = this.ensureParent(at);
    if (!this.entries.has(real)) this.entries.set(real, { type: 'symlink', path: real, target });
  }

  data(at: string, content: string, mode = 0o644): void {
    const real = this.ensureParent(at);
    this.entries.set(real, { type: 'data', path: real, mode, data: Buffer.from(content) });
  }

  file(at: string, source: string): void {
    const stat = fs.statSync(source);
    const real = this.ensureParent(at);
    this.entries.set(real, { type: 'file', path: real, mode: stat.mode & 0o7777, source, stat });
  }

  projectFile(at: string, source: string): void {
    const real = this.ensureParent(at);
    const mode = fs.statSync(source).mode & 0o7777;
    this.entries.set(real, { type: 'data', path: real, mode, data: fs.readFileSync(source) });
  }

  /**
   * Copies a host path to the same place in the image, recreating every
   * symlink on the way (/lib64 -> usr/lib64, libstdc++.so.6 -> ...0.30) so the
   * loader finds libraries exactly where `ldd` saw them. Returns the real path.
   */
  hostPath(hostPath: string, depth = 0): string {
    if (depth > 40) throw new LabError('ERR_FDLAB_IMAGE_SYMLINK_LOOP', `Too many symlinks resolving ${hostPath}`);
    const parts = hostPath.split('/').filter(Boolean);
    let current = '/';
    for (let i = 0; i < parts.length; i++) {
      const next = posix.join(current, parts[i]);
      const stat = fs.lstatSync(next);
      if (stat.isSymbolicLink()) {
        const target = fs.readlinkSync(next);
        this.symlink(next, target);
        return this.hostPath(posix.join(posix.resolve(current, target), ...parts.slice(i + 1)), depth + 1);
      }
      current = next;
    }
    if (fs.statSync(current).isDirectory()) this.directory(current);
    else this.file(current, current);
    return current;
  }

  /** The host directory's real path, mirroring its symlinked ancestors (/bin -> usr/bin). */
  hostDirectory(dir: string): string {
    const parts = dir.split('/').filter(Boolean);
    for (let i = parts.length; i > 0; i--) {
      const prefix = '/' + parts.slice(0, i).join('/');
      if (fs.existsSync(prefix)) return posix.join(this.hostPath(prefix), ...parts.slice(i));
    }
    return dir;
  }

  // Parents resolve through symlinks already in the image, so adding /bin/x
  // after /bin -> usr/bin lands in /usr/bin instead of clashing with the link.
  private ensureParent(at: string): string {
    let current = '/';
    for (const part of posix.dirname(at).split('/').filter(Boolean)) {
      current = posix.join(current, part);
      const entry = this.entries.get(current);
      if (entry?.type === 'symlink') current = posix.resolve(posix.dirname(current), entry.target);
      else if (!entry) this.entries.set(current, { type: 'directory', path: current, mode: 0o755 });
    }
    return posix.join(current, posix.basename(at));
  }
}

function findTool(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return fs.realpathSync(candidate);
    } catch {
      // not in this directory
    }
  }
  throw new LabError('ERR_FDLAB_IMAGE_TOOL_MISSING',
    `'${name}' was not found on this machine; the offline lab image copies it from here. Install it: ${INSTALL_HINT}`);
}

/** Shared libraries (and the loader) `ldd` says the ELF file needs; none for static binaries. */
export function sharedLibraries(file: string): string[] {
  let output: string;
  try {
    output = execFileSync('ldd', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    if (/not a dynamic executable/.test(stdout + stderr)) return [];
    throw new LabError('ERR_FDLAB_IMAGE_LDD', `ldd ${file} failed: ${(stderr || (error as Error).message).trim()}`);
  }
  const missing = output.split('\n').filter((line) => line.includes('=> not found'));
  if (missing.length > 0) {
    throw new LabError('ERR_FDLAB_IMAGE_LDD', `${file} needs libraries this machine lacks: ${missing.map((l) => l.trim()).join(', ')}`);
  }
  // Lines look like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)".
  return [...output.matchAll(/^\s*(?:\S+ => )?(\/\S+) \(0x[0-9a-f]+\)$/gm)].map((match) => match[1]);
}

function addBinary(rootfs: Rootfs, binary: string): string {
  for (const library of sharedLibraries(binary)) rootfs.hostPath(library);
  return rootfs.hostPath(binary);
}

/** The closure of production dependencies as installed, found the way `require` finds them. */
function productionPackages(root: string): string[] {
  const found = new Set<string>();
  const visit = (fromDir: string, name: string, optional: boolean): void => {
    let dir = fromDir;
    for (;;) {
      const candidate = path.join(dir, 'node_modules', name);
      if (fs.existsSync(path.join(candidate, 'package.json'))) {
        if (found.has(candidate)) return;
        found.add(candidate);
        const pkg = JSON.parse(fs.readFileSync(path.join(candidate, 'package.json'), 'utf8'));
        for (const dep of Object.keys(pkg.dependencies ?? {})) visit(candidate, dep, false);
        for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(candidate, dep, true);
        return;
      }
      if (dir === root) break;
      dir = path.dirname(dir);
    }
    if (!optional) {
      throw new LabError('ERR_FDLAB_NOT_INSTALLED', `Dependency '${name}' (needed from ${fromDir}) is not installed. Run 'npm install' in ${root}.`);
    }
  };
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) visit(root, dep, false);
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(root, dep, true);
  return [...found].sort();
}

// Nested node_modules are visited as packages of their own; compiler
// intermediates are never loaded at run time.
const SKIP_DIRS = new Set(['node_modules', 'obj.target', '.deps']);

function addTree(rootfs: Rootfs, root: string, hostDir: string, natives: string[], exclude = new Set<string>()): void {
  for (const dirent of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const source = path.join(hostDir, dirent.name);
    const at = posix.join(PROJECT_DIR, path.relative(root, source).split(path.sep).join('/'));
    if (dirent.isDirectory()) {
      if (SKIP_DIRS.has(dirent.name) || exclude.has(source)) continue;
      rootfs.directory(at);
      addTree(rootfs, root, source, natives, exclude);
    } else if (dirent.isSymbolicLink()) {
      rootfs.symlink(at, fs.readlinkSync(source));
    } else if (dirent.isFile()) {
      rootfs.projectFile(at, source);
      if (dirent.name.endsWith('.node')) natives.push(source);
    }
  }
}

/** The addon this machine loads: the library package's build/Release, or the prebuilt one it ships. */
function nativeAddon(root: string): string {
  const library = path.join(root, 'packages', 'fdlab');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node-gyp-build') as { resolve(dir: string): string }).resolve(library);
  } catch {
    throw new LabError('ERR_FDLAB_NATIVE_MISSING', `fdlab's native module (${path.join(library, 'build', 'Release', 'fdlab.node')}) is not built. Run 'npm install' in ${root}.`);
  }
}

function addProject(rootfs: Rootfs, root: string): void {
  const addon = nativeAddon(root);
  const dist = path.join(root, 'dist');
  if (!fs.existsSync(path.join(dist, 'src', 'cli', 'main.js')) || !fs.existsSync(path.join(root, 'packages', 'fdlab', 'dist', 'index.js'))) {
    throw new LabError('ERR_FDLAB_NOT_BUILT', `fdlab is not compiled (${dist}/src/cli/main.js or packages/fdlab/dist/index.js is missing). Run 'npm run build' in ${root}.`);
  }
  // The addon itself travels inside the library package (node_modules/fdlab, below).
  const natives = [addon];
  rootfs.projectFile(posix.join(PROJECT_DIR, 'package.json'), path.join(root, 'package.json'));
  // Tests run on the host; only the roles they start in containers go in, so
  // other test edits do not force a rebuild.
  addTree(rootfs, root, dist, natives, new Set([path.join(dist, 'test')]));
  const testRoles = path.join(dist, 'test', 'fixtures', 'roles');
  if (fs.existsSync(testRoles)) {
    for (const dir of ['test', 'test/fixtures', 'test/fixtures/roles']) rootfs.directory(posix.join(PROJECT_DIR, 'dist', dir));
    addTree(rootfs, root, testRoles, natives);
  }
  for (const pkgDir of productionPackages(root)) {
    rootfs.directory(posix.join(PROJECT_DIR, path.relative(root, pkgDir).split(path.sep).join('/')));
    addTree(rootfs, root, pkgDir, natives);
  }
  // Addons inside dependencies (ssh2, cpu-features) may link libraries node itself does not.
  for (const native of natives) for (const library of sharedLibraries(native)) rootfs.hostPath(library);
}

function addBusybox(rootfs: Rootfs, busybox: string): void {
  const inImage = addBinary(rootfs, busybox);
  // Entries without a directory (linuxrc) are for booting a machine, not a container.
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').filter((a) => a.includes('/'));
  for (const applet of applets) {
    const at = posix.join(rootfs.hostDirectory(posix.dirname('/' + applet)), posix.basename(applet));
    // A real tool copied from the host (ss, strace) wins over an applet.
    if (!rootfs.entries.has(at)) rootfs.symlink(at, inImage);
  }
}

function addSystemFiles(rootfs: Rootfs): void {
  rootfs.directory('/tmp', 0o1777);
  rootfs.directory('/run/fdlab');
  rootfs.directory('/root', 0o700);
  rootfs.data('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  rootfs.data('/etc/group', 'root:x:0:\nnogroup:x:65534:\n');
}

/** Everything the lab image holds, keyed by absolute path in the image. */
export function collectRootfs(projectRoot: string): RootfsEntry[] {
  const rootfs = new Rootfs();
  const tools = { strace: findTool('strace'), ss: findTool('ss'), busybox: findTool('busybox') };
  // The node that runs this builder is the one fdlab.node was compiled against.
  const node = addBinary(rootfs, fs.realpathSync(process.execPath));
  if (!['/usr/local/bin', '/usr/bin', '/bin'].includes(posix.dirname(node))) rootfs.symlink('/usr/local/bin/node', node);
  addBinary(rootfs, tools.strace);
  addBinary(rootfs, tools.ss);
  addBusybox(rootfs, tools.busybox);
  addSystemFiles(rootfs);
  addProject(rootfs, projectRoot);
  return [...rootfs.entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
