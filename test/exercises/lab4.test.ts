// lab/lab4/README.md: each exercise and the "what breaks", done as a learner
// would (a flag, a command on the captures, or the quoted edit on a copy)
// and checked against what the lab's page says happens.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syscallLines } from '../../src/strace';
import { tempDir } from '../helpers/fds';
import { sh } from '../helpers/paused-lab';
import { leftBehind, runLabForTest, type LabRun } from '../labs/harness';
import { applyEdits, patchedLab } from './patch';
import { projectRoot } from '../../src/project';

const ROOT = projectRoot();
const GRACEFUL = 'B: graceful restart (fd 3): refused / reset';
const LONG = 'B: long-lived connection cut at the end of the drain';

/** "R refused, S reset ... of N new connections" -> numbers. */
function losses(measured: string): { refused: number; reset: number; opened: number } {
  const match = /^(\d+) refused, (\d+) reset.* of (\d+) new connections/.exec(measured);
  assert.ok(match, measured);
  return { refused: Number(match[1]), reset: Number(match[2]), opened: Number(match[3]) };
}

/** reuseport.py as printed, in a network namespace of its own, with tcp_migrate_req set. */
async function reuseport(script: string, migrate: 0 | 1): Promise<{ accepted: number; reset: number; shared: string }> {
  const { code, output } = await sh(`unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_migrate_req=${migrate}; python3 ${script}'`);
  assert.equal(code, 0, output);
  assert.match(output, new RegExp(`^net.ipv4.tcp_migrate_req = ${migrate}$`, 'm'));
  const two = /^SO_REUSEPORT, two sockets: the new listener accepted (\d+); (\d+) clients were reset$/m.exec(output);
  assert.ok(two, output);
  return { accepted: Number(two[1]), reset: Number(two[2]), shared: /^one socket, two fds.*$/m.exec(output)?.[0] ?? output };
}

describe('lab/lab4/README.md: exercises and what breaks', function () {
  this.timeout(120_000);

  let plain: LabRun;
  before(async function () {
    this.timeout(120_000);
    plain = (await runLabForTest(4, 'process'))!;
  });

  it('lab 4 exercise 1: grep on b-server.strace shows the restart; both pids accept4 on the one 8081 socket', async () => {
    assert.equal(plain.ok, true, JSON.stringify(plain.checks.filter((c) => c.status !== 'pass')));
    const root = path.dirname(path.dirname(plain.capturesDir));
    const { code, output } = await sh(`cd ${root} && grep -E 'bind|listen|kill|execve' captures/lab4/b-server.strace`);
    assert.equal(code, 0, output);
    const calls = syscallLines(fs.readFileSync(path.join(plain.capturesDir, 'b-server.strace'), 'utf8'));
    const gen1 = calls.find((c) => c.syscall === 'bind' && c.args.includes('htons(8081)') && c.result === 0)!.pid;
    const gen2 = calls.find((c) => c.syscall === 'execve' && c.args.includes('--graceful') && c.result === 0)!.pid;
    assert.match(output, new RegExp(`^${gen1} +\\S+ bind\\(\\d+<TCP:\\[\\d+\\]>, \\{sa_family=AF_INET, sin_port=htons\\(8081\\)`, 'm'));
    assert.match(output, new RegExp(`^${gen2} +\\S+ execve\\(.*"--graceful"\\]`, 'm'));
    // strace -f splits a call another process interrupts: "listen(... <unfinished ...>", then "<... listen resumed>) = 0".
    const whole = '(?:\\) = 0| <unfinished \\.\\.\\.>)$';
    assert.match(output, new RegExp(`^${gen2} +\\S+ listen\\(3<TCP:\\[127\\.0\\.0\\.1:8081\\]>, 511${whole}`, 'm'));
    assert.match(output, new RegExp(`^${gen2} +\\S+ kill\\(${gen1}, SIGTERM${whole}`, 'm'));
    for (const call of ['listen', 'kill']) assert.equal(calls.find((c) => c.pid === gen2 && c.syscall === call)?.result, 0, `gen 2's ${call} succeeded`);
    assert.doesNotMatch(output, new RegExp(`^${gen2} +\\S+ bind\\(`, 'm'), 'gen 2 never binds');
    // Both generations accept on the listening socket of 127.0.0.1:8081, each through its own fd number.
    const accepts = (pid: number) => calls.filter((c) => c.pid === pid && c.syscall === 'accept4' && /^\d+<TCP:\[127\.0\.0\.1:8081\]>/.test(c.args) && (c.result ?? -1) >= 0);
    const [byGen1, byGen2] = [accepts(gen1), accepts(gen2)];
    assert.ok(byGen1.length > 0 && byGen2.length > 0, `accept4: gen 1 ${byGen1.length}, gen 2 ${byGen2.length}`);
    assert.match(byGen2[0].args, /^3</, "gen 2 accepts on its fd 3");
    assert.doesNotMatch(byGen1[0].args, /^3</, "gen 1 on the fd it bound");
    const listen = calls.find((c) => c.pid === gen2 && c.syscall === 'listen')!;
    const ms = (t: string) => { const [h, m, s] = t.split(':').map(Number); return ((h * 60 + m) * 60 + s) * 1000; };
    const last1 = byGen1[byGen1.length - 1].time;
    console.log(`      measured: gen 2 listen ${listen.time}, gen 1's last accept4 ${last1}, gen 2's first ${byGen2[0].time} (${(ms(byGen2[0].time) - ms(last1)).toFixed(1)} ms after gen 1's last)`);
    assert.ok(ms(byGen2[0].time) > ms(listen.time), 'gen 2 accepts only after its listen');
  });

  it('lab 4 exercise 2: shutdown(SHUT_RD) on the old listener loses its queue like close(), unless tcp_migrate_req=1', async () => {
    const original = path.join(ROOT, 'lab/lab4/reuseport.py');
    const copy = path.join(tempDir('fdlab-exercise-'), 'reuseport.py');
    fs.writeFileSync(
      copy,
      applyEdits(fs.readFileSync(original, 'utf8'), [['    old.close()  # the old process exits', '    old.shutdown(socket.SHUT_RD)  # the old process exits']], 'reuseport.py'),
    );
    const results: string[] = [];
    for (const script of [original, copy]) {
      const off = await reuseport(script, 0);
      const on = await reuseport(script, 1);
      assert.ok(off.reset > 0 && off.accepted + off.reset === 100, `sysctl 0: accepted ${off.accepted}, reset ${off.reset}`);
      assert.deepEqual([on.accepted, on.reset], [100, 0], 'sysctl 1: all migrated');
      assert.equal(off.shared, 'one socket, two fds (fd passing): the old fd closed; the new fd accepted 100; 0 clients were reset');
      results.push(`${path.basename(path.dirname(script))}: ${off.reset} reset at 0, ${on.reset} at 1`);
    }
    console.log(`      measured: ${results.join('; ')}`);
  });

  it('lab 4 exercise 3: gen 2 sends SIGTERM first and listens 500 ms later: nothing is lost, the queue waits', async () => {
    const edited = patchedLab(4, {
      'echo-server.ts': [
        ['    await adoptServer(3, server);\n', "    process.kill(process.ppid, 'SIGTERM');\n    await new Promise((r) => setTimeout(r, 500));\n    await adoptServer(3, server);\n"],
        ["    process.kill(process.ppid, 'SIGTERM'); // seed 004: os.FindProcess(os.Getppid()).Signal(SIGTERM)\n", ''],
      ],
    });
    const run = (await runLabForTest(edited, 'process'))!;
    const graceful = run.check(GRACEFUL);
    assert.equal(graceful.status, 'pass', graceful.measured);
    assert.deepEqual(losses(graceful.measured), { refused: 0, reset: 0, opened: 800 });
    const log = fs.readFileSync(path.join(run.capturesDir, 'b-server.log'), 'utf8');
    const gen1Stops = log.search(/\(gen 1\): received SIGTERM/);
    const gen2Serves = log.search(/\(gen 2\): serving on inherited fd 3/);
    assert.ok(gen1Stops >= 0 && gen2Serves > gen1Stops, 'gen 1 stopped before gen 2 served');
    console.log(`      measured: ${graceful.measured}`);
  });

  it('lab 4 exercise 4: drainMs 6,000: the long-lived connection is cut 6 s after the restart instead of 2 s', async () => {
    const edited = patchedLab(4, { 'lab.ts': [['  const drainMs = 2000;', '  const drainMs = 6000;']] });
    const run = (await runLabForTest(edited, 'process'))!;
    const long = run.check(LONG);
    assert.equal(long.status, 'pass', long.measured);
    assert.match(long.measured, /^1 of 2 connections closed by the server: .* at its 6000 ms drain timeout; reconnected to b-server\[\d+\]$/);
    const cut = /server closed it \(end of stream\) at t=([\d.]+) s/.exec(fs.readFileSync(path.join(run.capturesDir, 'b-long.log'), 'utf8'));
    assert.ok(cut, 'the long-lived client saw the cut');
    const plainCut = /server closed it \(end of stream\) at t=([\d.]+) s/.exec(fs.readFileSync(path.join(plain.capturesDir, 'b-long.log'), 'utf8'))!;
    assert.ok(Number(cut[1]) - Number(plainCut[1]) > 3, `cut at t=${cut[1]} s against t=${plainCut[1]} s with 2,000 ms`);
    console.log(`      measured: cut at t=${cut[1]} s (t=${plainCut[1]} s with drainMs 2000)`);
  });

  it('lab 4 what breaks: the naive restart refuses connections in every run', () => {
    const naive = plain.check('naive restart (close, 300 ms, bind) loses connections, as expected');
    assert.equal(naive.status, 'pass');
    const { refused, reset, opened } = losses(naive.measured);
    assert.ok(refused > 0 && opened === 800, naive.measured);
    console.log(`      measured: ${refused} refused, ${reset} reset of ${opened}`);
  });

  it('lab 4 what breaks: --fault no-fd3: the three restart checks fail, each saying what happened and why', async () => {
    const run = (await runLabForTest(4, 'process', { fault: 'no-fd3' }))!;
    const failedRows = run.checks.filter((c) => c.status === 'fail');
    assert.deepEqual(failedRows.map((c) => c.name), [GRACEFUL, LONG, "strace B: gen 2 exec'd with --graceful, listens on fd 3 without bind, SIGTERMs gen 1"]);
    const why = /gen 2 \(pid \d+\): cannot serve: adoptServer: fd 3 is something else \(anon_inode:\[eventpoll\]\), not a listening stream socket/;
    const [graceful, long, strace] = failedRows.map((c) => c.measured);
    assert.match(graceful, /^0 refused, 0 reset of 800 new connections; answered: b-server\[\d+\] 800; no restart happened: /);
    assert.match(graceful, why);
    assert.match(graceful, /, so gen 1 answered all 800$/);
    assert.match(long, /^not cut: 1 connection\(s\), served by b-server\[\d+\] \(\d+ echoes\) until the client stopped; gen 1 never drained, because no successor took over$/);
    assert.doesNotMatch(long, /drain timeout/, 'no cut that did not happen');
    assert.match(strace, /listen\(3<TCP:\[127\.0\.0\.1:8081\]>\) = not seen, kill\(\d+, SIGTERM\) = not seen; gen 2 never listened or signalled: /);
    assert.match(strace, why);
    assert.match(
      run.check('B (--fault no-fd3): gen 1 kept serving when its successor failed').measured,
      /^gen 2 \(pid \d+\): cannot serve: adoptServer: fd 3 is .*not a listening stream socket; exiting \(my parent goes on serving\); gen 1 answered 800 of 800$/,
    );
    assert.deepEqual(await leftBehind(run), [], 'processes left behind');
  });
});
