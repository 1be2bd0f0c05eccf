// Lab 7 in the process runtime (the only one it runs in: it needs namespaces,
// nftables and a veth of its own): the connection survives a new coat and two
// new bodies, and without the hold it breaks with a RST.
import { strict as assert } from 'node:assert';
import { failedChecks, runLabForTest } from './harness';

describe('lab 7 (process runtime): a new body, TCP_REPAIR beside fd passing', function () {
  this.timeout(60_000);

  it('moves one connection by fd passing, then twice by dump + restore (once into another namespace): 0 lost, seqs continue', async function () {
    // 200 connections in the cost table keeps the test quick; npm run lab:7 measures 1,000.
    const run = await runLabForTest(7, 'process', { measure: '200' });
    assert.equal(failedChecks(run!), '');
    assert.equal(run!.runtime, 'process');
    assert.match(run!.check(/^A: the same socket/).measured, /inode (\d+) -> \1;/);
    assert.match(run!.check(/^B: v2 closed/).measured, /ESTAB; RSTs sent: 0$/);
    const b = run!.check(/^B: a fresh socket/).measured.match(/inode (\d+) \(v2\) -> (\d+) \(v3\); (\S+ <-> \S+); the client's packets held (\d+) ms/);
    assert.ok(b && b[1] !== b[2], run!.check(/^B: a fresh socket/).measured);
    assert.match(run!.check(/^C: rebuilt in another network namespace/).measured, new RegExp(`inode \\d+, ${b![3].replace(/\./g, '\\.')}; held \\d+ ms$`));
    assert.match(run!.check('0 lost pongs, in order, answered by v1, v2, v3 and v4').measured, /^(\d+) pings, \1 pongs \(0 lost, 0 out of order\); v1 [1-9]\d*, v2 [1-9]\d*, v3 [1-9]\d*, v4 [1-9]\d*;.*no error, no FIN$/);
    const cost = run!.summary.records.cost as { way: string; count: number; totalMs: number; working?: number }[];
    assert.deepEqual(cost.map((r) => `${r.way} ${r.count}`), ['coat 1', 'body 1', 'coat 200', 'body 200']);
    assert.ok(cost.filter((r) => r.way === 'body').every((r) => r.working === r.count));
  });

  it("what breaks (--fault no-hold): the client's next ping after the dump gets a RST", async function () {
    const run = await runLabForTest(7, 'process', { fault: 'no-hold' });
    assert.equal(failedChecks(run!), '');
    assert.match(run!.check(/^what breaks/).measured, /^client: connection error: ECONNRESET; RSTs sent in the lab's namespace: [1-9]/);
  });
});
