import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import {
  close,
  closeQuietly,
  describeFd,
  dup,
  fdOf,
  formatFd,
  peerCredentials,
  queuedBytes,
  sendFds,
  socketpair,
  takeFdFromProcess,
} from 'fdlab';
import { readSome, tempFile, until, within } from '../helpers/fds';
import { collect, FIXTURES, startFixture } from '../helpers/process';
import { tcpConnection } from '../helpers/tcp';

describe('fd introspection', () => {
  it('describes a TCP connection like strace -yy and ss do', async () => {
    const { server, client, accepted } = await tcpConnection();
    try {
      const d = describeFd(fdOf(client));
      assert.equal(d.kind, 'tcp');
      assert.equal(d.family, 'inet');
      assert.equal(d.listening, false);
      assert.deepEqual(d.remote, { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
      assert.equal(d.local?.port, client.localPort);
      assert.equal(d.target, `socket:[${d.inode}]`);
      assert.match(formatFd(d), /^\d+<TCP:\[127\.0\.0\.1:\d+->127\.0\.0\.1:\d+\]> inode \d+$/);
      const l = describeFd(fdOf(server));
      assert.equal(l.listening, true);
      assert.equal(l.remote, null);
    } finally {
      client.destroy();
      accepted.destroy();
      server.close();
    }
  });

  it('describes IPv6, Unix sockets, files and pipes', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    const v6 = describeFd(fdOf(server));
    assert.equal(v6.family, 'inet6');
    assert.equal(v6.local?.address, '::1');
    server.close();

    const [a, b] = socketpair();
    const u = describeFd(a);
    assert.equal(u.kind, 'unix');
    assert.equal(u.socketType, 'stream');
    assert.equal(u.nonBlocking, true);
    assert.equal(u.closeOnExec, true);
    assert.deepEqual(u.remote, { path: '' });
    closeQuietly([a, b]);
    assert.equal(describeFd(socketpair('seqpacket')[0]).socketType, 'seqpacket');

    const file = tempFile('hello world');
    readSome(file.fd, 5);
    const f = describeFd(file.fd);
    assert.deepEqual([f.kind, f.offset, f.size, f.target], ['file', 5, 11, file.path]);
    close(file.fd);
  });

  it('reads peer credentials (SO_PEERCRED)', () => {
    const [a, b] = socketpair();
    assert.deepEqual(peerCredentials(a), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    closeQuietly([a, b]);
    const file = tempFile('x');
    assert.throws(() => peerCredentials(file.fd), { code: 'ENOTSOCK' });
    close(file.fd);
  });

  it('counts bytes waiting in the kernel queues (SIOCINQ / SIOCOUTQ)', async () => {
    const { server, client, accepted } = await tcpConnection();
    accepted.pause();
    (accepted as unknown as { _handle: { readStop(): void } })._handle.readStop();
    client.write(Buffer.alloc(1000, 1));
    await until(2000, 'bytes to arrive', () => queuedBytes(fdOf(accepted)).receive >= 1000);
    assert.equal(queuedBytes(fdOf(accepted)).receive, 1000);
    assert.throws(() => queuedBytes(fdOf(server)), { code: 'EINVAL' });
    client.destroy();
    accepted.destroy();
    server.close();
  });

  it('dup gives a new number for the same socket; close releases it once', () => {
    const [a, b] = socketpair();
    const copy = dup(a);
    assert.notEqual(copy, a);
    assert.equal(describeFd(copy).inode, describeFd(a).inode);
    close(copy);
    assert.throws(() => close(copy), { code: 'EBADF', syscall: 'close' });
    assert.throws(() => describeFd(copy), { code: 'EBADF', syscall: 'fstat' });
    assert.throws(() => dup(copy), { code: 'EBADF' });
    assert.throws(() => socketpair('bogus' as 'stream'), { code: 'ERR_INVALID_ARG_VALUE' });
    sendFds(a, [b]); // still usable
    closeQuietly([a, b]);
  });

  describe('pidfd_getfd: taking an fd without the owner\'s help', () => {
    it('copies an open file and a listening socket out of another process', async function () {
      const file = tempFile('stolen goods');
      const child = startFixture('hold-fd', [file.path]);
      try {
        const line = await within(5000, 'child ready', new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
        const held = JSON.parse(line) as { file: number; listener: number; port: number };
        const taken = takeFdFromProcess(child.pid!, held.file);
        assert.equal(readSome(taken, 100), 'stolen goods');
        close(taken);
        const listener = takeFdFromProcess(child.pid!, held.listener);
        const d = describeFd(listener);
        assert.equal(d.listening, true);
        assert.equal(d.local?.port, held.port);
        close(listener);
        assert.throws(() => takeFdFromProcess(child.pid!, 999), (e: Error & { code: string }) => {
          assert.equal(e.code, 'EBADF');
          assert.match(e.message, /has no fd 999/);
          return true;
        });
      } finally {
        child.kill();
        fs.closeSync(file.fd);
      }
    });

    it('is refused for an unprivileged process, with the fix in the message', async function () {
      if (process.getuid!() !== 0) this.skip(); // needs root to start a child as nobody
      const child = spawn(process.execPath, [path.join(FIXTURES, 'try-take-fd.js'), String(process.pid), '0'], {
        uid: 65534,
        gid: 65534,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const done = await collect(child);
      const result = JSON.parse(done.stdout) as { ok: boolean; code: string; message: string };
      assert.equal(result.ok, false);
      assert.equal(result.code, 'EPERM');
      assert.match(result.message, /CAP_SYS_PTRACE/);
    });

    it('says clearly when the process does not exist', () => {
      assert.throws(() => takeFdFromProcess(2 ** 22 + 7, 0), { code: 'ESRCH', syscall: 'pidfd_open' });
    });
  });
});
