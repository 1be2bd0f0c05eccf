// The timeline read from real captures recorded from the labs and the strace
// fixtures (test/fixtures/strace/captures, made by record.ts), checked against
// what the same runs printed about themselves (their logs and reports).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTimeline, readCaptures, syscallLines, timelineText, type Timeline } from '../../src/strace';
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
});
