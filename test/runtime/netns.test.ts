// The process runtime's private network (FDLAB_PROCESS_NETWORK=private): each
// run has a loopback of its own, so labs with fixed ports never meet; without
// the privilege to make one, a clear error and nothing left; kill -9 of the
// lab takes the namespace's holder down with it.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { withRuntime } from '../../src/runtime/cleanup';
import { NetworkNamespace, processNetworkFromEnv } from '../../src/runtime/process/netns';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime';
import { until, within } from '../helpers/fds';
import { collect, processAlive as alive } from '../helpers/process';
import { compiledPath } from '../../src/project';

const NETNS_JS = compiledPath('src/runtime/process/netns.ts');
const SERVER = compiledPath('test/fixtures/roles/tcp-echo-server.ts');


/** A node process that makes a namespace and says the holder's pid (or the error's code), then waits. */
function namespaceMaker(wrap: string[] = []) {
  const script = `require(${JSON.stringify(NETNS_JS)}).NetworkNamespace.create().then(
    (ns) => { console.log('holder ' + ns.pid); setInterval(() => {}, 1 << 30); },
    (e) => { console.log(e.code + ': ' + e.message); process.exitCode = 1; })`;
  const [command, ...args] = [...wrap, process.execPath, '-e', script];
  return spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('process runtime: a private network per run', function () {
  this.timeout(30_000);
  const unshare = spawnSync('unshare', ['--net', 'true'], { encoding: 'utf8' });
  /** Namespaces need CAP_SYS_ADMIN: root here and in CI, not a devcontainer's non-root user. */
  const needsNamespaces = function (this: Mocha.Context) {
    if (unshare.status === 0) return;
    console.log(`      (skipping: unshare --net failed here: ${unshare.stderr.trim()})`);
    this.skip();
  };

  it('two runs listen on the same port at once, each on its own loopback', async function () {
    needsNamespaces.call(this);
    const first = new ProcessRuntime({ lab: 'netns-a', echoLogs: false, network: 'private' });
    const second = new ProcessRuntime({ lab: 'netns-b', echoLogs: false, network: 'private' });
    await withRuntime(first, async (a) => {
      const server = await a.startRole({ name: 'server', script: SERVER, args: ['0'] });
      const port = /127\.0\.0\.1:(\d+)$/.exec(await server.waitForLine('listening on'))![1];
      await withRuntime(second, async (b) => {
        const same = await b.startRole({ name: 'server', script: SERVER, args: [port] });
        assert.equal(await same.waitForLine('listening on'), `listening on 127.0.0.1:${port}`);
        // A command run "in" a role sees the role's namespace, as docker exec does.
        const ss = await same.exec(['ss', '-tln']);
        assert.match(ss.output, new RegExp(`127\\.0\\.0\\.1:${port}\\b`));
        assert.equal(ss.output.trim().split('\n').length, 2, `one listener in this namespace: ${ss.output}`);
      });
    });
  });

  it('without CAP_SYS_ADMIN: ERR_NETNS_UNAVAILABLE saying what to do, and no holder left', async () => {
    // As root, drop to nobody; a non-root user (a devcontainer's) has no CAP_SYS_ADMIN already.
    const drop = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'] : [];
    const child = namespaceMaker(drop);
    const done = await collect(child);
    assert.equal(done.code, 1, done.stderr);
    assert.match(done.stdout, /^ERR_NETNS_UNAVAILABLE: cannot make a private network namespace: .*FDLAB_PROCESS_NETWORK=host/);
  });

  it('kill -9 of the process that made it: the holder exits (its stdin pipe closes)', async function () {
    needsNamespaces.call(this);
    const child = namespaceMaker();
    const done = collect(child);
    const line = await within(10_000, 'holder pid', new Promise<string>((resolve) => child.stdout!.on('data', (d: Buffer) => resolve(d.toString()))));
    const holder = Number(/^holder (\d+)/.exec(line)![1]);
    assert.ok(alive(holder));
    child.kill('SIGKILL');
    await done;
    await until(5000, `holder ${holder} to exit`, () => !alive(holder), 20);
  });

  it('FDLAB_PROCESS_NETWORK takes host or private, and names the mistake', () => {
    assert.equal(processNetworkFromEnv({}), 'host');
    assert.equal(processNetworkFromEnv({ FDLAB_PROCESS_NETWORK: 'private' }), 'private');
    assert.throws(() => processNetworkFromEnv({ FDLAB_PROCESS_NETWORK: 'none' }), (e: Error & { code?: string }) =>
      e.code === 'ERR_INVALID_ARG_VALUE' && /must be host or private; got 'none'/.test(e.message));
  });

  it('close() lets the holder go', async function () {
    needsNamespaces.call(this);
    const ns = await NetworkNamespace.create();
    assert.ok(alive(ns.pid));
    await ns.close();
    assert.equal(alive(ns.pid), false);
  });
});
