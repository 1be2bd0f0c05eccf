import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { close, closeQuietly, fdOf, recvFd, recvFds, SCM_MAX_FD, sendFd, sendFds, socketpair } from 'fdlab';
import { openFdCount, readSome, tempFile } from '../helpers/fds';
import { runFixture } from '../helpers/process';
import { tcpConnection } from '../helpers/tcp';

describe('sendFds / recvFds (one sendmsg, one recvmsg)', () => {
  let pair: [number, number];
  beforeEach(() => (pair = socketpair()));
  afterEach(() => closeQuietly(pair));

  it('passes an open file to another process: new number, same open file (shared offset)', async () => {
    const file = tempFile('hello world');
    try {
      sendFd(pair[0], file.fd);
      const child = JSON.parse((await runFixture('recv-file', [], [pair[1]])).stdout) as { fd: number; read: string };
      assert.equal(child.read, 'hello');
      assert.ok(child.fd > 0);
      // The child's read moved the offset we share with it.
      assert.equal(readSome(file.fd, 100), ' world');
    } finally {
      close(file.fd);
    }
  });

  it('carries data bytes and up to 253 fds in one message', () => {
    const file = tempFile('x');
    try {
      const fds = new Array<number>(SCM_MAX_FD).fill(file.fd);
      assert.equal(sendFds(pair[0], fds, 'boy'), 3);
      const received = recvFds(pair[1]);
      assert.equal(received.data.toString(), 'boy');
      assert.equal(received.fds.length, 253);
      assert.equal(new Set(received.fds).size, 253, 'each received fd is a distinct number');
      for (const fd of received.fds) assert.equal(fs.fstatSync(fd).ino, fs.fstatSync(file.fd).ino);
      closeQuietly(received.fds);
    } finally {
      close(file.fd);
    }
  });

  it('gives received fds close-on-exec (MSG_CMSG_CLOEXEC)', () => {
    const file = tempFile('x');
    sendFds(pair[0], [file.fd]);
    const [fd] = recvFds(pair[1]).fds;
    const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/)![1];
    assert.ok((parseInt(flags, 8) & 0o2000000) !== 0, `O_CLOEXEC missing in flags ${flags}`);
    closeQuietly([fd, file.fd]);
  });

  it('refuses 254 fds with a RangeError before any syscall', () => {
    const file = tempFile('x');
    assert.throws(() => sendFds(pair[0], new Array(254).fill(file.fd)), (e: Error & { code: string }) => {
      assert.ok(e instanceof RangeError);
      assert.equal(e.code, 'ERR_OUT_OF_RANGE');
      assert.match(e.message, /253/);
      return true;
    });
    close(file.fd);
  });

  it('reports EAGAIN with code when the socket buffer is full', () => {
    const chunk = Buffer.alloc(64 * 1024);
    assert.throws(() => {
      for (let i = 0; i < 10_000; i++) sendFds(pair[0], [], chunk);
    }, { code: 'EAGAIN', syscall: 'sendmsg' });
    assert.throws(() => recvFds(socketpair()[0]), { code: 'EAGAIN', syscall: 'recvmsg' });
  });

  it('throws Node-style system errors for a closed fd and a non-socket', () => {
    const file = tempFile('x');
    assert.throws(() => sendFds(file.fd, [pair[0]]), { code: 'ENOTSOCK', errno: -88, syscall: 'sendmsg' });
    assert.throws(() => recvFds(file.fd), { code: 'ENOTSOCK', syscall: 'recvmsg' });
    close(file.fd);
    assert.throws(() => sendFds(file.fd, [pair[0]]), { code: 'EBADF', errno: -9, syscall: 'sendmsg' });
    assert.throws(() => sendFds(pair[0], [file.fd]), { code: 'EBADF' }, 'a closed fd to send is EBADF too');
    assert.throws(() => sendFds(pair[0], [-1 as number]), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => sendFds(pair[0], [pair[1]], Buffer.alloc(0)), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('refuses a TCP socket as the channel, where the kernel would drop the fds silently', async () => {
    const tcp = await tcpConnection();
    try {
      assert.throws(() => sendFds(fdOf(tcp.client), [pair[0]]), (e: Error & { code: string }) => {
        assert.equal(e.code, 'ERR_CHANNEL_NOT_UNIX');
        assert.match(e.message, /silently drop/);
        return true;
      });
    } finally {
      tcp.end();
    }
  });

  it('on truncated control data closes every fd that arrived and says so', () => {
    const file = tempFile('x');
    const before = openFdCount();
    sendFds(pair[0], [file.fd, file.fd, file.fd]);
    assert.throws(() => recvFds(pair[1], { maxFds: 1 }), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_FD_CTRUNC');
      assert.match(e.message, /were closed/);
      return true;
    });
    assert.equal(openFdCount(), before, 'no received fd may stay open');
    close(file.fd);
  });

  it('on a stream socket, each recvmsg returns only the fds of its own message', () => {
    // The kernel stops a stream read after the first chunk that carried fds,
    // so two queued messages never merge their fds.
    const file = tempFile('x');
    sendFds(pair[0], [file.fd], 'a');
    sendFds(pair[0], [file.fd, file.fd], 'b');
    const first = recvFds(pair[1]);
    const second = recvFds(pair[1]);
    assert.deepEqual([first.data.toString(), first.fds.length], ['a', 1]);
    assert.deepEqual([second.data.toString(), second.fds.length], ['b', 2]);
    closeQuietly([...first.fds, ...second.fds, file.fd]);
  });

  it('recvFd says the peer closed instead of returning -1', () => {
    close(pair[0]);
    assert.throws(() => recvFd(pair[1]), { code: 'ERR_CHANNEL_CLOSED' });
  });

  it('sendmsg to a closed peer is EPIPE, not a SIGPIPE death', () => {
    close(pair[1]);
    assert.throws(() => sendFds(pair[0], [pair[0]]), { code: 'EPIPE' });
  });
});
