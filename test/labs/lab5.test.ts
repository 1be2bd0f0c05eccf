import { strict as assert } from 'node:assert';
import { assertTimelineTruth } from './timeline-truth';
import { failedChecks, fdTables, leftBehind, runLabForTest, RUNTIMES } from './harness';

for (const runtime of RUNTIMES) {
  describe(`lab 5 (${runtime} runtime): hot upgrade of long-lived connections`, function () {
    this.timeout(90_000);

    it('upgrades 100 pinging connections to v2: 0 disconnects, 0 lost, sessions carried, v1 gone', async function () {
      const run = await runLabForTest(5, runtime);
      if (!run) return this.skip();
      assert.equal(failedChecks(run), '');
      assertTimelineTruth(5, run.capturesDir);
      assert.equal(run.check('0 disconnects').measured, '0 of 100 connections dropped');
      assert.match(run.check('0 lost and 0 duplicated pongs').measured, /^([\d,]+) pings, \1 pongs \(0 lost, 0 duplicated\)$/);
      assert.match(run.check(/sessions carried/).measured, /^server-v2 counts [\d,]+ pings served on 10\d connections( \(\d of them a probe still closing\))?; the client sent [\d,]+$/);
      assert.match(run.check(/^v1's (container|process) has exited$/).measured, /^exit 0; .*handed over; exiting/);
      assert.match(run.check(/listener kept accepting/).measured, /^(\d+) of \1 new connections served$/);
      // The delay of the upgrade's window, not of the whole run (issue 22: a 182 ms delay 1.3 s before the signal was reported as the upgrade's).
      const delay = run.check('largest ping delay during the upgrade').measured.match(/^(\d+) ms for a ping sent between the signal and the last group switched \((\d+) ms\); the engine's gap (\d+) ms; before the signal at most (\d+) ms; strace on/);
      assert.ok(delay, run.check('largest ping delay during the upgrade').measured);
      assert.ok(Number(delay[2]) > 0 && Number(delay[2]) < 30_000, `a window of ${delay[2]} ms`);
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

    it('--set containers=1 (part B): one container (process), the supervisor its command, upgraded in place by SIGUSR2 with the code from the volume: 0 lost, one worker after, the fds crossing in its one capture', async function () {
      const run = await runLabForTest(5, runtime, { containers: '1' });
      if (!run) return this.skip();
      assert.equal(failedChecks(run), '');
      assert.deepEqual(run.summary.roles.map((r) => r.name), ['server', 'client'], 'one role for the service, before and after');
      const { v1, v2, supervisor } = run.summary.records.workers as { v1: number; v2: number; supervisor: number };
      assert.ok(v1 !== v2 && v2 !== supervisor);
      assert.equal(run.check('0 disconnects').measured, '0 of 100 connections dropped');
      assert.match(run.check('0 lost and 0 duplicated pongs').measured, /^([\d,]+) pings, \1 pongs \(0 lost, 0 duplicated\)$/);
      // The version is v2: the new worker read it from the volume.
      assert.match(run.check(/sessions carried/).measured, new RegExp(`^v2 \\(worker pid ${v2}\\) counts [\\d,]+ pings served on 10\\d connections( \\(\\d of them a probe still closing\\))?; the client sent [\\d,]+$`));
      assert.match(run.check("v1's worker has exited, the supervisor stays").measured, new RegExp(`^v1 \\(worker pid ${v1}\\) exit 0; .*\\[v1 pid ${v1}\\] handed over; exiting`));
      assert.match(run.check(/^one (container|supervisor process) throughout/).measured, new RegExp(`still running after the upgrade; supervisor pid ${supervisor} before, ${supervisor} after; exit 0 at the stop$`));
      assert.equal(run.check('one worker after the upgrade settles').measured, `the supervisor's children: ${v2}; lab5.pid names ${v2}`);
      assert.match(run.check(/listener kept accepting/).measured, /^(\d+) of \1 new connections served$/);
      assert.equal(run.check("SCM_RIGHTS in server's strace capture").status, 'pass');
      const batch = run.check(/strace: v1 sent the listener/).measured.match(/^(\d+) fds in \d+ sendmsg call\(s\), the largest with (\d+); worker pid (\d+) to worker pid (\d+), both in server's capture$/);
      assert.ok(batch && Number(batch[1]) >= 101 && Number(batch[2]) <= 253, 'the listener and at least 100 connections, batches of at most 253');
      assert.deepEqual([Number(batch[3]), Number(batch[4])], [v1, v2], 'from worker v1 to worker v2, told apart by pid in the one capture');

      // The fd tables: v1 before (the supervisor's only child), v2 after, the same inodes.
      const tables = fdTables(run);
      const before = tables.role('before', 'worker-v1');
      const after = tables.role('after', 'worker-v2');
      assert.ok(before.pid && after.pid && before.pid !== after.pid);
      const listener = (key: string, fds: typeof before.fds) => fds.filter((f) => tables.snapshot(key).objects[f.object].label === 'TCP 127.0.0.1:7000 (listening)');
      assert.equal(listener('before', before.fds).length, 1);
      assert.deepEqual(listener('after', after.fds).map((f) => f.object), listener('before', before.fds).map((f) => f.object), 'one listener, the same inode');
      const inV2 = new Set(after.fds.map((f) => f.object));
      assert.ok(before.fds.filter((f) => inV2.has(f.object)).length >= 101, 'the listener and 100 connections under the same inodes');
      assert.deepEqual(await leftBehind(run), [], 'nothing left running');
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
