import { strict as assert } from 'node:assert';
import { failedChecks, fdTables, runLabForTest, RUNTIMES } from './harness';

for (const runtime of RUNTIMES) {
  describe(`lab 5 (${runtime} runtime): hot upgrade of long-lived connections`, function () {
    this.timeout(90_000);

    it('upgrades 100 pinging connections to v2: 0 disconnects, 0 lost, sessions carried, v1 gone', async function () {
      const run = await runLabForTest(5, runtime);
      if (!run) return this.skip();
      assert.equal(failedChecks(run), '');
      assert.equal(run.check('0 disconnects').measured, '0 of 100 connections dropped');
      assert.match(run.check('0 lost and 0 duplicated pongs').measured, /^([\d,]+) pings, \1 pongs \(0 lost, 0 duplicated\)$/);
      assert.match(run.check(/sessions carried/).measured, /^server-v2 counts [\d,]+ pings served on 10\d connections( \(\d of them a probe still closing\))?; the client sent [\d,]+$/);
      assert.match(run.check(/^v1's (container|process) has exited$/).measured, /^exit 0; .*handed over; exiting/);
      assert.match(run.check(/listener kept accepting/).measured, /^(\d+) of \1 new connections served$/);
      const batch = run.check(/strace: v1 sent the listener/).measured.match(/^(\d+) fds in \d+ sendmsg call\(s\), the largest with (\d+)$/);
      assert.ok(batch && Number(batch[1]) >= 101 && Number(batch[2]) <= 253, 'the listener and at least 100 connections, batches of at most 253');

      // The fd tables from /proc around the handover: v1's sockets, then the same inodes in v2.
      const tables = fdTables(run);
      const v1 = tables.role('before', 'server-v1');
      const v2 = tables.role('after', 'server-v2');
      assert.ok(v1.pid && v2.pid && v1.pid !== v2.pid);
      assert.equal(tables.role('after', 'server-v1').pid, null, 'v1 has exited');
      const listener = (key: string, fds: typeof v1.fds) => fds.filter((f) => tables.snapshot(key).objects[f.object].label === 'TCP 127.0.0.1:7000 (listening)');
      assert.equal(listener('before', v1.fds).length, 1);
      assert.deepEqual(listener('after', v2.fds).map((f) => f.object), listener('before', v1.fds).map((f) => f.object), 'one listener, the same inode');
      const inV2 = new Set(v2.fds.map((f) => f.object));
      const carried = v1.fds.filter((f) => inV2.has(f.object) && listener('before', [f]).length === 0);
      assert.ok(carried.length >= 100, `${carried.length} of v1's connections in v2 under the same inode`);
      assert.equal(run.check(/^fd tables from \/proc/).status, 'pass');
    });

    it('with --fault crash-new, v2 dies mid-handover and v1 rolls back: still nothing lost', async function () {
      const run = await runLabForTest(5, runtime, { fault: 'crash-new' });
      if (!run) return this.skip();
      assert.equal(failedChecks(run), '');
      // 100 long-lived connections, plus any probe connection that was open at that moment.
      const rollback = run.check('v2 died mid-handover and v1 rolled back').measured.match(/rolled back: serving (\d+) connections again(?: \[[A-Z_]+\])?; v2 exit 137$/);
      assert.ok(rollback && Number(rollback[1]) >= 100, run.check('v2 died mid-handover and v1 rolled back').measured);
      assert.match(run.check(/sessions carried/).measured, /^server-v1 counts [\d,]+ pings served on 10\d connections( \(\d of them a probe still closing\))?; the client sent [\d,]+$/);
    });
  });
}
