// A lab's verdict: it passes only when something was shown to work. A run
// whose checks were all skipped, or that recorded none, measured nothing and
// must not say "Lab passed" (nor exit 0 from `fdlab lab`).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { verdict } from '../../src/labs/checks';
import { runLab } from '../../src/labs/runner';
import type { CheckResult, LabContext, LabDefinition } from '../../src/labs/types';
import { tempDir } from '../helpers/fds';

const pass = (name: string): CheckResult => ({ name, status: 'pass', measured: 'ok' });
const fail = (name: string): CheckResult => ({ name, status: 'fail', measured: 'no' });
const skip = (name: string): CheckResult => ({ name, status: 'skipped', measured: 'not here' });

/** A lab with no roles whose run() only records what `body` records. */
function fakeLab(body: (lab: LabContext) => void, scmRightsRoles: string[] = []): LabDefinition {
  return { number: 99, title: 'verdict test', source: 'this test', traceSyscalls: [], scmRightsRoles, run: async (lab) => body(lab) };
}

/** Runs the lab in the process runtime and returns its outcome, summary.json and what it printed. */
async function run(lab: LabDefinition, strace = true) {
  let printed = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    printed += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  let outcome: Awaited<ReturnType<typeof runLab>>;
  try {
    outcome = await runLab(lab, { runtime: 'process', keep: false, strace, echo: false, capturesRoot: tempDir() });
  } finally {
    process.stdout.write = write;
  }
  const summary = JSON.parse(fs.readFileSync(outcome.summaryPath, 'utf8')) as { ok: boolean; notPassedBecause: string | null; checks: CheckResult[] };
  return { outcome, summary, printed: printed.replace(/\x1b\[[0-9;]*m/g, '') };
}

describe('lab verdict', () => {
  it('passes only with no failure and at least one pass; a skip never counts as a pass', () => {
    assert.deepEqual(verdict([]), { passed: 0, failed: 0, skipped: 0, ok: false, reason: 'no check ran' });
    assert.deepEqual(verdict([skip('a'), skip('b')]), { passed: 0, failed: 0, skipped: 2, ok: false, reason: 'every check was skipped (2)' });
    assert.deepEqual(verdict([pass('a'), skip('b'), skip('c')]), { passed: 1, failed: 0, skipped: 2, ok: true });
    assert.deepEqual(verdict([pass('a'), fail('b'), skip('c')]), { passed: 1, failed: 1, skipped: 1, ok: false });
    assert.deepEqual(verdict([fail('a')]), { passed: 0, failed: 1, skipped: 0, ok: false });
  });

  describe('through the lab runner (process runtime)', function () {
    this.timeout(20_000);

    it('fails a lab whose every check was skipped, and says why', async () => {
      const { outcome, summary, printed } = await run(fakeLab((lab) => {
        lab.skip('first thing', 'cannot apply here');
        lab.skip('second thing', 'cannot apply here either');
      }));
      assert.equal(outcome.ok, false);
      assert.equal(summary.ok, false);
      assert.equal(summary.notPassedBecause, 'every check was skipped (2)');
      assert.deepEqual(summary.checks.map((c) => c.status), ['skipped', 'skipped']);
      assert.match(printed, /Lab failed: 0 passed, 0 failed, 2 skipped in [\d.]+ s \(process runtime\): every check was skipped \(2\), so nothing was shown to work/);
      assert.doesNotMatch(printed, /Lab passed/);
    });

    it('fails a lab that recorded no check at all', async () => {
      const { outcome, summary, printed } = await run(fakeLab(() => undefined));
      assert.equal(outcome.ok, false);
      assert.equal(summary.notPassedBecause, 'no check ran');
      assert.deepEqual(summary.checks, []);
      assert.match(printed, /Lab failed: 0 passed, 0 failed, 0 skipped .*: no check ran/);
    });

    it('fails a lab whose only checks are the SCM_RIGHTS ones, skipped by --no-strace', async () => {
      const { outcome, summary } = await run(fakeLab(() => undefined, ['sender', 'receiver']), false);
      assert.equal(outcome.ok, false);
      assert.deepEqual(summary.checks.map((c) => `${c.status}: ${c.name}`), [
        "skipped: SCM_RIGHTS in sender's strace capture",
        "skipped: SCM_RIGHTS in receiver's strace capture",
      ]);
      assert.equal(summary.notPassedBecause, 'every check was skipped (2)');
    });

    it('passes a lab with a real pass beside skips, counting the skips apart', async () => {
      const { outcome, summary, printed } = await run(fakeLab((lab) => {
        lab.check('measured thing', true, '42');
        lab.skip('other thing', 'cannot apply here');
      }));
      assert.equal(outcome.ok, true);
      assert.equal(summary.notPassedBecause, null);
      assert.match(printed, /Lab passed: 1 passed, 0 failed, 1 skipped in [\d.]+ s \(process runtime\)\n/);
    });

    it('counts a check handed anything but true as failed', async () => {
      const { outcome, summary } = await run(fakeLab((lab) => {
        lab.check('undefined is no pass', undefined as unknown as boolean, '?');
        lab.check('a truthy object is no pass', {} as unknown as boolean, '?');
      }));
      assert.equal(outcome.ok, false);
      assert.deepEqual(summary.checks.map((c) => c.status), ['fail', 'fail']);
    });
  });
});
