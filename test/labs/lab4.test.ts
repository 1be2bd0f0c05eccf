import { strict as assert } from 'node:assert';
import type { LoadResult as Load } from '../../lab/lab4/lab';
import { assertTimelineTruth } from './timeline-truth';
import { failedChecks, leftBehind, runLabForTest, RUNTIMES } from './harness';

for (const runtime of RUNTIMES) {
  describe(`lab 4 (${runtime} runtime): keep the listener across a restart`, function () {
    this.timeout(120_000);

    it('loses nothing with fd 3 or SCM_RIGHTS, loses connections with a naive restart, and cuts the long-lived one', async function () {
      const run = await runLabForTest(4, runtime);
      if (!run) return this.skip();
      assert.equal(failedChecks(run), '');
      assertTimelineTruth(4, run.capturesDir);
      assert.ok(run.seconds <= 30, `lab 4 took ${run.seconds} s`);

      // R: an unrelated new version cannot bind while the old listener lives; nor can a socket without
      // SO_REUSEADDR while connections sit in TIME_WAIT, and Node (SO_REUSEADDR) can.
      assert.equal(run.check('R: a new version started beside the old one cannot bind 8084').measured, 'r-new exit 1: cannot serve: listen EADDRINUSE: address already in use 127.0.0.1:8084; exiting');
      assert.equal(run.check(/^strace R:/).measured, 'r-old: bind(127.0.0.1:8084) = 0; r-new: bind(127.0.0.1:8084) = -1 EADDRINUSE');
      assert.match(
        run.check(/^R: TIME_WAIT/).measured,
        /^[1-5] connections in TIME_WAIT on 127\.0\.0\.1:\d+, no listener; without SO_REUSEADDR: EADDRINUSE \(strace: bind = -1 EADDRINUSE\); with it: bound \(strace: bind = 0\)$/,
      );

      // A: EADDRINUSE for the stranger and for the child's own socket; the child answers on fd 3.
      assert.equal(run.check('A: an unrelated process cannot bind 8080').measured, 'bind(127.0.0.1:8080) = EADDRINUSE (a-stranger)');
      assert.match(
        run.check('A: the child serves on the inherited fd 3').measured,
        /^child pid (\d+): its own bind: EADDRINUSE; fd 3<TCP:\[127\.0\.0\.1:8080 \(listening\)\]> inode \d+ answered the stranger \(a-parent\[\1\]\)$/,
      );

      // B: every one of the 800 new connections answered, by both generations; none refused or reset.
      const records = run.summary.records as Record<string, { load: Load; long?: { dropped: number; connections: { servedBy?: string }[] } }>;
      const graceful = records.graceful.load;
      assert.deepEqual([graceful.opened, graceful.answered, graceful.refused, graceful.reset, graceful.closed + graceful.timeout + graceful.other], [800, 800, 0, 0, 0]);
      const generations = Object.keys(graceful.servedBy);
      assert.equal(generations.length, 2, `served by ${generations.join(', ')}`);
      assert.match(run.check('B: graceful restart (fd 3): refused / reset').measured, /^0 refused, 0 reset of 800 new connections; answered: b-server\[\d+\] \d+, b-server\[\d+\] \d+$/);

      // B's drain cuts the long-lived connection of gen 1; the client reconnects to gen 2.
      const long = records.graceful.long!;
      assert.equal(long.dropped, 1);
      assert.deepEqual(long.connections.map((c) => c.servedBy), generations);
      assert.match(
        run.check('B: long-lived connection cut at the end of the drain').measured,
        /^1 of 2 connections closed by the server: the one served by b-server\[\d+\] \(\d+ echoes\) at its 2000 ms drain timeout; reconnected to b-server\[\d+\]$/,
      );

      // Naive restart: the 300 ms gap alone is 60 connections at 200/s; every connection is accounted for.
      const naive = records.naive.load;
      assert.equal(naive.opened, 800);
      assert.ok(naive.refused + naive.reset >= 50, `naive restart lost only ${naive.refused} refused + ${naive.reset} reset`);
      assert.equal(naive.answered + naive.refused + naive.reset + naive.closed + naive.timeout + naive.other, 800);
      assert.match(run.check(/^naive restart/).measured, new RegExp(`^${naive.refused} refused, ${naive.reset} reset of 800 new connections; failures from t=`));

      // C: the listener moved to a new role by SCM_RIGHTS: nothing lost, both instances answered.
      const handover = records.handover.load;
      assert.deepEqual([handover.opened, handover.answered, handover.refused, handover.reset], [800, 800, 0, 0]);
      assert.deepEqual(Object.keys(handover.servedBy).map((who) => who.replace(/\[\d+\]$/, '')), ['c-old', 'c-new']);
      assert.match(run.check('strace C: the listener leaves c-old and arrives in c-new').measured, /^c-old \(pid \d+(?:, host \d+)?\) sent fd \d+ <TCP 127\.0\.0\.1:8082> -> c-new \(pid \d+(?:, host \d+)?\) got it as fd \d+/);

      // strace: who bound, who only listened on fd 3, who sent SIGTERM to whom.
      assert.match(run.check('strace A: the child never binds; it listens and accepts on fd 3').measured, /child \d+: bind = -1 EADDRINUSE, listen\(3<TCP:\[127\.0\.0\.1:8080\]>\) = 0, [1-9]\d* accept4 on fd 3; stranger: bind = -1 EADDRINUSE$/);
      assert.match(run.check(/^strace B:/).measured, /, 0 bind, listen\(3<TCP:\[127\.0\.0\.1:8081\]>\) = 0, kill\(\d+, SIGTERM\) = 0$/);
      assert.equal(run.check('strace naive: the port is bound anew by the new process').status, 'pass');

      assert.deepEqual(await leftBehind(run), [], 'processes or containers left behind');
    });
  });
}
