// What timeline.html draws, read from real captures (test/fixtures/strace/captures):
// one bundle per message that carried fds, with the sendmsg's count; runs of like
// calls that never swallow the calls a lab's story rests on; every call drawn once.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { buildTimeline, markKeyCalls, parseCapture, readCaptures, type Timeline } from '../../src/strace';
import { MIN_RUN, planRows } from '../../src/strace/bundles';
import { projectPath } from '../../src/project';

const CAPTURES = projectPath('test', 'fixtures', 'strace', 'captures');
const load = (name: string): Timeline => buildTimeline(readCaptures(path.join(CAPTURES, name)));
const drawable = (t: Timeline) => t.events.filter((e) => !e.noise && e.lane >= 0);

describe('timeline.html rows and bundles (real captures)', () => {
  it('lab 5: one bundle per sendmsg with fds, its count the sendmsg\'s, named by what it carried', () => {
    const t = load('lab5');
    const { bundles } = planRows(t, drawable(t));
    const sent = readCaptures(path.join(CAPTURES, 'lab5')).filter((c) => c.role === 'server-v1').flatMap((c) => parseCapture(c.text)).filter((e) => e.syscall === 'sendmsg' && e.fdCount > 0);
    assert.deepEqual(bundles.map((b) => b.count), sent.map((e) => e.fdCount));
    assert.deepEqual(bundles.map((b) => b.label), sent.map((e) => (e.fdCount === 1 ? '1 fd: listener' : `${e.fdCount} fds: ${e.fdCount} connections`)));
    assert.equal(bundles.reduce((n, b) => n + b.handovers.length, 0), t.handovers.length, 'every handed-over fd in one bundle');
    for (const b of bundles) assert.ok(b.handovers.every((h) => t.handovers[h].from === b.from && t.handovers[h].to === b.to));
  });

  it('lab 5: the accept4 calls before the handover are one run; fd passing, bind, listen and SIGUSR2 are rows of their own', () => {
    const t = load('lab5');
    const drawn = drawable(t);
    const { rows, runs } = planRows(t, drawn);
    const accepts = drawn.filter((e) => e.syscall === 'accept4' && e.micros < t.events[t.handovers[0].from!].micros);
    assert.ok(accepts.length >= MIN_RUN);
    const first = runs.find((r) => r.events.includes(accepts[0].id))!;
    assert.ok(first, 'the first accept4 is in a run');
    assert.match(first.lanes[0].summary, /^accept4 ×\d+ on fd \d+ → fd \d+…\d+/);
    for (const run of runs) {
      for (const id of run.events) {
        const e = t.events[id];
        assert.ok(e.fds === undefined && !['bind', 'listen', 'connect', 'execve', 'kill', 'exit', 'openat'].includes(e.syscall), `${e.summary} is not folded`);
        if (e.syscall === 'signal') assert.match(e.summary, /SIG(?:WINCH|CHLD)/);
      }
    }
    // Every call drawn is on exactly one row, in time order.
    const shown = rows.flatMap((r) => (r.kind === 'event' ? [r.event] : []));
    assert.deepEqual(shown, drawn.map((e) => e.id));
  });

  it('lab 1: nothing folded (no four like calls in a row), one bundle: the file', () => {
    const t = load('lab1');
    const { rows, runs, bundles } = planRows(t, drawable(t));
    assert.deepEqual(runs, []);
    assert.equal(rows.filter((r) => r.kind === 'event').length, drawable(t).length);
    assert.deepEqual(bundles.map((b) => b.label), ['1 fd: file tmp.txt']);
  });

  it('dups of the connections about to be sent are one run, a dup and the close of its source one row (two lanes interleaved too), a key call never in a run (literal lines)', () => {
    const T = (n: number) => `10:00:00.${String(n).padStart(6, '0')}`;
    const tcp = (fd: number) => `${fd}<TCP:[127.0.0.1:7000->127.0.0.1:${51000 + fd}]>`;
    const unix = (fd: number) => `${fd}<UNIX-STREAM:[900->901,"/tmp/up.sock"]>`;
    const lines = [
      `100 ${T(1)} socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 19<TCP:[555]>`,
      `100 ${T(2)} listen(19<TCP:[127.0.0.1:7000]>, 511) = 0`,
      ...[20, 21, 22, 23, 24].map((fd, i) => `100 ${T(10 + i)} accept4(19<TCP:[127.0.0.1:7000]>, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = ${tcp(fd)}`),
      ...[0, 1, 2, 3, 4].map((i) => `100 ${T(20 + i)} read(${tcp(20)}, "ping", 65536) = ${i === 2 ? 5 : 4}`),
      `100 ${T(30)} socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 30<UNIX-STREAM:[900]>`,
      `100 ${T(31)} connect(30<UNIX-STREAM:[900]>, {sa_family=AF_UNIX, sun_path="/tmp/up.sock"}, 15) = 0`,
      `100 ${T(32)} fcntl(${unix(30)}, F_DUPFD_CLOEXEC, 0) = ${unix(31)}`,
      `100 ${T(34)} close(${unix(30)}) = 0`,
      ...[20, 21, 22, 23, 24].map((fd, i) => `100 ${T(40 + i)} fcntl(${tcp(fd)}, F_DUPFD_CLOEXEC, 0) = ${tcp(40 + i)}`),
      `100 ${T(50)} sendmsg(${unix(31)}, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="x", iov_len=1}], msg_iovlen=1, msg_control=[{cmsg_len=36, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[${[40, 41, 42, 43, 44].map(tcp).join(', ')}]}], msg_controllen=40, msg_flags=0}, 0) = 1`,
      ...[40, 41, 42, 43, 44].map((fd, i) => `100 ${T(60 + i)} close(${tcp(fd)}) = 0`),
    ];
    // The other end moves its fd at the same moment: dup, dup, close, close (lab 5's channel in Docker).
    const peer = (fd: number) => `${fd}<UNIX-STREAM:[901->900]>`;
    const other = [
      `200 ${T(29)} socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 18<UNIX-STREAM:[901]>`,
      `200 ${T(33)} fcntl(${peer(18)}, F_DUPFD_CLOEXEC, 0) = ${peer(19)}`,
      `200 ${T(35)} close(${peer(18)}) = 0`,
      `200 ${T(36)} write(${peer(19)}, "hello", 5) = 5`,
    ];
    const t = buildTimeline([{ role: 'v1', text: lines.join('\n') + '\n' }, { role: 'v2', text: other.join('\n') + '\n' }]);
    const [key] = markKeyCalls(t, [{ what: 'the 5-byte read', syscall: 'read', summary: /: 5 bytes$/ }]);
    assert.equal(key.events.length, 1);
    const drawn = drawable(t);
    const { rows, runs } = planRows(t, drawn);
    const summaries = runs.map((r) => r.lanes.map((l) => l.summary).join(' | '));
    assert.ok(summaries.includes('dup ×5 TCP fd 20…24 → fd 40…44'), summaries.join('\n'));
    assert.ok(summaries.includes('dup + close: fd 30 unix → fd 31 | dup + close: fd 18 unix → fd 19'), summaries.join('\n'));
    assert.ok(summaries.some((s) => /^accept4 ×5 on fd 19 → fd 20…24/.test(s)), summaries.join('\n'));
    // The key read is a row of its own (the reads before it are too few to be a run, the ones after it too).
    const shownRow = (id: number) => rows.find((r) => r.kind === 'event' && r.event === id && r.run === undefined);
    assert.ok(shownRow(key.events[0]), 'the key read is not folded');
    assert.ok(shownRow(drawn.find((e) => e.syscall === 'sendmsg')!.id), 'the sendmsg is not folded');
    for (const run of runs) for (const id of run.events) assert.ok(!t.events[id].key && t.events[id].fds === undefined, `${t.events[id].summary} folded`);
    // Every call drawn is on exactly one row, in time order.
    assert.deepEqual(rows.flatMap((r) => (r.kind === 'event' ? [r.event] : [])), drawn.map((e) => e.id));
  });
});
