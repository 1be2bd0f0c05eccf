// Lab 1's challenges: the learner's receiver runs beside lab 1's own sender,
// traced, and strace says what it really read through the passed fd.
import { compiledPath } from '../project';
import { firstOf } from './run';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';

/** Lab 1's own sender, as the lab runs it. */
const SENDER = compiledPath('lab/lab1/sender.ts');

interface FileRead {
  call: 'read' | 'pread64';
  data: string;
  line: string;
}

/** Every read/pread64 through an fd of tmp.txt in a capture. */
export function readsOfTmpTxt(capture: string): FileRead[] {
  const reads: FileRead[] = [];
  const pattern = /\b(read|pread64)\(\d+<[^>]*\/tmp\.txt>, "((?:[^"\\]|\\.)*)"[^)]*\) = \d+/g;
  for (let match = pattern.exec(capture); match; match = pattern.exec(capture)) {
    reads.push({ call: match[1] as FileRead['call'], data: match[2], line: match[0] });
  }
  return reads;
}

interface Lab1Run {
  reads: FileRead[];
  senderRead: string | undefined;
  problem?: string;
  measured: string[];
}

async function runReceiverAndSender(ctx: ChallengeContext): Promise<Lab1Run> {
  const receiver = await ctx.startRole('receiver', ctx.script, { traced: ['read', 'pread64', 'readv', 'preadv', 'preadv2'] });
  const ready = await firstOf([receiver.waitForLine('listening on', 15_000).then(() => true), receiver.wait().then(() => false)], 15_000);
  if (!ready) {
    return { reads: [], senderRead: undefined, measured: [], problem: `your receiver ${receiver.exitCode === null ? 'did not print "listening on ..." within 15 s' : `exited (code ${receiver.exitCode}) before it listened`}; it must listen on $FDLAB_SHARED/lab1.sock` };
  }
  const sender = await ctx.startRole('sender', SENDER);
  const exits = await firstOf([Promise.all([sender.wait(), receiver.wait()])], 15_000);
  const senderLine = sender.lines.find((l) => l.startsWith('read through my fd'));
  const senderRead = senderLine?.match(/: "(.*)" \(/)?.[1];
  const reads = readsOfTmpTxt(ctx.capture('receiver'));
  const measured = [
    `receiver: ${reads.length === 0 ? 'no read of tmp.txt' : reads.map((r) => `${r.call} "${r.data}"`).join(', ')}`,
    `sender then read: ${senderRead === undefined ? 'nothing (it did not get that far)' : `"${senderRead}"`}`,
  ];
  if (!exits) {
    const stuck = [receiver, sender].filter((r) => r.exitCode === null).map((r) => r.name).join(' and ');
    return { reads, senderRead, measured, problem: `the ${stuck} did not exit within 15 s: the receiver must send "your turn" after its read, then wait for the sender's "done"` };
  }
  if (receiver.exitCode !== 0 || sender.exitCode !== 0) {
    return { reads, senderRead, measured, problem: `exit codes: receiver ${receiver.exitCode}, sender ${sender.exitCode} (both must exit 0; the logs below say why)` };
  }
  return { reads, senderRead, measured };
}

const readWorld: Challenge = {
  lab: 1,
  id: 'read-world',
  title: 'make the receiver read "world"',
  goal:
    'The sender opens tmp.txt ("hello world") and sends you the fd. Change only your receiver so that it reads the\n' +
    'word "world" through the passed fd. The sender stays as it is.',
  file: 'receiver.ts',
  start: 'challenges/lab1/receiver.ts',
  solution: 'challenges/lab1/read-world/solution.ts',
  hints: [
    'The fd you received and the sender\'s fd point at one open file description. What you can read through it is the whole file, from its current offset.',
    'readSync(fd, buffer, offset, length, position): `length` says how many bytes one read may return. 5 is exactly "hello".',
    'Read 11 bytes (a bigger buffer too), or read twice. Or read 5 at position 6 (a pread) if you want to leave the sender\'s offset alone.',
  ],
  async check(ctx): Promise<CheckOutcome> {
    const run = await runReceiverAndSender(ctx);
    if (run.problem) return { passed: false, measured: run.measured, problem: run.problem };
    const got = run.reads.find((r) => r.data.includes('world'));
    if (!got) {
      const what = run.reads.length ? `strace saw your receiver read ${run.reads.map((r) => `"${r.data}"`).join(', ')} through the passed fd, never "world"` : 'strace saw no read of tmp.txt in your receiver';
      return { passed: false, measured: run.measured, problem: `${what}. Printing "world" does not count: the bytes must come through the fd.` };
    }
    return { passed: true, measured: [...run.measured, `strace: ${got.line}`] };
  },
};

const pread: Challenge = {
  lab: 1,
  id: 'pread',
  title: 'read "hello" without moving the sender\'s offset',
  goal:
    'Your receiver reads "hello" through the passed fd, and then the sender reads " world": your read moved the\n' +
    'offset the two processes share. Change only your receiver so that it still reads "hello" but the sender then\n' +
    'reads "hello world".',
  file: 'receiver.ts',
  start: 'challenges/lab1/receiver.ts',
  solution: 'challenges/lab1/pread/solution.ts',
  hints: [
    'The offset lives in the open file description, which both fds share. A plain read() starts at it and moves it.',
    'There is a read that takes its own position and leaves the file offset alone: pread(2).',
    'In Node, fs.readSync(fd, buffer, 0, 5, 0): the last argument is the position; null means "the current offset".',
  ],
  async check(ctx): Promise<CheckOutcome> {
    const run = await runReceiverAndSender(ctx);
    if (run.problem) return { passed: false, measured: run.measured, problem: run.problem };
    const hello = run.reads.find((r) => r.data === 'hello');
    if (!hello) return { passed: false, measured: run.measured, problem: 'your receiver must still read exactly "hello" through the passed fd (strace shows what it read)' };
    if (run.senderRead !== 'hello world') {
      return { passed: false, measured: run.measured, problem: `the sender read "${run.senderRead}" after you: your ${hello.call}() moved the offset it shares with you` };
    }
    return { passed: true, measured: [...run.measured, `strace: ${hello.line}`] };
  },
};

export const lab1Challenges: Challenge[] = [readWorld, pread];
