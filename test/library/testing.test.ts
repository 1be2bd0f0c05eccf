// fdlab/testing: an app author's hot-upgrade test without process restarts.
// A real app (a line counter whose count per connection is the session) is
// upgraded under real TCP clients by startUpgradePair, in this process: the
// sessions and a half-sent line survive one and two upgrades, a next version
// that fails rolls back with a code, and close() leaves nothing behind. The
// README's example is compiled with --strict against 'fdlab' and run.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { isErrorWithCode, type HandoverApp, type ServedConnection } from 'fdlab';
import { startUpgradePair, UpgradeFailedError, type UpgradePair } from 'fdlab/testing';
import { openFdCount, tempDir, until } from '../helpers/fds';
import { collect } from '../helpers/process';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LIBRARY = path.join(ROOT, 'packages', 'fdlab');
const README = path.join(LIBRARY, 'README.md');
const SECTION = '## Testing your app with fdlab/testing';

interface Count {
  count: number;
}

/** Numbers each line of a connection: `<version> #<n>: <line>`; n is the session, a partial line the pending bytes. */
class Counter implements HandoverApp<Count> {
  constructor(readonly version: string) {}

  serve(socket: net.Socket, session: Count = { count: 0 }, pending = Buffer.alloc(0)): ServedConnection<Count> {
    let { count } = session;
    let unread = pending;
    const read = (chunk: Buffer) => {
      unread = Buffer.concat([unread, chunk]);
      for (let end = unread.indexOf('\n'); end >= 0; end = unread.indexOf('\n')) {
        count += 1;
        socket.write(`${this.version} #${count}: ${unread.subarray(0, end)}\n`);
        unread = unread.subarray(end + 1);
      }
    };
    socket.on('data', read).on('error', () => {});
    read(Buffer.alloc(0));
    return { socket, snapshot: () => ({ session: { count }, pending: unread }) };
  }
}

/** A TCP client reading whole lines; records whether the server ever closed it. */
class Client {
  readonly socket: net.Socket;
  closed = false;
  private buffered = '';
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | undefined;

  private constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let end = this.buffered.indexOf('\n'); end >= 0; end = this.buffered.indexOf('\n')) {
        this.lines.push(this.buffered.slice(0, end));
        this.buffered = this.buffered.slice(end + 1);
      }
      this.wake();
    });
    this.socket.on('close', () => (this.closed = true)).on('error', () => {});
  }

  static async connect(port: number): Promise<Client> {
    const client = new Client(port);
    await new Promise<void>((resolve, reject) => client.socket.once('connect', resolve).once('error', reject));
    return client;
  }

  /** Sends `text` and, if it ends a line, returns the reply to it. */
  async send(text: string): Promise<string | undefined> {
    this.socket.write(text);
    return text.endsWith('\n') ? this.next() : undefined;
  }

  next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.wake();
    });
  }

  private wake(): void {
    if (this.waiting && this.lines.length > 0) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(this.lines.shift()!);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves once the serving version has read `bytes` of a line it cannot process yet. */
function pendingArrived(pair: UpgradePair<unknown>, bytes: string): Promise<void> {
  return until(5000, () => `the serving version holds '${bytes}' unprocessed:\n${pair.logs.join('\n')}`, () =>
    [...pair.current.connections].some((c) => c.snapshot().pending.toString() === bytes),
  );
}

/** Temp dirs startUpgradePair makes (fdlab-testing-*), to see that none is left. */
function testingDirs(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('fdlab-testing-'));
}

const activeTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('fdlab/testing: an app upgraded in one process (startUpgradePair)', function () {
  this.timeout(30_000);
  const clients: Client[] = [];
  const pairs: UpgradePair<unknown>[] = [];
  const connect = async (port: number) => {
    const client = await Client.connect(port);
    clients.push(client);
    return client;
  };
  const start = async <S>(options: Parameters<typeof startUpgradePair<S>>[0]) => {
    const pair = await startUpgradePair(options);
    pairs.push(pair as UpgradePair<unknown>);
    return pair;
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const pair of pairs.splice(0)) await pair.close();
  });

  it("carries each connection's count and a half-sent line across two upgrades, on the same port, with no disconnect", async () => {
    const pair = await start({ app: (generation) => new Counter(`v${generation}`) });
    const port = pair.port;
    const [a, b, c] = [await connect(port), await connect(port), await connect(port)];
    assert.equal(await a.send('one\n'), 'v1 #1: one');
    assert.equal(await a.send('two\n'), 'v1 #2: two');
    assert.equal(await b.send('one\n'), 'v1 #1: one');
    await c.send('hal'); // half a line: read by v1, not processed
    await pendingArrived(pair as UpgradePair<unknown>, 'hal');

    const v1 = pair.current;
    const v2 = await pair.upgrade();
    assert.notEqual(v2, v1);
    assert.equal(pair.current, v2);
    assert.equal(pair.generation, 2);
    assert.equal(pair.port, port);
    assert.equal(v2.port, port, 'the listener was handed over');
    assert.equal(v2.connections.size, 3);
    assert.equal(v1.connections.size, 0, 'v1 let go of every connection');
    assert.equal(await c.send('f\n'), 'v2 #1: half', 'the half line finished on v2');
    assert.equal(await a.send('three\n'), 'v2 #3: three');

    await c.send('x'); // and again across the second upgrade
    await pendingArrived(pair as UpgradePair<unknown>, 'x');
    const v3 = await pair.upgrade();
    assert.equal(pair.current, v3);
    assert.equal(pair.generation, 3);
    assert.equal(await c.send('y\n'), 'v3 #2: xy');
    assert.equal(await b.send('two\n'), 'v3 #2: two');
    assert.equal(await a.send('four\n'), 'v3 #4: four');
    const d = await connect(port);
    assert.equal(await d.send('new\n'), 'v3 #1: new', 'v3 accepts on the same port');

    assert.deepEqual([a, b, c].map((client) => client.closed), [false, false, false]);
    for (const line of ['v1: upgraded 3 connections', 'v2: took over all 3 connections', 'v2: upgraded 3 connections', 'pair: v2 handed over to v3']) {
      assert.ok(pair.logs.some((l) => l.startsWith(line)), `'${line}' in:\n${pair.logs.join('\n')}`);
    }
  });

  it('makes each version with its own app: v2 reads the sessions v1 wrote (a session format change)', async () => {
    type V1Session = { count: number };
    type V2Session = { lines: number; upgradedFrom: string };
    /** v2 keeps `{ lines, upgradedFrom }`; it converts a v1 session it is handed. */
    class CounterV2 implements HandoverApp<V1Session | V2Session> {
      serve(socket: net.Socket, session?: V1Session | V2Session, pending = Buffer.alloc(0)): ServedConnection<V2Session> {
        const state: V2Session = session === undefined ? { lines: 0, upgradedFrom: 'none' } : 'count' in session ? { lines: session.count, upgradedFrom: 'v1' } : session;
        let unread = pending;
        const read = (chunk: Buffer) => {
          unread = Buffer.concat([unread, chunk]);
          for (let end = unread.indexOf('\n'); end >= 0; end = unread.indexOf('\n')) {
            state.lines += 1;
            socket.write(`v2 line ${state.lines} (from ${state.upgradedFrom}): ${unread.subarray(0, end)}\n`);
            unread = unread.subarray(end + 1);
          }
        };
        socket.on('data', read).on('error', () => {});
        read(Buffer.alloc(0));
        return { socket, snapshot: () => ({ session: state, pending: unread }) };
      }
    }
    const made: number[] = [];
    const pair = await start<V1Session | V2Session>({
      app: (generation) => {
        made.push(generation);
        return generation === 1 ? new Counter('v1') : new CounterV2();
      },
    });
    const client = await connect(pair.port);
    assert.equal(await client.send('a\n'), 'v1 #1: a');
    assert.equal(await client.send('b\n'), 'v1 #2: b');
    await pair.upgrade();
    assert.equal(await client.send('c\n'), 'v2 line 3 (from v1): c');
    const fresh = await connect(pair.port);
    assert.equal(await fresh.send('d\n'), 'v2 line 1 (from none): d');
    assert.deepEqual(made, [1, 2], 'the factory is called once per version, with its generation');
  });

  it('with a standby, upgrade() resolves once the old version released its copies', async () => {
    const pair = await start({ app: (generation) => new Counter(`v${generation}`), standbyMs: 300 });
    const client = await connect(pair.port);
    assert.equal(await client.send('a\n'), 'v1 #1: a');
    await pair.upgrade();
    assert.equal(await client.send('b\n'), 'v2 #2: b');
    for (const line of ['v1: standing by for 300 ms', 'v1: standby over: released our copies of 1 connections', 'v2: the old version released its copies: serving alone']) {
      assert.ok(pair.logs.some((l) => l.startsWith(line)), `'${line}' in:\n${pair.logs.join('\n')}`);
    }
  });

  it("rolls back when the next version's serve throws: upgrade() rejects with ERR_PAIR_UPGRADE_FAILED, v1 serves on with its counts, and the next try upgrades", async () => {
    let broken = true;
    class Exploding implements HandoverApp<Count> {
      serve(): ServedConnection<Count> {
        throw new Error('serve exploded');
      }
    }
    const pair = await start<Count>({ app: (generation) => (generation > 1 && broken ? new Exploding() : new Counter(`v${generation}`)) });
    const client = await connect(pair.port);
    assert.equal(await client.send('a\n'), 'v1 #1: a');
    await client.send('hal');
    await pendingArrived(pair as UpgradePair<unknown>, 'hal');
    const v1 = pair.current;

    const error = await pair.upgrade().then(() => assert.fail('upgraded to a version whose serve throws'), (e: unknown) => e);
    assert.ok(error instanceof UpgradeFailedError, String(error));
    assert.equal(error.code, 'ERR_PAIR_UPGRADE_FAILED');
    assert.ok(isErrorWithCode(error, 'ERR_PAIR_UPGRADE_FAILED'));
    assert.equal(error.result.outcome, 'rolled-back');
    assert.match(error.message, /upgrade from v1: rolled-back: .*v2 did not start: serve exploded/);
    assert.equal((error.cause as Error).message, 'serve exploded');
    assert.equal(pair.current, v1);
    assert.equal(pair.generation, 1);
    assert.equal(await client.send('f\n'), 'v1 #2: half', 'v1 kept the session and the half line');
    assert.ok(pair.logs.some((l) => l.startsWith('v1: rolled back: serving 1 connections again')), pair.logs.join('\n'));

    broken = false;
    await pair.upgrade();
    assert.equal(pair.generation, 2);
    assert.equal(await client.send('b\n'), 'v2 #3: b');
    assert.equal(client.closed, false);
  });

  it('rolls back at once (not at the deadline) when the app factory throws or returns no app for the next version', async () => {
    let next: () => HandoverApp<Count> = () => {
      throw new Error('no v2 today');
    };
    const pair = await start<Count>({ app: (generation) => (generation === 1 ? new Counter('v1') : next()), timeoutMs: 60_000 });
    const client = await connect(pair.port);
    assert.equal(await client.send('a\n'), 'v1 #1: a');

    await assert.rejects(pair.upgrade(), (error: UpgradeFailedError) => {
      assert.equal(error.code, 'ERR_PAIR_UPGRADE_FAILED');
      assert.deepEqual([error.result.outcome, (error.result as { code: string }).code], ['rolled-back', 'ERR_SUCCESSOR_EXITED']);
      assert.equal((error.cause as Error).message, 'no v2 today');
      return true;
    });
    next = () => ({}) as HandoverApp<Count>;
    await assert.rejects(pair.upgrade(), (error: UpgradeFailedError) => {
      assert.equal(error.code, 'ERR_PAIR_UPGRADE_FAILED');
      assert.equal((error.cause as { code?: string }).code, 'ERR_INVALID_ARG_TYPE');
      assert.match(error.message, /v2 did not start: app\(2\) must return a HandoverApp/);
      return true;
    });
    assert.equal(await client.send('b\n'), 'v1 #2: b');
  });

  it('close() leaves no fd, timer or state dir behind, also after a failed upgrade, and may be called twice; upgrade() after it rejects with ERR_PAIR_CLOSED', async () => {
    // Warm up once (the native module, the first socket of each kind), then count.
    const warm = await startUpgradePair({ app: (generation) => new Counter(`v${generation}`) });
    await warm.upgrade();
    await warm.close();
    const fdsBefore = openFdCount();
    const timersBefore = activeTimers();
    const dirsBefore = testingDirs();

    let failNext: 'factory' | 'serve' | null = null;
    const pair = await startUpgradePair<Count>({
      app: (generation) => {
        if (failNext === 'factory') throw new Error('no next version');
        if (failNext === 'serve') return { serve: () => assert.fail('serve exploded') };
        return new Counter(`v${generation}`);
      },
      standbyMs: 250,
    });
    assert.equal(fs.statSync(pair.stateDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(pair.stateDir).uid, process.getuid!());
    const client = await Client.connect(pair.port);
    try {
      assert.equal(await client.send('a\n'), 'v1 #1: a');
      await pair.upgrade();
      failNext = 'factory';
      await assert.rejects(pair.upgrade(), { code: 'ERR_PAIR_UPGRADE_FAILED' });
      failNext = 'serve';
      await assert.rejects(pair.upgrade(), { code: 'ERR_PAIR_UPGRADE_FAILED', message: /v3 did not start: serve exploded/ });
      assert.equal(await client.send('b\n'), 'v2 #2: b');
    } finally {
      client.destroy();
      await Promise.all([pair.close(), pair.close()]);
    }
    await pair.close();
    assert.ok(!fs.existsSync(pair.stateDir), 'the state dir is removed');
    assert.deepEqual(testingDirs(), dirsBefore);
    await assert.rejects(pair.upgrade(), { code: 'ERR_PAIR_CLOSED' });
    await until(5000, () => `fds back to ${fdsBefore} (now ${openFdCount()})`, () => openFdCount() <= fdsBefore);
    await until(5000, () => `timers back to ${timersBefore} (now ${activeTimers()})`, () => activeTimers() <= timersBefore);
  });

  it("rolls back with ERR_APP_SNAPSHOT, naming what was wrong, when the app's snapshot() throws or returns no { session, pending: Buffer }; v1 serves on", async () => {
    const broken: [string, (count: number, unread: Buffer) => unknown, RegExp][] = [
      ['no pending', (count) => ({ session: { count } }), /snapshot\(\) must return \{ session, pending: Buffer \}: pending is undefined/],
      ['pending a string', (count, unread) => ({ session: { count }, pending: unread.toString() }), /pending is string/],
      ['no session', (_count, unread) => ({ pending: unread }), /it has no session/],
      ['undefined', () => undefined, /must return \{ session, pending: Buffer \}, got undefined/],
      ['a throw', () => {
        throw new Error('snapshot exploded');
      }, /the app's snapshot\(\) threw: snapshot exploded/],
    ];
    for (const [what, snapshot, reason] of broken) {
      class Broken extends Counter {
        override serve(...args: Parameters<Counter['serve']>): ServedConnection<Count> {
          const [socket] = args;
          const served = super.serve(...args);
          return { socket, snapshot: () => snapshot(served.snapshot().session.count, served.snapshot().pending) as { session: Count; pending: Buffer } };
        }
      }
      const pair = await start<Count>({ app: (generation) => (generation === 1 ? new Broken('v1') : new Counter(`v${generation}`)) });
      const client = await connect(pair.port);
      assert.equal(await client.send('a\n'), 'v1 #1: a');
      await assert.rejects(pair.upgrade(), (error: UpgradeFailedError) => {
        assert.equal(error.code, 'ERR_PAIR_UPGRADE_FAILED', what);
        assert.equal(error.result.outcome, 'rolled-back', what);
        assert.equal((error.result as { code: string }).code, 'ERR_APP_SNAPSHOT', what);
        assert.match((error.result as { reason: string }).reason, reason, what);
        return true;
      });
      assert.equal(pair.generation, 1, what);
      assert.equal(await client.send('b\n'), 'v1 #2: b', `${what}: v1 serves on, reading again`);
      assert.equal(client.closed, false, what);
    }
  });

  it("a next version whose serve() returns no connection: the adopted connections it refused are closed and counted in its log, and close() closes everything", async () => {
    const pair = await start<Count>({
      app: (generation) => (generation === 1 ? new Counter('v1') : ({ serve: (socket: net.Socket) => (socket.on('error', () => {}), undefined) } as unknown as HandoverApp<Count>)),
    });
    const port = pair.port;
    const client = await connect(port);
    assert.equal(await client.send('a\n'), 'v1 #1: a');
    await pair.upgrade();
    await until(5000, () => `the client is closed:\n${pair.logs.join('\n')}`, () => client.closed);
    assert.ok(pair.logs.includes("v2: the app's serve() returned no usable connection for 1 of 1 adopted connections: closed them"), pair.logs.join('\n'));
    assert.equal(pair.current.connections.size, 0);
    await pair.close();
    const refused = await new Promise<string>((resolve) => {
      const probe = net.connect(port, '127.0.0.1');
      probe.once('connect', () => (probe.destroy(), resolve('connected')));
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    assert.equal(refused, 'ECONNREFUSED', 'the listener is closed');
  });

  it("close() closes every version even when one's close fails, then rethrows that failure", async () => {
    class FailingDestroy extends Counter {
      override serve(...args: Parameters<Counter['serve']>): ServedConnection<Count> {
        const [socket] = args;
        const destroy = socket.destroy.bind(socket);
        socket.destroy = (error?: Error) => {
          destroy(error);
          throw new Error('destroy hook failed');
        };
        return super.serve(...args);
      }
    }
    const pair = await startUpgradePair<Count>({ app: () => new FailingDestroy('v1') }); // not in pairs: its close() rejects
    const port = pair.port;
    const client = await connect(port);
    assert.equal(await client.send('a\n'), 'v1 #1: a');
    await assert.rejects(pair.close(), /destroy hook failed/);
    await until(5000, 'the client is closed', () => client.closed);
    assert.ok(!fs.existsSync(pair.stateDir), 'the state dir is removed');
    assert.ok(pair.logs.some((line) => line.startsWith('v1: close: destroying a connection failed: destroy hook failed')), pair.logs.join('\n'));
    assert.ok(pair.logs.includes('pair: closing a version failed: destroy hook failed'), pair.logs.join('\n'));
    const refused = await new Promise<string>((resolve) => {
      const probe = net.connect(port, '127.0.0.1');
      probe.once('connect', () => (probe.destroy(), resolve('connected')));
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    assert.equal(refused, 'ECONNREFUSED', 'the listener is closed');
  });

  it('refuses bad options with a code, and leaves no state dir when the first version cannot start', async () => {
    const dirsBefore = testingDirs();
    const bad: [unknown, string, RegExp][] = [
      [undefined, 'ERR_INVALID_ARG_TYPE', /takes an options object/],
      [{}, 'ERR_INVALID_ARG_TYPE', /options\.app must be a function/],
      [{ app: new Counter('v1') }, 'ERR_INVALID_ARG_TYPE', /options\.app must be a function .*got object/],
      [{ app: () => new Counter('v1'), standbyMs: -1 }, 'ERR_INVALID_ARG_VALUE', /standbyMs must be a non-negative number/],
      [{ app: () => new Counter('v1'), timeoutMs: 0 }, 'ERR_INVALID_ARG_VALUE', /timeoutMs must be a positive number/],
      [{ app: () => null }, 'ERR_INVALID_ARG_TYPE', /app\(1\) must return a HandoverApp .*got null/],
    ];
    for (const [options, code, message] of bad) {
      await assert.rejects(startUpgradePair(options as never), { name: 'FdlabError', code, message }, JSON.stringify(options));
    }
    await assert.rejects(
      startUpgradePair({
        app: () => {
          throw new Error('v1 will not start');
        },
      }),
      /v1 will not start/,
    );
    assert.deepEqual(testingDirs(), dirsBefore, 'no state dir left by a failed start');
  });

  it("'fdlab/testing' resolves through the package's exports and loads only the library (no test framework)", async () => {
    const script = `const t = require('fdlab/testing'); console.log(JSON.stringify({ resolved: require.resolve('fdlab/testing'), exports: Object.keys(t).sort(), loaded: Object.keys(require.cache) }));`;
    const result = await collect(spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(result.code, 0, result.stderr);
    const { resolved, exports, loaded } = JSON.parse(result.stdout) as { resolved: string; exports: string[]; loaded: string[] };
    assert.equal(fs.realpathSync(resolved), path.join(LIBRARY, 'dist', 'testing', 'index.js'));
    assert.deepEqual(exports, ['UpgradeFailedError', 'UpgradePair', 'startUpgradePair']);
    // The library's own files (dist, its package.json, the native addon) and the loader of the addon.
    const outside = loaded.filter((file) => !fs.realpathSync(file).startsWith(LIBRARY + path.sep) && !/node_modules\/node-gyp-build\//.test(file));
    assert.deepEqual(outside, []);
    assert.ok(loaded.some((file) => file.endsWith(path.join('dist', 'testing', 'index.js'))));
  });

  it(`the README example ("${SECTION}") compiles with --strict against 'fdlab' and runs`, async () => {
    const readme = fs.readFileSync(README, 'utf8');
    const start = readme.indexOf(`\n${SECTION}\n`);
    assert.ok(start >= 0, `${path.relative(ROOT, README)} has the section '${SECTION}'`);
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const block = /```ts\n([\s\S]*?)```\n/.exec(section);
    assert.ok(block, 'the section has a ```ts block');
    assert.match(block[1], /from 'fdlab\/testing'/);

    // A project of its own, as a user's: 'fdlab' installed in its node_modules.
    const dir = tempDir('fdlab-testing-example-');
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(LIBRARY, path.join(dir, 'node_modules', 'fdlab'));
    const source = path.join(dir, 'upgrade.test.ts');
    fs.writeFileSync(source, block[1]);
    const program = ts.createProgram([source], {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      lib: ['lib.es2022.d.ts'],
      esModuleInterop: true,
      skipLibCheck: true,
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      types: ['node'],
      outDir: dir,
    });
    const emitted = program.emit();
    const errors = ts.getPreEmitDiagnostics(program).concat(emitted.diagnostics).filter((d) => d.category === ts.DiagnosticCategory.Error);
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' };
    assert.equal(errors.length, 0, ts.formatDiagnostics(errors, host));

    const result = await collect(spawn(process.execPath, [path.join(dir, 'upgrade.test.js')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^upgraded twice; the client saw no disconnect \(\d+ log lines\)$/m);
  });
});
