import { strict as assert } from 'node:assert';
import { formatPair, pairPassedFds, parseCapture, type FdPair, type FdPassingEvent } from '../../src/strace';
import { captureOneRun, captureTwoRoles, netnsUnshare } from './capture';

function byPid(events: FdPassingEvent[], roles: Record<string, number>) {
  return Object.entries(roles).map(([role, pid]) => ({ role, events: events.filter((event) => event.pid === pid) }));
}

const numbers = (pairs: FdPair[]) => pairs.map((pair) => [pair.sent?.fd?.fd, pair.received?.fd?.fd, pair.basis]);

describe('pairing sent and received fds (real strace)', function () {
  this.timeout(30_000);

  it('pairs each fd the sender sent with the number the receiver got, in one capture', async () => {
    const { capture, report } = await captureOneRun();
    const { sender, receiver } = report;
    const pairs = pairPassedFds(byPid(parseCapture(capture), { sender: sender.pid, receiver: receiver.pid }));

    // 2 single fds, then the 128 + 47 of the 300 that strace printed (-s 128) on both sides.
    assert.equal(pairs.length, 2 + 128 + 47);
    assert.deepEqual(numbers(pairs.slice(0, 2)), [
      [sender.file, receiver.file, 'path'],
      [sender.tcp, receiver.tcp, 'endpoints'],
    ]);
    assert.deepEqual(
      numbers(pairs.slice(2)),
      [...receiver.many.slice(0, 128), ...receiver.many.slice(253)].map((fd) => [sender.file, fd, 'path']),
    );
    assert.equal(
      formatPair(pairs[1]),
      `sender (pid ${sender.pid}) sent fd ${sender.tcp} <TCP ${sender.local}->${sender.remote}> -> ` +
        `receiver (pid ${receiver.pid}) got it as fd ${receiver.tcp} (same endpoints)`,
    );
    assert.equal(
      formatPair(pairs[0]),
      `sender (pid ${sender.pid}) sent fd ${sender.file} <${sender.path}> -> receiver (pid ${receiver.pid}) got it as fd ${receiver.file} (same file)`,
    );
  });

  it('pairs by order when the receiver, in another network namespace, sees only inodes', async function () {
    const flags = netnsUnshare();
    if (typeof flags === 'string') {
      console.log(`      (skipping: ${flags})`);
      return this.skip();
    }
    const captures = await captureTwoRoles(flags);
    const { sender, receiver } = captures.report;
    const received = parseCapture(captures.receiver);
    assert.match(received[0].channel, /^UNIX-STREAM:\[\d+\]$/, 'the channel without its peer');
    assert.deepEqual(received[1].fds.map(({ fd, kind, inode }) => ({ fd, kind, inode })), [
      { fd: receiver.tcp, kind: 'tcp', inode: receiver.tcpInode },
    ]);

    const pairs = pairPassedFds([
      { role: 'sender', events: parseCapture(captures.sender) },
      { role: 'receiver', events: received },
    ]);
    assert.equal(pairs.length, 2 + 128 + 47);
    assert.deepEqual(numbers(pairs.slice(0, 2)), [
      [sender.file, receiver.file, 'path'],
      [sender.tcp, receiver.tcp, 'order'],
    ]);
    assert.equal(
      formatPair(pairs[1]),
      `sender (pid ${sender.pid}) sent fd ${sender.tcp} <TCP ${sender.local}->${sender.remote}> -> ` +
        `receiver (pid ${receiver.pid}) got it as fd ${receiver.tcp} <TCP inode ${receiver.tcpInode}> (paired by order on the channel)`,
    );
    assert.deepEqual(
      pairs.slice(2).map((pair) => pair.received?.fd?.fd),
      [...receiver.many.slice(0, 128), ...receiver.many.slice(253)],
    );
  });
});

describe('pairing sent and received fds (literal lines)', () => {
  const line = (pid: number, call: string, channel: string, fds: string) =>
    `${pid} 12:00:00.0000${pid} ${call}(3<UNIX-STREAM:[${channel}]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="F", iov_len=1}], ` +
    `msg_iovlen=1, msg_control=[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[${fds}]}], ` +
    'msg_controllen=24, msg_flags=0}, 0) = 1';

  it('pairs by inode when both sides show it, and only on connected channels', () => {
    const pairs = pairPassedFds([
      { role: 'proxy', events: parseCapture(line(12, 'sendmsg', '100->101', '5<TCP:[61530]>')) },
      // Another channel first: not where the proxy's fd went, though it arrived earlier.
      { role: 'other', events: parseCapture(line(30, 'recvmsg', '200->201', '9<TCP:[61530]>')) },
      { role: 'worker', events: parseCapture(line(40, 'recvmsg', '101', '7<TCP:[61530]>')) },
    ]);
    assert.deepEqual(pairs.map((pair) => formatPair(pair)), [
      'proxy (pid 12) sent fd 5 <TCP inode 61530> -> worker (pid 40) got it as fd 7 (same socket, inode 61530)',
      'other (pid 30) got fd 9 <TCP inode 61530> from a sender in none of the captures',
    ]);
    // In containers strace prints each one's own pid; the host's (role-pids.json) goes beside it. Same pid on both: once.
    const pids = [{ role: 'proxy', pid: 12, hostPid: 43210 }, { role: 'worker', pid: 40, hostPid: 40 }];
    assert.equal(formatPair(pairs[0], pids), 'proxy (pid 12, host 43210) sent fd 5 <TCP inode 61530> -> worker (pid 40) got it as fd 7 (same socket, inode 61530)');
  });

  it('skips a received fd that cannot be the one sent (a capture that missed a call)', () => {
    const pairs = pairPassedFds([
      { role: 'a', events: parseCapture(line(12, 'sendmsg', '100->101', '5</tmp/b>')) },
      { role: 'b', events: parseCapture([line(40, 'recvmsg', '101->100', '6</tmp/a>'), line(41, 'recvmsg', '101->100', '7</tmp/b>')].join('\n')) },
    ]);
    assert.deepEqual(numbers(pairs), [
      [5, 7, 'path'],
      [undefined, 6, null],
    ]);
  });
});
