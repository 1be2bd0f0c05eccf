// Lab 2: move a live TCP connection to another process (seed 000).
import { withFdSources } from '../../src/strace/fd-sources';
import type { LabDefinition } from '../../src/labs/types';
import { formatPair } from '../../src/strace';
import { unseenIn, type FdSnapshot } from '../../src/labs/fd-snapshot';
import { HOLD_STILL } from '../../src/runtime/hold-still';
import { describeObject } from '../../src/labs/fd-picture-text';
import { roleScripts } from '../../src/project';

/** The role scripts beside this file (compiled: dist/lab/lab2/<name>.js). */
const roleScript = roleScripts(__dirname, ['tcp-server', 'unix-socket-client', 'unix-socket-server']);
const PORT = 9999;

/** "127.0.0.1:35634 wrote:" -> "127.0.0.1:35634" */
const peerOf = (line: string) => line.replace(/ wrote:$/, '');

/** Before: one TCP socket in the client, none in the receiver; after: the same inode in the receiver, the client gone. */
function movedSocket(before: FdSnapshot, after: FdSnapshot): { ok: boolean; measured: string } {
  const fds = (s: FdSnapshot, role: string) => s.processes.find((p) => p.role === role)?.fds ?? [];
  const [clientFd] = fds(before, 'unix-socket-client');
  const [receiverFd] = fds(after, 'unix-socket-server');
  const ok = fds(before, 'unix-socket-client').length === 1 && fds(before, 'unix-socket-server').length === 0 &&
    fds(after, 'unix-socket-server').length === 1 && after.processes.find((p) => p.role === 'unix-socket-client')?.pid === null &&
    clientFd.object === receiverFd.object;
  if (!clientFd || !receiverFd) return { ok: false, measured: `no TCP fd: client before ${JSON.stringify(fds(before, 'unix-socket-client'))}, receiver after ${JSON.stringify(fds(after, 'unix-socket-server'))}` };
  return { ok, measured: `client fd ${clientFd.fd} before, receiver fd ${receiverFd.fd} after: ${describeObject(after.objects[receiverFd.object])}` };
}

export const lab2: LabDefinition = {
  number: 2,
  title: 'move a live TCP connection to another process',
  source: 'seed 000 (C: send_fd/recv_fd, APUE 17.4, channel_to_migrate_socket)',
  traceSyscalls: withFdSources(['sendmsg', 'recvmsg', 'connect', 'write', 'bind', 'listen']),
  scmRightsRoles: ['unix-socket-client', 'unix-socket-server'],
  timeline: {
    keyCalls: [
      { what: 'the client connects to the TCP server', role: 'unix-socket-client', syscall: 'connect', summary: /TCP → 127\.0\.0\.1:\d+/ },
      { what: 'detachSocket dups the TCP socket: the fd the client hands over', role: 'unix-socket-client', syscall: 'fcntl', summary: /^dup fd \d+ TCP/ },
      { what: 'the receiver writes on the connection it was handed', role: 'unix-socket-server', syscall: 'write', summary: /TCP.*: 22 bytes$/ },
    ],
  },
  settings: {
    count: { description: 'messages unix-socket-server writes, one a second (seed 000 writes until stopped)', default: 5, min: 1, max: 20 },
  },

  async run(lab) {
    const count = lab.setting('count');
    const docker = lab.runtime.kind === 'docker';

    await lab.step('Start the TCP server on 127.0.0.1:9999', 'It prints every message with the peer address and port it came from (seed 000\'s tcp_server.py).');
    const server = await lab.startRole({ name: 'tcp-server', script: roleScript('tcp-server'), args: [String(PORT)] });
    await server.waitForLine('listening on');

    await lab.step(
      'Start unix-socket-server, the process that will own the connection',
      lab.runtime.ownNetwork
        ? 'It runs with no network of its own (--network none, or its own namespace as a process):\n' +
            'no interface but lo, no route to the TCP server. It can only talk TCP through a socket\n' +
            'somebody hands it.'
        : 'In the process runtime on the host network it shares this machine\'s; with Docker\n' +
            '(or FDLAB_PROCESS_NETWORK=private) it would have none.',
    );
    const receiver = await lab.startRole({
      name: 'unix-socket-server',
      script: roleScript('unix-socket-server'),
      args: [String(count)],
      network: 'none',
      env: HOLD_STILL,
      traced: true,
    });
    const interfaces = await receiver.waitForLine('network interfaces here:');

    await lab.step(
      'Start unix-socket-client: connect, say hello, hand the socket over, exit',
      'The client sends its fd over the channel; the kernel gives the server a new fd for the same\n' +
        'socket, with the same TCP state: sequence numbers, buffers, the peer. "A new coat" for the\n' +
        'connection, not a new body.',
      [receiver.manualShellCommand(), docker
        ? "nsenter -t <tcp-server's host pid> -n ss -tnpe   (the pod's namespace; --pause prints the pid)"
        : 'ss -tnpe | grep 9999'],
    );
    const client = await lab.startRole({ name: 'unix-socket-client', script: roleScript('unix-socket-client'), args: [String(PORT)], env: HOLD_STILL, traced: true });
    // Both ends hold still at the key moments, so the tables are read from the live processes.
    const tcp = { sockets: ['tcp'] as const };
    await client.waitForLine('holding: fd');
    const tablesBefore = await lab.fdTables('before', 'before the hand-over', [client, receiver], tcp);
    await client.signal('SIGUSR2');
    const clientExit = await client.wait(20_000);
    const linesWhenClientExited = server.lines.length;
    await receiver.waitForLine('holding: the socket is fd');
    const tablesAfter = await lab.fdTables('after', 'after the hand-over (the client has exited)', [client, receiver], tcp);

    await lab.step(`unix-socket-server writes "Migrate to new Process" ${count} times, once a second`, 'The TCP server sees them arrive on the connection the client opened: same peer port,\nno reconnect.');
    // After the step (and its --pause): the writes are this step's output, not the last one's.
    await receiver.signal('SIGUSR2');
    const progress = lab.progress('messages on the migrated connection', count);
    let writeFailure: string | undefined;
    for (let i = 1, from = 0; i <= count && !writeFailure; i++) {
      const line = await receiver.waitForLine(/^test_tcp_sock: write (22 bytes OK\.|failed: .*)$/, 5000, from);
      from = receiver.lines.indexOf(line, from) + 1;
      writeFailure = line.match(/^test_tcp_sock: write failed: (.*)$/)?.[1];
      progress.tick(i);
    }
    const receiverExit = await receiver.wait(10_000);
    await server.waitForLine(/closed the connection$/, 5000);
    const written = receiver.lines.filter((l) => l.endsWith('bytes OK.')).length;
    progress.done(`${written} of ${count} written${writeFailure ? `; then a write failed: ${writeFailure}` : ''}`);

    const wrote = server.lines.map((line, i) => ({ line, i })).filter(({ line }) => line.endsWith(' wrote:'));
    const messages = wrote.map(({ i }) => server.lines[i + 1] ?? '');
    const peers = new Set(wrote.map(({ line }) => peerOf(line)));
    const migrated = messages.filter((m) => m.includes('Migrate to new Process')).length;
    const closedAt = server.lines.findIndex((l) => l.endsWith('closed the connection'));
    lab.check(
      'the server saw every message on one connection',
      messages[0] === 'Test message from tcp client to python server!!!' && migrated === count && peers.size === 1,
      `${wrote.length} messages from ${[...peers].join(', ')} (1 test message + ${migrated} migrated)` +
        (migrated < count ? `; the peer closed the connection after message ${wrote.filter(({ i }) => i < closedAt).length}` : ''),
    );
    const after = wrote.filter(({ i }) => i >= linesWhenClientExited).length;
    lab.check('the client had exited before the later messages', clientExit.exitCode === 0 && after >= count, `client exit ${clientExit.exitCode}; ${after} messages arrived after it exited`);
    if (lab.runtime.ownNetwork) lab.check('the receiver has no network interface but lo', interfaces.endsWith(': lo'), interfaces);
    else lab.skip('the receiver has no network interface but lo', 'process runtime on the host network: no namespace of its own (run with Docker, or FDLAB_PROCESS_NETWORK=private)');
    const moved = movedSocket(tablesBefore, tablesAfter);
    const unseen = unseenIn(tablesBefore, tablesAfter);
    if (unseen) lab.skip('fd tables from /proc: the client\'s TCP socket is now the receiver\'s (same inode)', unseen);
    else lab.check('fd tables from /proc: the client\'s TCP socket is now the receiver\'s (same inode)', moved.ok, moved.measured);
    lab.check(
      'unix-socket-server finished writing',
      receiverExit.exitCode === 0 && written === count,
      `exit ${receiverExit.exitCode}; wrote ${written} of ${count}${writeFailure ? `, then a write failed: ${writeFailure}` : ''}`,
    );
  },

  checkCaptures(pairs, lab, roles) {
    // The client knows its socket's inode (fstat); strace in the receiver's
    // empty network namespace can only show that inode, not the endpoints.
    const handedOver = roles.get('unix-socket-client')?.lines.find((l) => l.startsWith('handed over')) ?? '';
    const clientInode = Number(handedOver.match(/inode (\d+)$/)?.[1]);
    const pair = pairs.find((p) => p.sent?.role === 'unix-socket-client' && p.received?.role === 'unix-socket-server');
    const sent = pair?.sent?.fd;
    const received = pair?.received?.fd;
    const same =
      sent?.kind === 'tcp' && received?.kind === 'tcp' &&
      (received.inode !== undefined ? received.inode === clientInode : received.remote === sent.remote && received.local === sent.local);
    lab.check(
      'strace shows the socket leaving the client and arriving in the receiver',
      same,
      pair ? `${formatPair(pair, lab.rolePids())}; the client's fstat inode: ${clientInode}` : 'no SCM_RIGHTS pair from unix-socket-client to unix-socket-server',
    );
  },
};
