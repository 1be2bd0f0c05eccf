// The timeline read from real captures recorded from the labs and the strace
// fixtures (test/fixtures/strace/captures, made by record.ts), checked against
// what the same runs printed about themselves (their logs and reports).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTimeline, fdStoryProblems, markKeyCalls, readCaptures, syscallLines, timelineRows, timelineText, type Timeline } from '../../src/strace';
import type { PassFdsReport } from '../fixtures/strace/pass-fds';
import { projectPath } from '../../src/project';

const CAPTURES = projectPath('test', 'fixtures', 'strace', 'captures');

function load(name: string): Timeline {
  return buildTimeline(readCaptures(path.join(CAPTURES, name)));
}

function read(name: string, file: string): string {
  return fs.readFileSync(path.join(CAPTURES, name, file), 'utf8');
}

const arrows = (t: Timeline) => t.handovers.map((h) => [t.events[h.from!].role, h.fromFd, t.events[h.to!].role, h.toFd]);

describe('strace timeline (real captures)', () => {
  it('lab 1: two lanes, one arrow from the sender\'s fd to the receiver\'s, the numbers both logs printed', () => {
    const t = load('lab1');
    const sent = Number(/sent fd (\d+)/.exec(read('lab1', 'sender.log'))![1]);
    const received = Number(/received fd (\d+)/.exec(read('lab1', 'receiver.log'))![1]);
    assert.deepEqual(t.lanes.map((l) => l.role).sort(), ['receiver', 'sender']);
    assert.deepEqual(arrows(t), [['sender', sent, 'receiver', received]]);
    const file = /opened (\S+) as fd/.exec(read('lab1', 'sender.log'))![1];
    assert.equal(t.objects.find((o) => o.id === t.handovers[0].object)?.label, file);
    // The listener's bind and listen are on the receiver's lane; the connect on the sender's.
    const key = t.events.filter((e) => !e.noise).map((e) => `${e.role} ${e.syscall}`);
    for (const call of ['receiver bind', 'receiver listen', 'receiver accept4', 'sender connect']) assert.ok(key.includes(call), call);
  });

  it('lab 1: the sendmsg\'s 13 bytes are a 10-byte FdChannel header and "boy"', () => {
    const t = load('lab1');
    const send = t.events[t.handovers[0].from!];
    assert.deepEqual(send.frames, ['frame at byte 0: header [fd 1a 01 00 00 01 00 00 00 03] = magic fd1a, version 1, flags 0, 1 fd, payload 3 bytes: "boy"']);
    assert.match(send.line, /iov_base="\\375\\32\\1\\0\\0\\1\\0\\0\\0\\3boy"/);
  });

  it('folds start-up noise without losing a call: every syscall line of the captures is an event', () => {
    const t = load('lab1');
    const calls = readCaptures(path.join(CAPTURES, 'lab1')).reduce((n, c) => n + syscallLines(c.text).length, 0);
    assert.equal(t.events.filter((e) => e.syscall !== 'signal' && e.syscall !== 'exit').length, calls);
    assert.ok(t.noiseCount > 200, `${t.noiseCount} folded`);
    // Loading node and its modules is noise; the lab's own file is not.
    const opened = t.events.filter((e) => e.syscall === 'openat');
    assert.ok(opened.filter((e) => /\.js"/.test(e.line)).every((e) => e.noise));
    assert.ok(opened.some((e) => !e.noise && /tmp\.txt/.test(e.line)));
  });

  it('lab 5: the listener and every connection are one arrow each, v1 to v2, in one message', () => {
    const t = load('lab5');
    const v1 = read('lab5', 'server-v1.log');
    const connections = Number(/sent the listener and (\d+) connections/.exec(v1)![1]);
    const fromV1 = t.handovers.filter((h) => t.events[h.from!].role === 'server-v1' && t.events[h.to!].role === 'server-v2');
    assert.equal(fromV1.length, connections + 1);
    // Arrows pair fds by the same endpoints: the listener is 127.0.0.1:7000 on both sides.
    const listener = t.objects.find((o) => o.label === 'TCP 127.0.0.1:7000');
    assert.ok(listener && fromV1.some((h) => h.object === listener.id));
    assert.ok(t.events.some((e) => e.role === 'server-v1' && e.summary === 'got SIGUSR2' + e.summary.slice(11)));
  });

  it('a call split by -f (<unfinished ...> / <... resumed>) is one event with both lines, at its start time', () => {
    const t = load('one-run');
    const report = JSON.parse(read('one-run', 'report.json')) as PassFdsReport;
    const split = t.events.find((e) => e.syscall === 'recvmsg' && e.line.includes('<unfinished ...>'));
    assert.ok(split, 'the capture has a split recvmsg');
    assert.equal(split.line.split('\n').length, 2);
    assert.match(split.line.split('\n')[1], /<\.\.\. recvmsg resumed>/);
    assert.equal(split.time, /^\d+ (\S+)/.exec(split.line)![1]);
    const file = t.handovers.find((h) => h.to === split.id);
    assert.deepEqual([file?.fromFd, file?.toFd], [report.sender.file, report.receiver.file]);
  });

  it('bare inodes from another network namespace: the receiver\'s TCP:[inode] is the sender\'s connection', () => {
    const t = load('two-roles');
    const report = JSON.parse(read('two-roles', 'report.json')) as PassFdsReport;
    assert.match(read('two-roles', 'receiver.strace'), new RegExp(`${report.receiver.tcp}<TCP:\\[${report.receiver.tcpInode}\\]>`));
    const tcp = t.handovers.find((h) => h.fromFd === report.sender.tcp && h.toFd === report.receiver.tcp);
    assert.ok(tcp, 'an arrow from the sender\'s TCP fd to the receiver\'s');
    const object = t.objects.find((o) => o.id === tcp.object)!;
    assert.equal(object.label, `TCP ${report.sender.local}->${report.sender.remote}`);
    // The receiver's later calls on that fd (by inode only) belong to the same object.
    assert.ok(t.events.filter((e) => e.role === 'receiver' && e.objects.includes(object.id)).length >= 1);
    // 300 fds: one arrow each that strace printed on at least one side (it prints 128 per array).
    assert.equal(t.handovers.length, 1 + 1 + 253 + 47);
  });

  it('several control messages in one sendmsg: one arrow per fd, in order', () => {
    const t = load('two-cmsgs');
    const output = read('two-cmsgs', 'output.txt');
    const sent = JSON.parse(/sent (\[.*\])/.exec(output)![1]) as number[];
    const received = JSON.parse(/received two (\[.*\])/.exec(output)![1]) as number[];
    assert.match(read('two-cmsgs', 'two-cmsgs.strace'), /cmsg_type=SCM_RIGHTS.*\}, \{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS/);
    assert.deepEqual(t.handovers.map((h) => [h.fromFd, h.toFd]), sent.map((fd, i) => [fd, received[i]]));
  });

  it('the terminal timeline is a few lines: lanes, arrows with both fd numbers, merged runs', () => {
    const t = load('lab5');
    const lines = timelineText(t, { width: 100 });
    assert.ok(lines.length <= 24, lines.join('\n'));
    assert.match(lines[0], /server-v1 · pid \d+ +server-v2 · pid \d+/);
    const listener = t.handovers.find((h) => t.objects.find((o) => o.id === h.object)?.label === 'TCP 127.0.0.1:7000')!;
    assert.ok(lines.some((l) => l.includes(`fd ${listener.fromFd} ━`) && l.includes(`▶ fd ${listener.toFd}`)), lines.join('\n'));
    assert.ok(lines.some((l) => / ×\d+/.test(l)), 'runs of one call are merged');
    assert.ok(lines.every((l) => l.length <= 100), lines.join('\n'));
  });

  // The lab 1 fixture was recorded before the calls that make fds were traced: the sender's channel,
  // fd 20, was made by an untraced dup. The lane may not use it silently: it says where it is from.
  it('a capture without the call that made an fd: the lane says the fd was there before (not "from nowhere")', () => {
    const t = load('lab1');
    const rows = timelineRows(t, { width: 100 });
    assert.deepEqual(fdStoryProblems(t, rows), []);
    assert.ok(rows.some((r) => /\(fd 20 inherited\)/.test(r.text)), rows.map((r) => r.text).join('\n'));
  });

  it('×N merges only identical calls: three closes of three fds are three rows', () => {
    const t = load('lab1');
    const rows = timelineRows(t, { width: 100, maxRows: 100 });
    for (const row of rows.filter((r) => / ×\d+/.test(r.text) && !/accept4|dup ×/.test(r.text))) {
      assert.equal(new Set(row.events.map((id) => t.events[id].summary)).size, 1, row.text);
    }
    // The receiver's three closes at its end (tmp.txt, the channel, the listener) each have a row.
    const closes = rows.filter((r) => r.events.some((id) => t.events[id].role === 'receiver' && t.events[id].syscall === 'close'));
    assert.ok(closes.length >= 3, closes.map((r) => r.text).join('\n'));
  });
});

describe('strace timeline: where each fd came from (literal lines)', () => {
  const capture = (lines: string[]) => buildTimeline([{ role: 'r', text: lines.join('\n') + '\n' }]);
  const T = (n: number) => `10:00:00.${String(n).padStart(6, '0')}`;

  it('a dup makes the number the next call uses; a thread\'s calls are its process\'s lane; an fd no call made is inherited', () => {
    const t = capture([
      `100 ${T(1)} clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0} => {parent_tid=[101]}, 88) = 101`,
      `100 ${T(2)} socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 18<TCP:[555]>`,
      `100 ${T(3)} connect(18<TCP:[555]>, {sa_family=AF_INET, sin_port=htons(9999), sin_addr=inet_addr("127.0.0.1")}, 16) = 0`,
      `101 ${T(4)} fcntl(18<TCP:[127.0.0.1:4000->127.0.0.1:9999]>, F_DUPFD_CLOEXEC, 0) = 19<TCP:[127.0.0.1:4000->127.0.0.1:9999]>`,
      `100 ${T(5)} close(18<TCP:[127.0.0.1:4000->127.0.0.1:9999]>) = 0`,
      `100 ${T(6)} write(19<TCP:[127.0.0.1:4000->127.0.0.1:9999]>, "hi", 2) = 2`,
      `100 ${T(7)} listen(3<TCP:[127.0.0.1:7000]>, 511) = 0`,
    ]);
    assert.equal(t.lanes.length, 1, 'the thread is on its process\'s lane');
    const rows = timelineRows(t, { width: 100 });
    assert.deepEqual(fdStoryProblems(t, rows), []);
    const text = rows.map((r) => r.text).join('\n');
    assert.match(text, /dup \+ close: fd 18 TCP → fd 19  127\.0\.0\.1:4000->127\.0\.0\.1:9999\n.*write fd 19 TCP/);
    assert.match(text, /\(fd 3 inherited\) listen fd 3 TCP 127\.0\.0\.1:7000/);
    const write = t.events.find((e) => e.syscall === 'write')!;
    assert.deepEqual(write.fdOrigins, [{ fd: 19, how: 'created', by: t.events.find((e) => e.syscall === 'fcntl')!.id }]);
  });

  it('a forked child starts with its parent\'s fds, and its lane says so', () => {
    const t = capture([
      `100 ${T(1)} socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 18<TCP:[555]>`,
      `100 ${T(2)} bind(18<TCP:[555]>, {sa_family=AF_INET, sin_port=htons(7000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0`,
      `100 ${T(3)} clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 200`,
      `200 ${T(4)} dup2(18<TCP:[127.0.0.1:7000]>, 3) = 3<TCP:[127.0.0.1:7000]>`,
      `200 ${T(5)} listen(3<TCP:[127.0.0.1:7000]>, 511) = 0`,
    ]);
    assert.deepEqual(t.lanes.map((l) => l.pid), [100, 200]);
    const rows = timelineRows(t, { width: 100 });
    assert.deepEqual(fdStoryProblems(t, rows), []);
    assert.match(rows.map((r) => r.text).join('\n'), /\(fd 18 from parent\) dup2 fd 18 TCP → fd 3\n.*listen fd 3 TCP/);
  });

  it('a key call is never folded, whatever maxRows says; the call that made its fd comes with it', () => {
    const lines = [`100 ${T(1)} openat(AT_FDCWD</w>, "/tmp/x/tmp.txt", O_RDONLY|O_CLOEXEC) = 17</tmp/x/tmp.txt>`];
    for (let i = 0; i < 30; i++) lines.push(`100 ${T(10 + i)} bind(${20 + i}<TCP:[${900 + i}]>, {sa_family=AF_INET, sin_port=htons(${7000 + i}), sin_addr=inet_addr("127.0.0.1")}, 16) = 0`);
    lines.push(`100 ${T(90)} read(17</tmp/x/tmp.txt>, "hello", 5) = 5`);
    const t = capture(lines);
    const [marked] = markKeyCalls(t, [{ what: 'the read', syscall: 'read', summary: /5 bytes$/ }]);
    assert.equal(marked.events.length, 1);
    const text = timelineText(t, { width: 100, maxRows: 3 }).join('\n');
    assert.match(text, /openat tmp\.txt → fd 17\n(?:.*\n)*.*read fd 17 tmp\.txt: 5 bytes/);
  });

  // Lab 2's client (real lines, shortened): fdlab moves fd 18 to 19 (dup, close 18), hands 19 over, closes it.
  const TCP = '<TCP:[127.0.0.1:35992->127.0.0.1:9999]>';
  const CHANNEL = '<UNIX-STREAM:[47->50]>';
  const PEER = '<UNIX-STREAM:[50->47,"/tmp/x/channel"]>';
  const message = (call: string, fd: string, fds: string) =>
    `${call}(${fd}, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="\\375\\32\\1\\0\\0\\1\\0\\0\\0\\7migrate", iov_len=17}], msg_iovlen=1, msg_control=[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[${fds}]}], msg_controllen=24, msg_flags=0}, MSG_NOSIGNAL) = 17`;
  const handover = () =>
    buildTimeline([
      {
        role: 'client',
        text: [
          `100 ${T(1)} socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 18<TCP:[555]>`,
          `100 ${T(2)} connect(18<TCP:[555]>, {sa_family=AF_INET, sin_port=htons(9999), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)`,
          `100 ${T(3)} fcntl(18${TCP}, F_DUPFD_CLOEXEC, 0) = 19${TCP}`,
          `100 ${T(4)} close(18${TCP}) = 0`,
          `100 ${T(5)} socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 18<UNIX-STREAM:[47]>`,
          `100 ${T(6)} connect(18<UNIX-STREAM:[47]>, {sa_family=AF_UNIX, sun_path="/tmp/x/channel"}, 110) = 0`,
          `100 ${T(7)} fcntl(18${CHANNEL}, F_DUPFD_CLOEXEC, 0) = 20${CHANNEL}`,
          `100 ${T(8)} close(18${CHANNEL}) = 0`,
          ...Array.from({ length: 20 }, (_, i) => `100 ${T(10 + i)} write(19${TCP}, "hello", 5) = ${i % 2 ? 5 : 4}`),
          `100 ${T(40)} ${message('sendmsg', `20${CHANNEL}`, `19${TCP}`)}`,
          `100 ${T(41)} close(19${TCP}) = 0`,
          `100 ${T(42)} close(20${CHANNEL}) = 0`,
        ].join('\n') + '\n',
      },
      {
        role: 'server',
        text: [
          `200 ${T(50)} ${message('recvmsg', `20${PEER}`, `19${TCP}`).replace('MSG_NOSIGNAL', 'MSG_CMSG_CLOEXEC')}`,
          `200 ${T(51)} write(19${TCP}, "hi", 2) = 2`,
        ].join('\n') + '\n',
      },
    ]);

  it('a dup and the close of its source are one row; the close of an fd that was handed over is never folded', () => {
    const t = handover();
    assert.equal(t.handovers.length, 1);
    const rows = timelineRows(t, { width: 100, maxRows: 2 });
    assert.deepEqual(fdStoryProblems(t, rows), []);
    const text = rows.map((r) => r.text).join('\n');
    assert.match(text, /dup \+ close: fd 18 TCP → fd 19  127\.0\.0\.1:35992->127\.0\.0\.1:9999/, text);
    // No close of fd 18 TCP on a row of its own: the connection lives on as fd 19.
    assert.ok(!rows.some((r) => /^\s*\S+ m?s\s+close fd 18 TCP/.test(r.text)), text);
    // The sender's close of what it handed over, after the sendmsg, on a line (maxRows 2 notwithstanding).
    const close19 = t.events.find((e) => e.syscall === 'close' && e.summary.startsWith('close fd 19 TCP'))!;
    const row = rows.findIndex((r) => r.events.includes(close19.id));
    const send = rows.findIndex((r) => r.events.includes(t.handovers[0].from!));
    assert.ok(row > send && send >= 0 && rows[row].events.length === 1, text);
    assert.match(rows[row].text, /close fd 19 TCP 127\.0\.0\.1:35992/);
  });

  it('a failed call keeps its error when cut; a forked lane is its role\'s child; a header that would cut a pid goes on two lines', () => {
    const lines = (role: string, pid: number, from: number) => [
      `${pid} ${T(from)} socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 18<TCP:[12413419]>`,
      `${pid} ${T(from + 1)} bind(18<TCP:[12413419]>, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EADDRINUSE (Address already in use)`,
    ];
    const t = buildTimeline(
      [
        { role: 'a-parent', text: [`18 ${T(1)} clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 25`, `18 ${T(2)} kill(25, SIGTERM) = 0`, ...lines('a-parent', 25, 3)].join('\n') + '\n' },
        { role: 'a-stranger-with-a-long-name', text: lines('a-stranger', 18, 10).join('\n') + '\n' },
      ],
      { pids: [{ role: 'a-parent', pid: 18, hostPid: 1301234 }, { role: 'a-stranger-with-a-long-name', pid: 18, hostPid: 1302345 }] },
    );
    assert.deepEqual(t.lanes.map((l) => l.name), ['a-parent', 'a-parent child', 'a-stranger-with-a-long-name']);
    const rows = timelineRows(t, { width: 100 });
    const text = rows.map((r) => r.text).join('\n');
    assert.ok(rows.every((r) => r.text.length <= 100), text);
    // Two header lines: the names, then each pid whole with its host pid.
    assert.match(rows[0].text, /^\s+a-parent\s+a-parent child\s+a-stranger-with-a-long-name$/, text);
    assert.match(rows[1].text, /^\s+pid 18 \(host 1301234\)\s+pid 25\s+pid 18 \(host 1302345\)$/, text);
    const binds = rows.filter((r) => r.events.some((id) => t.events[id].syscall === 'bind'));
    assert.equal(binds.length, 2, text);
    for (const bind of binds) assert.match(bind.text, /bind fd 18 TCP.*… = EADDRINUSE$|bind fd 18 TCP 127\.0\.0\.1:8080 = EADDRINUSE$/, text);
    assert.ok(!/inode 12413419/.test(text), 'a failed bind names no inode');
  });

  it('a merged ×N row that spans time shows from when to when', () => {
    const spread = buildTimeline([
      {
        role: 'r',
        text: [`100 10:00:00.000000 listen(3<TCP:[127.0.0.1:7000]>, 511) = 0`, ...[0, 1, 2, 3, 4].map((i) => `100 10:00:0${1 + i}.350000 write(19${TCP}, "hello", 22) = 22`)].join('\n') + '\n',
      },
    ]);
    const spanned = timelineRows(spread, { width: 100 }).map((r) => r.text);
    assert.ok(spanned.some((l) => /^1\.35–5\.35 s (?:\(fd 19 inherited\) )?write fd 19 TCP .*: 22 bytes ×5$/.test(l)), spanned.join('\n'));
    // Calls within one printed time keep the single time.
    const close = buildTimeline([{ role: 'r', text: [1, 2, 3].map((i) => `100 10:00:00.00000${i} write(19${TCP}, "hello", 22) = 22`).join('\n') + '\n' }]);
    assert.ok(timelineRows(close, { width: 100 }).some((r) => /^\s+0\.0 ms  (?:\(fd 19 inherited\) )?write fd 19 TCP .* ×3$/.test(r.text)), timelineRows(close, { width: 100 }).map((r) => r.text).join('\n'));
  });

  it('a close split by another thread\'s call frees its number when it starts: the socket that gets the number is not closed', () => {
    const t = capture([
      `100 ${T(1)} clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0} => {parent_tid=[101]}, 88) = 101`,
      `101 ${T(2)} close(17<pipe:[4242]> <unfinished ...>`,
      `100 ${T(3)} socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 17<TCP:[555]>`,
      `101 ${T(4)} <... close resumed>) = 0`,
      `100 ${T(5)} bind(17<TCP:[555]>, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EADDRINUSE (Address already in use)`,
    ]);
    const bind = t.events.find((e) => e.syscall === 'bind')!;
    assert.deepEqual(bind.fdOrigins, [{ fd: 17, how: 'created', by: t.events.find((e) => e.syscall === 'socket')!.id }]);
    assert.deepEqual(fdStoryProblems(t, timelineRows(t, { width: 100 })), []);
  });

  it('fdStoryProblems catches an fd used after its close with no traced call making it again', () => {
    const t = capture([
      `100 ${T(1)} socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 20<UNIX-STREAM:[7]>`,
      `100 ${T(2)} connect(20<UNIX-STREAM:[7]>, {sa_family=AF_UNIX, sun_path="/tmp/x.sock"}, 110) = 0`,
      `100 ${T(3)} close(20<UNIX-STREAM:[7->8]>) = 0`,
      `100 ${T(4)} sendmsg(20<UNIX-STREAM:[9->10]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="x", iov_len=1}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL) = 1`,
    ]);
    const problems = fdStoryProblems(t, timelineRows(t, { width: 100 }));
    assert.deepEqual(problems.map((p) => p.replace(/^.*: /, '')), ['fd 20 was closed before and no traced call made it again']);
  });
});
