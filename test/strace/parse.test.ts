import { strict as assert } from 'node:assert';
import { parseCapture, syscallLines, type FdPassingEvent } from '../../src/strace';
import type { PassFdsReport } from '../fixtures/strace/pass-fds';
import { captureOneRun } from './capture';

describe('strace capture parsing (real strace)', function () {
  this.timeout(30_000);
  let capture: string;
  let report: PassFdsReport;
  let sent: FdPassingEvent[];
  let received: FdPassingEvent[];

  before(async () => {
    ({ capture, report } = await captureOneRun());
    const events = parseCapture(capture);
    sent = events.filter((event) => event.pid === report.sender.pid);
    received = events.filter((event) => event.pid === report.receiver.pid);
  });

  it('finds each sendmsg that carried fds: a file, a TCP socket, and 300 fds in two frames', () => {
    assert.deepEqual(
      sent.map((event) => [event.syscall, event.channelFd, event.fdCount]),
      [
        ['sendmsg', report.sender.channel, 1],
        ['sendmsg', report.sender.channel, 1],
        ['sendmsg', report.sender.channel, 253],
        ['sendmsg', report.sender.channel, 47],
      ],
    );
    const [file, tcp, first, second] = sent;
    assert.deepEqual(file.fds, [
      { fd: report.sender.file, kind: 'file', path: report.sender.path, raw: `${report.sender.file}<${report.sender.path}>` },
    ]);
    assert.equal(file.bytes, 1);
    assert.deepEqual(
      { fd: tcp.fds[0].fd, kind: tcp.fds[0].kind, local: tcp.fds[0].local, remote: tcp.fds[0].remote },
      { fd: report.sender.tcp, kind: 'tcp', local: report.sender.local, remote: report.sender.remote },
    );
    assert.match(file.channel, /^UNIX-STREAM:\[\d+->\d+\]$/);
    // strace -s 128 prints 128 elements of an array, then "...": the count comes from cmsg_len.
    assert.equal(first.fds.length, 128);
    assert.equal(second.fds.length, 47);
    assert.ok([...first.fds, ...second.fds].every((fd) => fd.fd === report.sender.file && fd.path === report.sender.path));
  });

  it('finds the recvmsg calls, with the numbers the receiver got', () => {
    assert.deepEqual(
      received.map((event) => [event.syscall, event.fdCount]),
      [
        ['recvmsg', 1],
        ['recvmsg', 1],
        ['recvmsg', 253],
        ['recvmsg', 47],
      ],
    );
    const [file, tcp, first, second] = received;
    assert.equal(file.fds[0].fd, report.receiver.file);
    assert.equal(file.fds[0].path, report.sender.path);
    assert.deepEqual(
      { fd: tcp.fds[0].fd, kind: tcp.fds[0].kind, local: tcp.fds[0].local, remote: tcp.fds[0].remote },
      { fd: report.receiver.tcp, kind: 'tcp', local: report.sender.local, remote: report.sender.remote },
    );
    assert.deepEqual(
      [...first.fds, ...second.fds].map((fd) => fd.fd),
      [...report.receiver.many.slice(0, 128), ...report.receiver.many.slice(253)],
    );
    assert.equal(report.receiver.many.length, 300);
  });

  it('joins the recvmsg that strace -f split into <unfinished ...> and <... recvmsg resumed>', () => {
    const split = received[0];
    assert.match(split.line, /recvmsg\(3<UNIX-STREAM:\[[^\n]*<unfinished \.\.\.>\n.*<\.\.\. recvmsg resumed>/);
    assert.equal(split.bytes, 1);
    assert.equal(split.fds[0].fd, report.receiver.file);
  });

  it('leaves out calls without SCM_RIGHTS and failed ones (EAGAIN)', () => {
    const all = syscallLines(capture);
    assert.ok(all.some((call) => call.errno === 'EAGAIN'), 'the capture has a non-blocking recvmsg that failed');
    assert.ok(all.some((call) => call.syscall === 'sendmsg' && call.pid === report.receiver.pid), 'the answer, sent without fds');
    assert.equal(parseCapture(capture).length, 8);
  });

  it('lists every call of one syscall with its pid', () => {
    const calls = syscallLines(capture, 'recvmsg');
    assert.ok(calls.length >= 6);
    assert.ok(calls.every((call) => call.syscall === 'recvmsg' && [report.sender.pid, report.receiver.pid].includes(call.pid)));
    assert.match(calls[0].time, /^\d\d:\d\d:\d\d\.\d{6}$/);
  });
});

describe('strace capture parsing (literal lines)', () => {
  const cmsg = (data: string, len = 20) => `{cmsg_len=${len}, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[${data}]}`;
  const recvmsg = (control: string, iov = '"F"') =>
    `recvmsg(3<UNIX-STREAM:[61528]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base=${iov}, iov_len=1}], msg_iovlen=1, ` +
    `msg_control=[${control}], msg_controllen=24, msg_flags=MSG_CMSG_CLOEXEC}, MSG_CMSG_CLOEXEC) = 1`;

  it('reads the inode-only form strace prints in a --network none container', () => {
    const [event] = parseCapture(`40 12:34:56.789012 ${recvmsg(cmsg('7<TCP:[61530]>'))}\n`);
    assert.deepEqual(event.fds, [{ fd: 7, kind: 'tcp', inode: 61530, raw: '7<TCP:[61530]>' }]);
    assert.equal(event.channel, 'UNIX-STREAM:[61528]');
    assert.deepEqual([event.pid, event.time], [40, '12:34:56.789012']);
  });

  it('joins split calls per pid when several are open at once, in either prefix style', () => {
    const [head, tail] = recvmsg(cmsg('7</tmp/a>')).split('{msg_name');
    const [head2, tail2] = recvmsg(cmsg('9</tmp/b>')).split('{msg_name');
    const events = parseCapture(
      [
        `41 12:00:00.000001 ${head} <unfinished ...>`,
        `[pid    42] 12:00:00.000002 ${head2} <unfinished ...>`,
        `42 12:00:00.000003 <... recvmsg resumed>{msg_name${tail2}`,
        `41 12:00:00.000004 <... recvmsg resumed>{msg_name${tail}`,
        '43 12:00:00.000005 <... recvmsg resumed>{msg_name=NULL}, 0) = 1', // its start is not in the capture
      ].join('\n'),
    );
    assert.deepEqual(
      events.map((event) => [event.pid, event.time, event.fds[0].path]),
      [
        [42, '12:00:00.000002', '/tmp/b'],
        [41, '12:00:00.000001', '/tmp/a'],
      ],
    );
  });

  it('reads several cmsgs, IPv6, Unix sockets with paths, device files, and data that looks like a cmsg', () => {
    const control = [
      cmsg('5<TCPv6:[[::1]:40648->[::1]:9000]>, 6<UDP:[127.0.0.1:5353]>', 24),
      '{cmsg_len=28, cmsg_level=SOL_SOCKET, cmsg_type=SCM_CREDENTIALS, cmsg_data={pid=1, uid=0, gid=0}}',
      cmsg('8<UNIX-STREAM:[12345->12346,"/run/fdlab/x.sock"]>, 0</dev/null<char 1:3>>', 24),
    ].join(', ');
    const [event] = parseCapture(recvmsg(control, '"cmsg_data=[1<TCP:[2]>]}], \\"x\\" ) = 9"'));
    assert.deepEqual(
      event.fds.map(({ raw, ...fd }) => fd),
      [
        { fd: 5, kind: 'tcp6', local: '[::1]:40648', remote: '[::1]:9000' },
        { fd: 6, kind: 'udp', local: '127.0.0.1:5353' },
        { fd: 8, kind: 'unix', inode: 12345, peerInode: 12346, path: '/run/fdlab/x.sock' },
        { fd: 0, kind: 'file', path: '/dev/null' },
      ],
    );
    assert.equal(event.bytes, 1);
  });

  it('counts the fds strace cut off from cmsg_len (and reads a line without pid or time)', () => {
    const [event] = parseCapture(recvmsg(cmsg('20</tmp/a>, 21</tmp/a>, ...', 16 + 4 * 253)));
    assert.equal(event.fds.length, 2);
    assert.equal(event.fdCount, 253);
    assert.deepEqual([event.pid, event.time], [0, '']);
  });

  it('ignores EAGAIN and sendmsg without control data', () => {
    const lines = [
      '40 12:00:00.000001 recvmsg(3<UNIX-STREAM:[1->2]>, {msg_namelen=0}, MSG_CMSG_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)',
      '40 12:00:00.000002 sendmsg(3<UNIX-STREAM:[1->2]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="ok", iov_len=2}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL) = 2',
      '40 12:00:00.000003 +++ exited with 0 +++',
    ];
    assert.deepEqual(parseCapture(lines.join('\n')), []);
    assert.deepEqual(
      syscallLines(lines.join('\n')).map((call) => [call.syscall, call.result, call.errno]),
      [
        ['recvmsg', -1, 'EAGAIN'],
        ['sendmsg', 2, undefined],
      ],
    );
  });
});
