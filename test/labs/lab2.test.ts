import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertTimelineTruth } from './timeline-truth';
import { failedChecks, fdTables, runLabForTest, RUNTIMES } from './harness';

for (const runtime of RUNTIMES) {
  describe(`lab 2 (${runtime} runtime): move a live TCP connection`, function () {
    this.timeout(60_000);

    it('keeps one connection from client to isolated receiver, with the messages of seed 000', async function () {
      const run = await runLabForTest(2, runtime, { count: '3' });
      if (!run) return this.skip();
      assert.equal(failedChecks(run).replace(/^skipped: the receiver has no network.*$/m, '').trim(), '');
      assertTimelineTruth(2, run.capturesDir);
      assert.match(run.check('the server saw every message on one connection').measured, /^4 messages from 127\.0\.0\.1:\d+ \(1 test message \+ 3 migrated\)$/);
      assert.match(run.check('the client had exited before the later messages').measured, /3 messages arrived after it exited/);
      const isolation = run.check('the receiver has no network interface but lo');
      // As processes too, where the tests can give them namespaces of their own (test/support/environment.ts).
      if (runtime === 'docker' || process.env.FDLAB_PROCESS_NETWORK === 'private') {
        assert.deepEqual([isolation.status, isolation.measured], ['pass', 'network interfaces here: lo']);
      } else {
        assert.equal(isolation.status, 'skipped', 'no namespace of its own: never counted as passed');
      }
      assert.equal(run.check(/strace shows the socket/).status, 'pass');

      // The fd tables from /proc: the client's TCP socket before, the same inode in the receiver after.
      const tables = fdTables(run);
      const clientLog = fs.readFileSync(path.join(run.capturesDir, 'unix-socket-client.log'), 'utf8');
      const [, clientFd, inode] = clientLog.match(/^holding: fd (\d+) inode (\d+)/m)!;
      const client = tables.role('before', 'unix-socket-client');
      assert.deepEqual(client.fds.map((f) => f.fd), [Number(clientFd)]);
      assert.deepEqual(tables.role('before', 'unix-socket-server').fds, [], 'the receiver holds no TCP socket yet');
      const receiverLog = fs.readFileSync(path.join(run.capturesDir, 'unix-socket-server.log'), 'utf8');
      const receiver = tables.role('after', 'unix-socket-server');
      assert.deepEqual(receiver.fds.map((f) => f.fd), [Number(receiverLog.match(/^holding: the socket is fd (\d+)/m)![1])]);
      assert.equal(receiver.fds[0].object, client.fds[0].object, 'the same socket');
      assert.equal(tables.role('after', 'unix-socket-client').pid, null, 'the client has exited');
      const socket = tables.snapshot('after').objects[receiver.fds[0].object];
      assert.equal(socket.inode, Number(inode), "the client's fstat inode");
      // Found in the pod's namespace even though the receiver (Docker) has none: its ends and its queues.
      assert.match(socket.label, /^TCP 127\.0\.0\.1:\d+->127\.0\.0\.1:9999$/);
      assert.deepEqual([typeof socket.sendQueue, typeof socket.receiveQueue], ['number', 'number']);
    });
  });
}
