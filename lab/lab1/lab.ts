// Lab 1: one open file, two processes (seed 002, with seed 000's interface).
import type { LabDefinition } from '../../src/labs/types';

const ROLES = 'dist/lab/lab1';

export const lab1: LabDefinition = {
  number: 1,
  title: 'one open file, two processes',
  source: 'seed 002 (Go: syscall.UnixRights, "boy" and tmp.txt = "hello world")',
  traceSyscalls: ['sendmsg', 'recvmsg', 'openat', 'read', 'pread64', 'bind', 'listen', 'accept4', 'connect', 'close'],
  scmRightsRoles: ['sender', 'receiver'],

  async run(lab) {
    const inContainers = lab.runtime.kind === 'docker';
    await lab.step(
      'Start the receiver',
      `It listens on a Unix socket in the shared ${inContainers ? 'volume /run/fdlab' : 'directory'} and waits for a message carrying an fd.`,
    );
    const receiver = await lab.startRole({ name: 'receiver', script: `${ROLES}/receiver.js`, traced: true });
    await receiver.waitForLine('listening on');

    await lab.step(
      'Start the sender: open tmp.txt, send the fd with "boy"',
      'sendmsg() carries the fd as SCM_RIGHTS control data beside the 3 data bytes. The kernel installs a new fd\n' +
        'in the receiver that points at the same open file description: same file, same offset, same flags.',
      [receiver.manualShellCommand(), 'ls -l /proc/<pid>/fd   (in each role: the numbers differ, the target is the same)'],
    );
    const sender = await lab.startRole({ name: 'sender', script: `${ROLES}/sender.js`, traced: true });

    const sent = await sender.waitForLine(/^sent fd \d+ inode \d+/);
    const received = await receiver.waitForLine(/^received fd \d+ inode \d+/);
    const [, senderFd, senderInode] = sent.match(/^sent fd (\d+) inode (\d+)/)!;
    const [, receiverFd, receiverInode] = received.match(/^received fd (\d+) inode (\d+)/)!;

    await lab.step(
      'The receiver reads 5 bytes, then the sender reads on',
      'Both fds refer to one open file description, so they share its offset: what one reads, the other does not.\n' +
        'Until now both processes hold the file open (with --pause you can look); SIGUSR2 tells the receiver to read.',
      [receiver.manualSignalCommand('SIGUSR2')],
    );
    await receiver.signal('SIGUSR2');
    const readLine = await receiver.waitForLine(/^read \d+ bytes through fd/);
    const senderRead = await sender.waitForLine(/^read through my fd/);
    const [sExit, rExit] = await Promise.all([sender.wait(15_000), receiver.wait(15_000)]);

    lab.check('receiver read the file through the passed fd', /"hello"/.test(readLine), readLine.replace(/ \(.*/, ''));
    lab.check(
      'fd numbers are per process, the file is one',
      senderInode === receiverInode,
      `sender fd ${senderFd}, receiver fd ${receiverFd}${senderFd === receiverFd ? ' (equal by chance)' : ''}; inode ${senderInode} in both`,
    );
    lab.check('shared offset: the sender reads on where the receiver stopped', /: " world"/.test(senderRead), senderRead.replace(/ \(.*/, ''));
    lab.check('both roles exited cleanly', sExit.exitCode === 0 && rExit.exitCode === 0, `sender ${sExit.exitCode}, receiver ${rExit.exitCode}`);
  },
};
