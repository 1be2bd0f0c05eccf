import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { failedChecks, runLabForTest, RUNTIMES } from './harness';

for (const runtime of RUNTIMES) {
  describe(`lab 1 (${runtime} runtime): one open file, two processes`, function () {
    this.timeout(60_000);

    it('passes a file fd, shows per-process numbers and the shared offset, and strace sees SCM_RIGHTS', async function () {
      const run = await runLabForTest(1, runtime);
      if (!run) return this.skip();
      assert.equal(run.runtime, runtime);
      assert.equal(failedChecks(run), '');
      assert.match(run.check('receiver read the file through the passed fd').measured, /"hello"$/);
      assert.match(run.check('fd numbers are per process, the file is one').measured, /^sender fd \d+, receiver fd \d+.*; inode \d+ in both$/);
      assert.match(run.check(/shared offset/).measured, /" world"$/);
      assert.equal(run.check("SCM_RIGHTS in sender's strace capture").status, 'pass');
      assert.equal(run.check("SCM_RIGHTS in receiver's strace capture").status, 'pass');
      for (const file of ['sender.strace', 'receiver.strace', 'sender.log', 'receiver.log', 'summary.json']) {
        assert.ok(fs.existsSync(path.join(run.capturesDir, file)), `captures/lab1 has ${file}`);
      }
      assert.ok(run.seconds < 30, `took ${run.seconds} s`);
    });
  });
}
