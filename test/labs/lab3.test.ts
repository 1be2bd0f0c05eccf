import { strict as assert } from 'node:assert';
import { assertTimelineTruth } from './timeline-truth';
import { failedChecks, runLabForTest, RUNTIMES } from './harness';

for (const runtime of RUNTIMES) {
  describe(`lab 3 (${runtime} runtime): hand the connection over after every request`, function () {
    this.timeout(120_000);

    it('serves 100 x 1,000 unary requests alternately and 1,000 streamed ones, with equal server logs', async function () {
      const run = await runLabForTest(3, runtime);
      if (!run) return this.skip();
      assert.equal(failedChecks(run), '');
      assertTimelineTruth(3, run.capturesDir);
      assert.equal(run.check('unary: 100,000 replies, each from the other server').measured, '100,000 replies, 0 from the same server twice in a row');
      assert.equal(run.check('both servers logged the same number of requests').measured, '50,500 and 50,500 (expected 50,500 each)');
      assert.match(run.check('handover rate and request latency').measured, /^[\d,]+ handovers\/s; p50 [\d.]+ ms, p99 [\d.]+ ms$/);
      assert.ok(run.seconds < 30, `lab 3 took ${run.seconds} s`);
    });
  });
}
