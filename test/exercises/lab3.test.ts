// lab/lab3/README.md: each exercise and the "what breaks", done as a learner
// would (a flag, or the quoted edit on a copy of the lab) and checked against
// what the lab's page says happens.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCapture } from '../../src/strace';
import { runLabForTest } from '../labs/harness';
import { patchedLab } from './patch';
import { projectRoot } from '../../src/project';

const ROOT = projectRoot();

/** sendmsg calls that carried fds, in one capture (a call strace -f split in two counts once). */
const handoversIn = (capture: string) => parseCapture(capture).filter((e) => e.syscall === 'sendmsg').length;

describe('lab/lab3/README.md: exercises and what breaks', function () {
  this.timeout(90_000);

  it('lab 3 exercise 1: --reads greedy still passes the stream check; the leftover rides with the fd', async () => {
    const run = (await runLabForTest(3, 'process', { reads: 'greedy' }))!;
    assert.equal(run.ok, true, JSON.stringify(run.checks, null, 1));
    assert.match(run.check('stream: 1000 replies, strictly alternating').measured, /^1000 replies \(.*\), alternating$/);
    // The line the exercise sends the reader to.
    assert.match(fs.readFileSync(path.join(ROOT, 'lab/lab3/server.ts'), 'utf8'), /channel\.send\(\{ data: dropLeftover \? Buffer\.alloc\(0\) : leftover, fds: \[fd\] \}\)/);
  });

  it('lab 3 exercise 2: 2 connections x 10 requests with the load traced: every handover is in the captures', async () => {
    const edited = patchedLab(3, { 'lab.ts': [["startServers(lab, '-load', false)", "startServers(lab, '-load', true)"]] });
    const run = (await runLabForTest(edited, 'process', { connections: '2', requests: '10' }))!;
    assert.equal(run.ok, true, JSON.stringify(run.checks, null, 1));
    const counts = ['server-7100-load', 'server-7101-load'].map((role) => handoversIn(fs.readFileSync(path.join(run.capturesDir, `${role}.strace`), 'utf8')));
    // Each of the 20 unary and 1,000 streamed requests ends with a handover to the other server.
    assert.equal(counts[0] + counts[1], 1020, `handovers: ${counts.join(' + ')}`);
    assert.deepEqual(counts, [510, 510]);
  });

  it('lab 3 what breaks: --fault drop-leftover: the stream client gets 1 reply and times out; the lab fails', async () => {
    const run = (await runLabForTest(3, 'process', { fault: 'drop-leftover', connections: '2', requests: '10' }))!;
    assert.equal(run.ok, false);
    const stream = run.check('stream: 1000 replies, strictly alternating');
    assert.equal(stream.status, 'fail');
    assert.match(stream.measured, /^1 reply \(timed out after 10000 ms\)/);
    assert.equal(run.check('unary: 20 replies, each from the other server').status, 'pass', 'one request at a time loses nothing');
  });
});
