// Lab 1: one open file, two processes (seed 002, with seed 000's interface).
import { withFdSources } from '../../src/strace/fd-sources';
import type { LabDefinition } from '../../src/labs/types';
import { unseenIn, type FdSnapshot } from '../../src/labs/fd-snapshot';
import { HOLD_STILL } from '../../src/runtime/hold-still';
import { roleScripts } from '../../src/project';

/** Both roles hold one fd on tmp.txt, one inode; each fd's fdinfo pos before and after the receiver's read. */
function sharedFile(before: FdSnapshot, after: FdSnapshot): { ok: boolean; measured: string } {
  const fds = (s: FdSnapshot, role: string) => s.processes.find((p) => p.role === role)?.fds ?? [];
  const one = (s: FdSnapshot) => [fds(s, 'sender'), fds(s, 'receiver')].every((f) => f.length === 1) && Object.keys(s.objects).length === 1;
  if (!one(before) || !one(after)) return { ok: false, measured: `expected one tmp.txt fd in each role; before: ${JSON.stringify(before.processes)}` };
  const [s0, r0, s1, r1] = [fds(before, 'sender')[0], fds(before, 'receiver')[0], fds(after, 'sender')[0], fds(after, 'receiver')[0]];
  const inode = Object.values(before.objects)[0].inode;
  const ok = s0.object === r0.object && s1.object === r1.object && s0.pos === r0.pos && s1.pos === r1.pos && s1.pos! > s0.pos!;
  return { ok, measured: `sender fd ${s0.fd}, receiver fd ${r0.fd}, inode ${inode}; pos ${s0.pos}/${r0.pos} before, ${s1.pos}/${r1.pos} after` };
}

/** The role scripts beside this file (compiled: dist/lab/lab1/<name>.js). */
const roleScript = roleScripts(__dirname, ['receiver', 'sender']);

export const lab1: LabDefinition = {
  number: 1,
  title: 'one open file, two processes',
  source: 'seed 002 (Go: syscall.UnixRights, "boy" and tmp.txt = "hello world")',
  traceSyscalls: withFdSources(['sendmsg', 'recvmsg', 'openat', 'read', 'pread64', 'bind', 'listen', 'connect']),
  scmRightsRoles: ['sender', 'receiver'],
  timeline: {
    keyCalls: [
      { what: 'the sender opens tmp.txt: the fd it will send', role: 'sender', syscall: 'openat', summary: /tmp\.txt → fd \d+$/ },
      { what: 'the receiver reads 5 bytes through the fd it was given', role: 'receiver', syscall: 'read', summary: /tmp\.txt: 5 bytes$/ },
      { what: 'the sender reads on where the receiver stopped: the shared offset', role: 'sender', syscall: 'read', summary: /tmp\.txt: 6 bytes$/ },
    ],
  },

  async run(lab) {
    const inContainers = lab.runtime.kind === 'docker';
    await lab.step(
      'Start the receiver',
      `It listens on a Unix socket in the shared ${inContainers ? 'volume /run/fdlab' : 'directory'} and waits for a message carrying an fd.`,
    );
    const receiver = await lab.startRole({ name: 'receiver', script: roleScript('receiver'), env: HOLD_STILL, traced: true });
    await receiver.waitForLine('listening on');

    await lab.step(
      'Start the sender: open tmp.txt, send the fd with "boy"',
      'sendmsg() carries the fd as SCM_RIGHTS control data beside the 3 data bytes. The kernel installs a new fd\n' +
        'in the receiver that points at the same open file description: same file, same offset, same flags.',
      [receiver.manualShellCommand(), 'ls -l /proc/<pid>/fd   (in each role: the numbers differ, the target is the same)'],
    );
    const sender = await lab.startRole({ name: 'sender', script: roleScript('sender'), traced: true });

    const sent = await sender.waitForLine(/^sent fd \d+ inode \d+/);
    const received = await receiver.waitForLine(/^received fd \d+ inode \d+/);
    const [, senderFd, senderInode] = sent.match(/^sent fd (\d+) inode (\d+)/)!;
    const [, receiverFd, receiverInode] = received.match(/^received fd (\d+) inode (\d+)/)!;

    await lab.step(
      'The receiver reads 5 bytes, then the sender reads on',
      'Both fds refer to one open file description, so they share its offset: what one reads, the other does not.\n' +
        'Until now both processes hold the file open (with --pause you can look); the receiver reads at the lab\'s SIGUSR2.',
    );
    // The receiver holds still before and after its read: the tables are read from the live processes.
    const tmpFile = { files: /\/tmp\.txt$/ };
    await receiver.waitForLine('holding: fd received');
    const before = await lab.fdTables('before', 'before the receiver reads', [sender, receiver], tmpFile);
    await receiver.signal('SIGUSR2');
    const readLine = await receiver.waitForLine(/^read \d+ bytes through fd/);
    await receiver.waitForLine('holding: 5 bytes read');
    const after = await lab.fdTables('after', 'after the receiver read 5 bytes', [sender, receiver], tmpFile);
    await receiver.signal('SIGUSR2');
    const senderRead = await sender.waitForLine(/^read through my fd/);
    const [sExit, rExit] = await Promise.all([sender.wait(15_000), receiver.wait(15_000)]);

    lab.check('receiver read the file through the passed fd', /"hello"/.test(readLine), readLine.replace(/ \(.*/, ''));
    lab.check(
      'fd numbers are per process, the file is one',
      senderInode === receiverInode,
      `sender fd ${senderFd}, receiver fd ${receiverFd}${senderFd === receiverFd ? ' (equal by chance)' : ''}; inode ${senderInode} in both`,
    );
    lab.check('shared offset: the sender reads on where the receiver stopped', /: " world"/.test(senderRead), senderRead.replace(/ \(.*/, ''));
    const picture = sharedFile(before, after);
    const unseen = unseenIn(before, after);
    if (unseen) lab.skip('fd tables from /proc: two fds, one open file, the offset moved for both', unseen);
    else lab.check('fd tables from /proc: two fds, one open file, the offset moved for both', picture.ok, picture.measured);
    lab.check('both roles exited cleanly', sExit.exitCode === 0 && rExit.exitCode === 0, `sender ${sExit.exitCode}, receiver ${rExit.exitCode}`);
  },
};
