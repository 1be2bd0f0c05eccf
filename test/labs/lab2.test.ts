import { strict as assert } from 'node:assert';
import { failedChecks, runLabForTest, RUNTIMES } from './harness';

for (const runtime of RUNTIMES) {
  describe(`lab 2 (${runtime} runtime): move a live TCP connection`, function () {
    this.timeout(60_000);

    it('keeps one connection from client to isolated receiver, with the messages of seed 000', async function () {
      const run = await runLabForTest(2, runtime, { count: '3' });
      if (!run) return this.skip();
      assert.equal(failedChecks(run).replace(/^skipped: the receiver has no network.*$/m, '').trim(), '');
      assert.match(run.check('the server saw every message on one connection').measured, /^4 messages from 127\.0\.0\.1:\d+ \(1 test message \+ 3 migrated\)$/);
      assert.match(run.check('the client had exited before the later messages').measured, /3 messages arrived after it exited/);
      const isolation = run.check('the receiver has no network interface but lo');
      if (runtime === 'docker') assert.deepEqual([isolation.status, isolation.measured], ['pass', 'network interfaces here: lo']);
      else assert.equal(isolation.status, 'skipped', 'no namespace in the process runtime: never counted as passed');
      assert.equal(run.check(/strace shows the socket/).status, 'pass');
    });
  });
}
