// lab/lab1/README.md: each exercise and the "what breaks", done as a learner
// would (a flag, or the quoted edit on a copy of the lab) and checked against
// what the lab's page says happens.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { close, FdlabError, fdOf, sendFds, socketpair } from 'fdlab';
import { labImageOrSkip } from '../helpers/docker';
import { tempFile } from '../helpers/fds';
import { pausePids, runPausedLab, sh } from '../helpers/paused-lab';
import { tcpConnection } from '../helpers/tcp';
import { runLabForTest, type LabRun } from '../labs/harness';
import { patchedLab } from './patch';

const READ_LINE = 'const n = fs.readSync(fd, buffer, 0, 5, null);';

/** "sender fd 17, receiver fd 19; inode ..." -> [17, 19] */
function fdNumbers(run: LabRun): [number, number] {
  const match = /^sender fd (\d+), receiver fd (\d+)/.exec(run.check('fd numbers are per process, the file is one').measured);
  assert.ok(match, run.check('fd numbers are per process, the file is one').measured);
  return [Number(match[1]), Number(match[2])];
}

/** The fds of `pid` that point at tmp.txt, from `ls -l /proc/<pid>/fd` as the pause prints it. */
async function tmpTxtFds(pid: number): Promise<{ fd: number; target: string }[]> {
  const listing = await sh(`ls -l /proc/${pid}/fd`);
  assert.equal(listing.code, 0, listing.output);
  return [...listing.output.matchAll(/ (\d+) -> (\/tmp\/sender-private-\w+\/tmp\.txt)$/gm)].map((m) => ({ fd: Number(m[1]), target: m[2] }));
}

/**
 * The fd numbers lab/lab1/README.md gives, for the Node running the test: Node opens fds
 * of its own at start, and Node 24 opens more than Node 20. A Node lab/lab1/README.md does
 * not cover fails here, so the docs get its numbers.
 */
function documented(byMajor: Record<number, number[]>): number[] {
  const major = Number(process.versions.node.split('.')[0]);
  const numbers = byMajor[major];
  assert.ok(numbers, `lab/lab1/README.md gives no fd numbers for Node ${major} (it has Node ${Object.keys(byMajor).join(' and ')})`);
  return numbers;
}

/**
 * Node 24 opens an fd or two of its own at moments that vary, so its numbers
 * are sometimes one off the page's in either role: in CI (2026-12-05/06) the
 * receiver got 21 instead of 22, and once sender and receiver both got 21.
 * Node 20's never varied: they stay exact.
 */
const SLACK = Number(process.versions.node.split('.')[0]) >= 24 ? 1 : 0;

function assertNear(got: number[], want: number[], what: string): void {
  assert.ok(got.every((n, i) => Math.abs(n - want[i]) <= SLACK), `${what}: got ${got.join(', ')}, lab/lab1/README.md ${want.join(', ')}${SLACK ? ' (Node 24: one off allowed)' : ''}`);
}

describe('lab/lab1/README.md: exercises and what breaks', function () {
  this.timeout(60_000);

  it('lab 1 exercise 1: at the pause before step 3 both containers hold tmp.txt, under different numbers', async function () {
    if (!(await labImageOrSkip())) return this.skip();
    const seen: { sender: { fd: number; target: string }[]; receiver: { fd: number; target: string }[]; pos: string[] }[] = [];
    const run = await runPausedLab(['1', '--runtime', 'docker'], async (n, pause) => {
      if (n !== 2) return;
      const pids = pausePids(pause);
      assert.deepEqual([...pids.keys()].sort(), ['receiver', 'sender'], pause);
      const sender = await tmpTxtFds(pids.get('sender')!);
      const receiver = await tmpTxtFds(pids.get('receiver')!);
      const pos = await Promise.all(
        [[pids.get('sender')!, sender[0]?.fd], [pids.get('receiver')!, receiver[0]?.fd]].map(async ([pid, fd]) => /^pos:\s+(\d+)/m.exec((await sh(`cat /proc/${pid}/fdinfo/${fd}`)).output)?.[1] ?? 'none'),
      );
      seen.push({ sender, receiver, pos });
    });
    assert.equal(run.code, 0, run.text);
    assert.equal(seen.length, 1, `a second pause with both roles: ${run.text}`);
    const [{ sender, receiver, pos }] = seen;
    assert.equal(sender.length, 1, `the sender's tmp.txt fds: ${JSON.stringify(sender)}`);
    assert.equal(receiver.length, 1, `the receiver's tmp.txt fds: ${JSON.stringify(receiver)}`);
    if (!SLACK) assert.notEqual(sender[0].fd, receiver[0].fd, 'different numbers');
    assert.equal(sender[0].target, receiver[0].target, 'one file');
    assert.deepEqual(pos, ['0', '0'], 'nobody has read yet: offset 0 through both');
    assertNear([sender[0].fd, receiver[0].fd], documented({ 20: [17, 19], 24: [20, 22] }), 'the numbers lab/lab1/README.md shows');
  });

  it('lab 1 exercise 2: three more open files in the receiver move its number by 3, not the sender\'s', async () => {
    const plainRun = (await runLabForTest(1, 'process'))!;
    const edited = patchedLab(1, {
      'receiver.ts': [['  const { data, fds } = await channel.receive();', "  for (let i = 0; i < 3; i++) fs.openSync('/dev/null', 'r');\n  const { data, fds } = await channel.receive();"]],
    });
    const run = (await runLabForTest(edited, 'process'))!;
    assert.equal(run.ok, true, JSON.stringify(run.checks));
    const [senderBefore, receiverBefore] = fdNumbers(plainRun);
    const [senderAfter, receiverAfter] = fdNumbers(run);
    assert.ok(Math.abs(senderAfter - senderBefore) <= SLACK, `the sender's number stays: ${senderBefore} -> ${senderAfter}`);
    // At least 3 higher: the receiver's three files take the lowest free slots, and Node's own fds take slots too.
    assert.ok(receiverAfter >= receiverBefore + 3, `receiver fd ${receiverBefore} -> ${receiverAfter}`);
    const [sender, before, after] = documented({ 20: [17, 19, 23], 24: [20, 22, 26] });
    assertNear([senderBefore, receiverBefore, receiverAfter], [sender, before, after], 'the numbers lab/lab1/README.md gives');
  });

  it('lab 1 exercise 3: a pread leaves the shared offset alone, so the sender reads "hello world"', async () => {
    const edited = patchedLab(1, { 'receiver.ts': [[READ_LINE, 'const n = fs.readSync(fd, buffer, 0, 5, 0);']] });
    const run = (await runLabForTest(edited, 'process'))!;
    assert.match(run.check('receiver read the file through the passed fd').measured, /"hello"$/);
    const offset = run.check('shared offset: the sender reads on where the receiver stopped');
    assert.equal(offset.status, 'fail');
    assert.match(offset.measured, /^read through my fd \d+: "hello world"$/);
    const trace = fs.readFileSync(path.join(run.capturesDir, 'receiver.strace'), 'utf8');
    assert.match(trace, /pread64\(\d+<\/tmp\/sender-private-\w+\/tmp\.txt>, "hello", 5, 0\) = 5/);
    assert.doesNotMatch(trace, /\bread\(\d+<[^>]*tmp\.txt>/, 'no plain read of tmp.txt');
  });

  it('lab 1 what breaks: 0 data bytes is ERR_OUT_OF_RANGE; over TCP, ERR_CHANNEL_NOT_UNIX (the kernel would drop the fds)', async () => {
    const file = tempFile('hello world');
    const pair = socketpair();
    const tcp = await tcpConnection();
    try {
      assert.throws(() => sendFds(pair[0], [file.fd], Buffer.alloc(0)), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => sendFds(fdOf(tcp.client), [file.fd], 'boy'), (error: FdlabError) => error.code === 'ERR_CHANNEL_NOT_UNIX');
    } finally {
      close(pair[0]);
      close(pair[1]);
      close(file.fd);
      tcp.end();
    }
    // Without fdlab's check: Python's send_fds over TCP. The kernel takes the 3 bytes, and the fd is gone.
    const script = [
      'import socket',
      "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()",
      'c = socket.create_connection(srv.getsockname()); s, _ = srv.accept()',
      "sent = socket.send_fds(c, [b'boy'], [0])",
      'data, fds, _, _ = socket.recv_fds(s, 16, 4)',
      'print(sent, data.decode(), len(fds))',
    ].join('\n');
    const { stdout } = await promisify(execFile)('python3', ['-c', script]);
    assert.equal(stdout.trim(), '3 boy 0', 'sent 3 bytes, received "boy" and 0 fds');
  });
});
